"""`experiment.priority`: an integer, or a small expression over the parameters.

The expression comes from a config file that may be shared or generated, and it is
evaluated once per row of a fill, so it must never run arbitrary code: it is parsed with
`ast` and only a whitelist of node kinds is accepted (constants, parameter names,
arithmetic, comparisons, `and`/`or`/`not`, `x if c else y`, tuples and lists for `in`).
Evaluation walks that tree itself; nothing is handed to eval().

    priority: -seed
    priority: 10 if dataset == 'iris' else 0
    priority: 5 * (model in ('svm', 'forest')) - seed
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

MAX_VALUE_CHARS = 10_000  # a text or number an expression builds: a priority needs nothing near


def _numbers(symbol: str, op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Numbers only: `'x' * 10**9` or `'%999999999d' % 1` would be a gigabyte of one config line."""

    def numeric(a: Any, b: Any) -> Any:
        if not all(isinstance(v, (int, float)) for v in (a, b)):
            raise TypeError(f"{symbol} takes numbers, got {preview(a)} and {preview(b)}")
        return op(a, b)

    return numeric


def _bounded(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """`op`, refusing a result too large to be a priority's part (text added to itself, or
    numbers multiplied into thousands of digits), before the next step makes it larger."""

    def checked(a: Any, b: Any) -> Any:
        value = op(a, b)
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS or (
                isinstance(value, int) and value.bit_length() > 4 * MAX_VALUE_CHARS):
            raise TypeError(f"the result grows past {MAX_VALUE_CHARS:,} characters")
        return value

    return checked


def preview(value: Any, limit: int = 60) -> str:
    """A value as an error message quotes it: never a 100,000-character line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: _bounded(operator.add),
    ast.Sub: _bounded(operator.sub),
    ast.Mult: _bounded(_numbers("*", operator.mul)),
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: _numbers("%", operator.mod),
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,  # `x is None`
    ast.IsNot: operator.is_not,
}
_ALLOWED = (ast.Expression, ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.And,
            ast.Or, ast.Compare, ast.IfExp, ast.Tuple, ast.List, *_BINARY, *_UNARY, *_COMPARE)
MAX_LENGTH = 500


class PriorityError(ValueError):
    """What is wrong with an expression or its value for one row; the caller adds where."""


@dataclass(frozen=True)
class PriorityExpression:
    """A checked expression; `of(row)` is the row's priority (an int)."""

    text: str
    tree: ast.Expression

    def of(self, row: Mapping[str, Any]) -> int:
        try:
            value = _eval(self.tree.body, row)
        except PriorityError:
            raise
        except Exception as e:  # noqa: BLE001 - e.g. None - 1, 'a' < 1, 1 / 0: the user's expression
            raise PriorityError(f"{self.text!r} fails for {preview(dict(row))}: {e}") from None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, (int, float)) and value == value and abs(value) < 2**31:
            return int(value)
        raise PriorityError(f"{self.text!r} gives {preview(value)} for {preview(dict(row))}; expected an integer")


Priority = int | PriorityExpression


def parse_priority(text: str, names: Collection[str]) -> PriorityExpression:
    """Parse and check `text` against the parameter names; PriorityError says why not."""
    if len(text) > MAX_LENGTH:
        raise PriorityError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise PriorityError(f"not an expression ({e.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise PriorityError(f"{type(node).__name__} is not allowed; use parameters, numbers, strings, "
                                "arithmetic, comparisons, and/or/not and `x if c else y`")
        if isinstance(node, ast.Name) and node.id not in names:
            raise PriorityError(f"unknown name {node.id!r}; expected a parameter ({', '.join(sorted(names))})")
    return PriorityExpression(text, tree)


def row_priority(priority: Priority) -> Callable[[Mapping[str, Any]], int] | int:
    """What a fill needs: the constant, or the function of a row."""
    return priority.of if isinstance(priority, PriorityExpression) else priority


def _eval(node: ast.expr, row: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return row.get(node.id)
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_eval(node.left, row), _eval(node.right, row))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, row))
    if isinstance(node, ast.BoolOp):
        return _bool_op(node, row)
    if isinstance(node, ast.Compare):
        return _compare(node, row)
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, row) else node.orelse, row)
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_eval(e, row) for e in node.elts)
    raise PriorityError(f"{type(node).__name__} is not allowed")  # parse_priority lets none through


def _bool_op(node: ast.BoolOp, row: Mapping[str, Any]) -> Any:
    want = isinstance(node.op, ast.Or)  # `or` stops at the first true value, `and` at a false one
    value: Any = None
    for part in node.values:
        value = _eval(part, row)
        if bool(value) is want:
            return value
    return value


def _compare(node: ast.Compare, row: Mapping[str, Any]) -> bool:
    left = _eval(node.left, row)
    for op, right_node in zip(node.ops, node.comparators):
        right = _eval(right_node, row)
        if not _COMPARE[type(op)](left, right):
            return False
        left = right
    return True
