"""Values that do not fit their column (issue 23, cases 1, 2 and 7), on SQLite, MariaDB and
PostgreSQL alike: a result the column cannot hold fails that attempt with the column named and the
worker goes on; a parameter value is stored exactly or refused at fill (exit 2), never cut;
a table name whose derived tables would be too long is refused before anything is made."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from support.configs import ConfigMaker
from support.services import postgres_connect

from pyexperimenter import Experimenter, errors
from pyexperimenter.cli import main
from pyexperimenter.errors import ConfigError

RESULTS = {"r": "VARCHAR(5)", "f": "DOUBLE", "n": "INT"}


def misfits(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    """x=0 too long a text, x=1 text for a DOUBLE, x=2 out of INT's range, x=3 through
    process_results, the rest fit."""
    x = parameters["x"]
    if x == 0:
        return {"r": "ABCDEFGHIJ"}
    if x == 1:
        return {"f": "not-a-number"}
    if x == 2:
        return {"n": 2**40}
    if x == 3:
        result_processor.process_results({"r": "toolong"})
    return {"r": "ok", "f": 1.5, "n": x}


def test_a_refused_result_fails_its_attempt_and_the_worker_goes_on(make_config: ConfigMaker) -> None:
    exp = Experimenter(make_config(parameters={"x": {"start": 0, "stop": 6}}, results=RESULTS,
                                   experiment={"max_attempts": 1}))
    assert exp.fill_table_from_config() == 6
    assert exp.execute(misfits) == [0]
    table = Experimenter(exp.config.path).get_table().set_index("x")
    assert list(table["status"]) == ["error"] * 4 + ["done"] * 2  # none left running, all ran
    errors = list(table["error"][:4])
    assert "'r'" in errors[0] and "VARCHAR(5)" in errors[0] and "'ABCDEFGHIJ'" in errors[0]
    assert "'f'" in errors[1] and "takes a number" in errors[1] and "not-a-number" in errors[1]
    assert "'n'" in errors[2] and "INT takes" in errors[2]
    assert "'r'" in errors[3] and "'toolong'" in errors[3]
    assert table["r"].isna()[:4].all() and list(table["r"][4:]) == ["ok", "ok"]


def test_a_refusal_only_the_database_makes_fails_just_that_row(make_config: ConfigMaker,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal the up-front check does not foresee (here: the check switched off) still
    becomes that attempt's failure; the rest of a batch is written."""
    from pyexperimenter.sqltypes import SqlType

    monkeypatch.setattr(SqlType, "check", lambda self, value: None)
    exp = Experimenter(make_config(parameters={"x": {"start": 0, "stop": 6}}, results=RESULTS,
                                   experiment={"max_attempts": 1}))
    exp.fill_table_from_config()
    if exp.store.session.dialect.name == "sqlite":
        pytest.skip("SQLite refuses nothing itself: the up-front check is its only guard")
    assert exp.execute(lambda p, rp, c: {"r": "ABCDEFGHIJ" if p["x"] == 4 else "ok"}, n_jobs=1) == [0]
    table = Experimenter(exp.config.path).get_table().set_index("x")
    assert list(table["status"]) == ["done"] * 4 + ["error", "done"]
    assert "refused" in table["error"][4]
    if exp.config.database.kind == "mysql":  # PostgreSQL's message for a string too long names no column
        assert "'r'" in table["error"][4]


def test_a_nul_character_is_stored_where_the_database_can_and_refused_where_it_cannot(
        make_config: ConfigMaker) -> None:
    """PostgreSQL cannot store NUL in text: that result fails its attempt with the refusal,
    the worker goes on; SQLite and MariaDB store it exactly. As a parameter value on
    PostgreSQL it is refused at fill (exit 2), the table left as it was."""
    exp = Experimenter(make_config(parameters={"x": {"start": 0, "stop": 3}}, results={"t": "TEXT"},
                                   experiment={"max_attempts": 1}))
    exp.fill_table_from_config()
    assert exp.execute(lambda p, rp, c: {"t": "a\x00b" if p["x"] == 1 else "plain"}) == [0]
    table = Experimenter(exp.config.path).get_table().set_index("x")
    if exp.config.database.kind == "postgres":
        assert list(table["status"]) == ["done", "error", "done"]
        assert "refused" in table["error"][1] and "NUL" in table["error"][1]
        path = make_config(parameters={"p": ["a\x00b"]}, name="nul_params")
        result = CliRunner().invoke(main, ["fill", str(path)])
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, result.output
        assert f"{path}: parameters.p: PostgreSQL cannot store the NUL character" in lines[0], lines
        with postgres_connect(str(exp.config.database.database)) as conn:
            tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert tables and not [t for t in tables if t.startswith("nul_params")], tables  # nothing made
    else:
        assert list(table["status"]) == ["done"] * 3 and table["t"][1] == "a\x00b"


@pytest.mark.parametrize("values,sql_type", [(["abcdefgh"], "VARCHAR(5)"), (["x" * 100_000], "TEXT"),
                                             (["12x"], "INT"), ([2**40], "INT"), (["nope"], "DOUBLE")])
def test_a_parameter_value_that_does_not_fit_is_refused_at_fill(make_config: ConfigMaker, values: list[Any],
                                                                 sql_type: str) -> None:
    path = make_config(parameters={"p": {"values": values, "type": sql_type}})
    result = CliRunner().invoke(main, ["fill", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "parameters.p" in lines[0] and str(path) in lines[0] and sql_type in lines[0], lines
    assert len(lines[0]) < 400  # a 100,000-character value is not echoed whole


def test_long_parameter_values_are_stored_exactly(make_config: ConfigMaker) -> None:
    """Without a declared type the column is chosen to hold every listed value whole."""
    long = "é" * 40_000  # 80,000 bytes of UTF-8: more than a TEXT column holds
    exp = Experimenter(make_config(parameters={"p": [long, "short"], "q": ["abcde"]}))
    assert exp.fill_table_from_config() == 2
    seen: list[str] = []
    assert exp.execute(lambda p, rp, c: seen.append(p["p"])) == [0]
    assert sorted(seen, key=len) == ["short", long]
    assert sorted(Experimenter(exp.config.path).get_table()["p"], key=len) == ["short", long]


def test_fill_table_with_rows_refuses_a_value_too_long_for_its_column(make_config: ConfigMaker) -> None:
    exp = Experimenter(make_config(parameters={"p": {"values": ["abc"], "type": "VARCHAR(5)"}}))
    with pytest.raises(getattr(errors, "ValueRefused", Exception), match="'p'.*VARCHAR\\(5\\)"):
        exp.fill_table_with_rows([{"p": "abcde"}, {"p": "abcdefgh"}])
    assert len(exp.get_table()) == 0  # the chunk was refused whole: never the cut "abcde" for "abcdefgh"


@pytest.mark.parametrize("length", [55, 60, 64])
def test_a_table_name_too_long_for_its_derived_tables_is_refused_before_anything_is_made(
        make_config: ConfigMaker, backend: str, length: int) -> None:
    name = "t" * length
    with pytest.raises(ConfigError, match="experiment.name: table name too long"):
        Experimenter(make_config(name=name))
    result = CliRunner().invoke(main, ["fill", str(make_config(name=name))])
    assert result.exit_code == 2 and "table name too long" in result.stderr, result.output
    # Nothing was made: the longest name that fits works, and is the only table there.
    fits = "t" * ((63 if backend == "postgres" else 64) - len("_codecarbon"))  # PostgreSQL: 63
    exp = Experimenter(make_config(name=fits))
    assert exp.fill_table_from_config() == 20
    assert not [t for t in _tables(exp) if t.startswith(name)]


def test_a_log_table_counts_toward_the_longest_derived_name(make_config: ConfigMaker) -> None:
    with pytest.raises(ConfigError, match="too long"):
        Experimenter(make_config(name="t" * 40, logtables={"l" * 30: {"loss": "FLOAT"}}))


def _tables(exp: Experimenter) -> list[str]:
    session = exp.store.session
    sql = {"sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
           "mysql": "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
           "postgres": "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
           }[session.dialect.name]
    return [r[0] for r in session.transaction(lambda cur: session.execute(cur, sql).fetchall())]
