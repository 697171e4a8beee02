"""The launcher's checks against a real table: open rows, SQLite on several nodes, the
password kept out of the script, unknown overrides. Dry runs only: nothing is submitted."""

from __future__ import annotations

import pytest
from support.configs import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.errors import InputError
from pyexperimenter.launch.render import launch_text


def test_nothing_to_launch_without_open_rows(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"function": "experiments:noop"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    exp.execute()
    result = exp.launch(workers=5, dry_run=True)
    assert result.mode == "nothing" and not result.failed and result.scripts == []
    assert "no open rows" in launch_text(result)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_is_refused_for_several_nodes(make_config: ConfigMaker, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyexperimenter.launch import slurm

    monkeypatch.setattr(slurm, "partition_nodes", lambda partition: {"node1", "node2"})
    path = make_config(experiment={"function": "experiments:noop"})
    Experimenter(path).fill_table_from_config()
    with pytest.raises(InputError, match="SQLite cannot serve workers on 2 nodes.*corrupt"):
        Experimenter(path).launch(workers=4, dry_run=True)
    # one node (or --sbatch nodelist=ONE) is fine
    monkeypatch.setattr(slurm, "partition_nodes", lambda partition: {"node1"})
    assert Experimenter(path).launch(workers=4, dry_run=True).workers == 4


@pytest.mark.parametrize("backend", ["mysql"])
def test_password_never_reaches_the_script(make_config: ConfigMaker, mysql_url: str) -> None:
    from support.services import mysql_connect

    database = mysql_url.rsplit("/", 1)[1]
    user = f"pyexp_pw_{database[-8:]}"  # the server is shared: a name of this test's own
    conn = mysql_connect()
    cur = conn.cursor()
    cur.execute(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 's3cret-Pw'")
    cur.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'%'")
    conn.close()
    try:
        path = make_config(experiment={"function": "experiments:noop"})
        Experimenter(path).fill_table_from_config()
        url = f"mysql://{user}:s3cret-Pw@127.0.0.1:3306/{database}"
        result = Experimenter(path, db=url).launch(workers=2, dry_run=True)
        text = launch_text(result)
    finally:
        conn = mysql_connect()
        conn.cursor().execute(f"DROP USER IF EXISTS '{user}'@'%'")
        conn.close()
    assert "s3cret" not in text and f"--db mysql://{user}@127.0.0.1:3306/" in text
    assert "PYEXP_DB_PASSWORD" in text


def test_unknown_override_is_refused(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"function": "experiments:noop"})
    Experimenter(path).fill_table_from_config()
    with pytest.raises(InputError, match="unknown option 'partitoin'"):
        Experimenter(path).launch(workers=1, dry_run=True, partitoin="x")
