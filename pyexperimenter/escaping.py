"""One escaping rule for every stored value that is shown: HTML, JSON inside HTML, plotly
text, the terminal and CSV.

Values come from anyone who can write a row (an experiment's results and tracebacks, host
names, a user's UPDATE), so each output escapes them here and nowhere else, by one rule per
output, and never by cutting them:

- HTML: `&`, `<`, `>`, `"` and `'` as entities.
- JSON inside a `<script>` element: `<`, `>` and `&` as `\\u003c`, `\\u003e`, `\\u0026`, and
  U+2028/U+2029 escaped, so no `</script>`, `<!--` or `<script` can change how the HTML
  parser reads the element; the JSON still parses to the same values.
- plotly text (tick labels, legend and trace names, hover text): HTML-escaped, since plotly
  reads a subset of HTML there (`<a href>` would become a live link) and shows entities as
  the characters they stand for.
- the terminal: control characters (ESC, BEL, C1 controls, DEL) and the bidirectional
  overrides that make text read other than it is stored are shown as `\\x1b`, `\\u202e`;
  newline and tab stay unless `one_line`. Rich markup in a value is never interpreted: the
  terminal views hand values to Rich as `Text`, and `rich_text` is how.
- CSV (`results --csv-formulas`): a text cell starting with `=`, `+`, `-`, `@`, tab or
  carriage return gets a leading `'`, as spreadsheet tools expect, so it is not run as a
  formula. Off by default, since it changes the stored text.

Imports nothing of the package, so results/ and views/ both lean on it.
"""

from __future__ import annotations

import html as _html
import json
import re
from typing import Any

_SCRIPT_JSON = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                0x2028: "\\u2028", 0x2029: "\\u2029"}
# C0 controls but tab and newline, DEL, C1 controls, and the bidi embeddings, overrides
# and isolates (U+202A-U+202E, U+2066-U+2069) that reorder what follows them on screen.
_TERMINAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_TERMINAL_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def html(value: Any) -> str:
    """Text for HTML content or a quoted attribute."""
    return _html.escape("" if value is None else str(value), quote=True)


def script_json(value: Any) -> str:
    """JSON safe to place inside `<script>`: no character the HTML parser reacts to."""
    return json.dumps(value, default=str, allow_nan=False).translate(_SCRIPT_JSON)


def plotly_text(value: Any) -> str:
    """Text plotly draws as it is (its labels read HTML tags and entities)."""
    return _html.escape(str(value), quote=False)


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return {9: "\\t", 10: "\\n", 13: "\\r"}.get(code, f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def terminal(value: Any, one_line: bool = False) -> str:
    """Text safe to print on a terminal: no control or reordering character acts."""
    text = "" if value is None else str(value)
    return (_TERMINAL_LINE if one_line else _TERMINAL).sub(_shown, text)


def rich_text(value: Any, style: str = "", one_line: bool = False) -> Any:
    """A Rich `Text` of `value`: printed as it is, never read as Rich markup."""
    from rich.text import Text

    return Text(terminal(value, one_line), style=style)


def csv_cell(value: Any) -> Any:
    """A CSV cell that spreadsheet tools do not run as a formula (text only)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
