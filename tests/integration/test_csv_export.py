"""`pyexp results --format csv` on SQLite, byte for byte: the file is what csv.writer writes of
the rows a plain SELECT returns by writers.py's rules (header as needed, then text quoted,
numbers bare, booleans as bool() reads them), whatever SQLite's dynamic typing left in the columns, written by one process or by two (results/halves.py). SQLite only:
the expected text is computed from its own rows, and only SQLite exports in two halves."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import config_maker

from pyexperimenter import Experimenter
from pyexperimenter.errors import PyexpError
from pyexperimenter.results import streaming, writers
from pyexperimenter.results.streaming import export

TEXTS = ["", " lead", "trail ", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "crlf\r\n", "café ü 漢字 🙂", ",",
         '"', "plain", "0.1", "tab\there", "\xff\u00ff", "semi;colon"]
FLOATS = [0.1 + 0.2, 1e-7, 1e22, -0.0, 0.0, float("inf"), float("-inf"), 1.0, 123456789.125, 5e-324, 1e16, 1e15,
          2.5, -1.5e-300, 0.30000000000000004, 1 / 3]
INTS = [0, -1, 2**63 - 1, -(2**63), 10**15, 7]


def cell(values: list[Any], i: int) -> Any:
    return values[i % len(values)]


@pytest.fixture
def tricky(tmp_path: Path) -> Experimenter:
    path = config_maker(tmp_path, f"sqlite:///{tmp_path / 'csv.db'}")(
        parameters={"seed": {"start": 0, "stop": 40}},
        results={"f": "DOUBLE", "d": "DECIMAL(10,4)", "i": "BIGINT", "t": "TEXT", "v": "VARCHAR(32)", "b": "BOOLEAN",
                 "day": "DATE", "at": "DATETIME", "j": "JSON", "r": "REAL"},
    )
    exp = Experimenter(path)
    exp.fill_table_from_config()
    db = sqlite3.connect(tmp_path / "csv.db")
    table = exp.store.schema.name
    for i in range(40):
        row = {
            "f": None if i % 7 == 3 else cell(FLOATS, i),
            "d": [None, "1.2500", 3, 0.1 + 0.2, "12345678.9999"][i % 5],  # DECIMAL: NUMERIC affinity
            "i": [cell(INTS, i), 1.5, None, "text in an integer column"][i % 4],  # dynamic typing
            "t": None if i % 9 == 8 else cell(TEXTS, i),
            "v": cell(TEXTS, i + 3),
            "b": [None, 0, 1, 2, 0.0, "", "yes"][i % 7],
            "day": ["2024-02-29", None][i % 2],
            "at": ["2024-02-29 12:34:56.789", None, 1700000000.5][i % 3],
            "j": ['{"a": [1, 2.5, "x,y"]}', "5", "null", None][i % 4],
            "r": ["not a number", 0.1, None, 1e300, "1e5"][i % 5],  # REAL affinity holding text
        }
        db.execute(f'UPDATE "{table}" SET {", ".join(f"{k} = ?" for k in row)} WHERE ID = ?', [*row.values(), i + 1])
    db.commit()
    db.close()
    return exp


@pytest.fixture(params=["one process", "two halves"])
def halves(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    if request.param == "two halves":
        monkeypatch.setattr(streaming, "HALVES_ROWS", 2)
        monkeypatch.setattr(streaming, "_can_fork", lambda: True)
    return bool(request.param == "two halves")


def expected_csv(db: Path, table: str, names: list[str], bools: set[str], where: str = "") -> str:
    """What csv.writer writes of a plain SELECT of the same rows, booleans as bool() reads them."""
    conn = sqlite3.connect(db)
    rows = conn.execute(f'SELECT {", ".join(chr(34) + n + chr(34) for n in names)} FROM "{table}"{where} ORDER BY ID')
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(names)
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    for row in rows:
        writer.writerow([v if n not in bools or v is None else bool(v) for n, v in zip(names, row)])
    conn.close()
    return out.getvalue()


@pytest.mark.parametrize("columns", [(), ("t",), ("f", "r"), ("b", "t", "i"), ("j", "day", "at", "d")])
def test_csv_is_what_csv_writer_writes(tricky: Experimenter, tmp_path: Path, columns: tuple[str, ...],
                                       halves: bool) -> None:
    path = tmp_path / "all.csv"
    assert export(tricky.store, "csv", str(path), columns=columns, progress=False) == 40
    written = path.read_bytes()
    names = written.decode().split("\n", 1)[0].split(",")
    assert not columns or names == list(columns)
    expected = expected_csv(tmp_path / "csv.db", tricky.store.schema.name, names, {"b"})
    assert written == expected.encode()
    assert b"0.30000000000000004" in written or "f" not in names  # a float SQLite would print as 0.3
    read = list(csv.reader(io.StringIO(written.decode(), newline="")))  # bare \r, \n and quotes survive
    assert len(read) == 41 and ("t" not in names or {"cr\rhere", "crlf\r\n", 'say "hi"'} <= {r[names.index("t")] for r in read})


@pytest.mark.parametrize("where", [["seed>=7"], ["seed<3"], ["seed>100"]])
def test_filtered_csv_in_halves(tricky: Experimenter, tmp_path: Path, halves: bool, where: list[str]) -> None:
    """The rows cut at the middle of the selection, not of the table; none written twice; no
    temporary file left beside the output."""
    path = tmp_path / "out" / "some.csv"
    path.parent.mkdir()
    n = export(tricky.store, "csv", str(path), where=where, progress=False)
    names = path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
    condition = " WHERE seed " + where[0].removeprefix("seed")
    expected = expected_csv(tmp_path / "csv.db", tricky.store.schema.name, names, {"b"}, condition)
    assert path.read_bytes() == expected.encode()
    conn = sqlite3.connect(tmp_path / "csv.db")
    assert n == conn.execute(f'SELECT COUNT(*) FROM "{tricky.store.schema.name}"{condition}').fetchone()[0]
    conn.close()
    assert [p.name for p in path.parent.iterdir()] == ["some.csv"]


def test_a_failed_half_fails_the_export(tricky: Experimenter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's failure is the export's: an error, and no temporary file left behind."""
    monkeypatch.setattr(streaming, "HALVES_ROWS", 2)
    monkeypatch.setattr(streaming, "_can_fork", lambda: True)
    write = writers.write_csv

    def failing(*args: Any, header: bool = True) -> None:
        if not header:  # the second half, in the child
            raise OSError("disk full")
        write(*args, header=header)

    monkeypatch.setattr(writers, "write_csv", failing)
    path = tmp_path / "out" / "all.csv"
    path.parent.mkdir()
    with pytest.raises(PyexpError, match="second half"):  # exit code 1, not an input error
        export(tricky.store, "csv", str(path), progress=False)
    assert [p.name for p in path.parent.iterdir()] == ["all.csv"]
