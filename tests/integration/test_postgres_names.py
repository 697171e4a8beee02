"""PostgreSQL keeps identifiers of at most 63 bytes and cuts longer ones with a NOTICE nobody
sees (MariaDB allows 64): a table or column name it would cut is refused with the config
(file, key, the limit; exit 2, nothing made), and the names pyexperimenter derives itself
(`<table>__<index>`, `<table>__count_<kind>`) are made to fit, so two long table names
alike in their first 63 characters never share an index or a trigger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from support.services import postgres_connect

from pyexperimenter import Experimenter
from pyexperimenter.cli import main

pytestmark = pytest.mark.postgres


def write(tmp_path: Path, url: str, name: str, file: str = "experiment.yml", **sections: Any) -> Path:
    data = {
        "experiment": {"name": name, "heartbeat_seconds": 1, "stale_after_seconds": 5},
        "database": {"url": url},
        "parameters": sections.pop("parameters", {"x": {"start": 0, "stop": 4}}),
        "results": sections.pop("results", {"value": "DOUBLE"}),
        **sections,
    }
    path = tmp_path / file
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def tables(url: str) -> list[str]:
    with postgres_connect(database_of(url)) as conn:
        return [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]


@pytest.mark.parametrize("where", ["table", "log table", "parameter", "result", "log column"])
def test_a_name_postgres_would_cut_is_refused_at_fill(postgres_url: str, tmp_path: Path, where: str) -> None:
    """53 characters are fine on MariaDB (`<name>_codecarbon` has 64) and 64 for a column;
    on PostgreSQL each would be cut to 63."""
    long_column = "c" * 64
    sections: dict[str, Any] = {}
    name = "t" * 53 if where == "table" else "names"
    if where == "log table":
        sections["logtables"] = {"l" * 57: {"loss": "DOUBLE"}}  # names__lll...: 64 characters
    if where == "parameter":
        sections["parameters"] = {long_column: [1, 2]}
    if where == "result":
        sections["results"] = {long_column: "DOUBLE"}
    if where == "log column":
        sections["logtables"] = {"losses": {long_column: "DOUBLE"}}
    path = write(tmp_path, postgres_url, name, **sections)
    result = CliRunner().invoke(main, ["fill", str(path)])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    key = {"table": "experiment.name", "log table": f"logtables.{'l' * 57}", "parameter": f"parameters.{long_column}",
           "result": f"results.{long_column}", "log column": f"logtables.losses.{long_column}"}[where]
    assert lines[0].startswith(f"pyexp: error: {path}: {key}: "), lines
    assert "63 PostgreSQL allows" in lines[0], lines
    assert tables(postgres_url) == []  # nothing made


def test_the_same_names_are_fine_on_sqlite(tmp_path: Path) -> None:
    """The PostgreSQL limit is PostgreSQL's: elsewhere a 64-character column stays allowed."""
    path = write(tmp_path, f"sqlite:///{tmp_path / 'e.db'}", "t" * 53, parameters={"c" * 64: [1, 2]})
    result = CliRunner().invoke(main, ["fill", str(path)])
    assert result.exit_code == 0, result.output


def test_two_long_table_names_keep_their_own_indexes_and_triggers(postgres_url: str, tmp_path: Path) -> None:
    """Two 52-character tables (their derived tables have 63) alike but for the last
    character: `<table>__ix_status_priority` would be cut to the same 63 characters, and the
    second table's `CREATE INDEX IF NOT EXISTS` would make nothing. Each gets its own, and
    the status counters (kept by triggers) count each table's rows."""
    names = ["a" * 51 + "1", "a" * 51 + "2"]
    exps = []
    for i, name in enumerate(names):
        path = write(tmp_path, postgres_url, name, file=f"e{i}.yml", parameters={"x": {"start": 0, "stop": 3 + i}})
        result = CliRunner().invoke(main, ["fill", str(path)])
        assert result.exit_code == 0, result.output
        exps.append(Experimenter(path))
    with postgres_connect(database_of(postgres_url)) as conn:
        indexes = {name: sorted(r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE '%%pkey'", (name,)))
            for name in names}
        triggers = {name: sorted(r[0] for r in conn.execute(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relname = %s AND NOT t.tgisinternal", (name,))) for name in names}
    assert len(indexes[names[0]]) >= 5 and len(indexes[names[0]]) == len(indexes[names[1]]), indexes
    assert not set(indexes[names[0]]) & set(indexes[names[1]]), indexes
    assert triggers[names[0]] and len(triggers[names[0]]) == len(triggers[names[1]]), triggers
    assert not set(triggers[names[0]]) & set(triggers[names[1]]), triggers
    assert all(len(n) <= 63 for n in [*sum(indexes.values(), []), *sum(triggers.values(), [])])
    for i, exp in enumerate(exps):
        assert exp.execute(lambda p, rp, c: {"value": float(p["x"])}, n_jobs=1) == [0]
        assert exp.counts()["done"] == 3 + i, exp.counts()
        exp.close()
