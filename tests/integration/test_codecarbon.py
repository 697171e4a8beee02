"""CodeCarbon (the `[codecarbon]` extra): one `<table>_codecarbon` row per run, measured by
the offline tracker, with PyExperimenter 1.4.2's columns; written under the run's claim;
on SQLite and MariaDB, for PyExperimenter configs and for native ones (`codecarbon: true`)."""

from __future__ import annotations

import pytest
from compat_support import pe_config_fixture  # noqa: F401 - the pe_config fixture
from conftest import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.store import WorkerIdentity

pytest.importorskip("codecarbon", reason="the [codecarbon] extra is not installed")

CONFIG = """
PY_EXPERIMENTER:
  n_jobs: 1
  Database:
    provider: {provider}
    database: {database}
    table:
      name: carbon
      keyfields:
        seed:
          type: INT
          values: [1, 2, 3]
      resultfields:
        score: DOUBLE
  CodeCarbon:
    offline_mode: False
    country_iso_code: FRA
    measure_power_secs: 25
    log_level: error
    save_to_file: True
"""


def scored(parameters: dict, result_processor, custom_config: dict) -> None:
    if parameters["seed"] == 3:
        raise ValueError("failing on purpose")
    result_processor.process_results({"score": parameters["seed"] / 2})


def test_pyexperimenter_tracks_every_run(pe_config, tmp_path) -> None:
    from pyexperimenter.experimenter import PyExperimenter
    from pyexperimenter.utils import extract_codecarbon_columns

    config, creds = pe_config(CONFIG)
    exp = PyExperimenter(str(config), str(creds) if creds else "config/database_credentials.yml")
    exp.fill_table_from_config()
    exp.execute(scored, max_experiments=-1)

    carbon = exp.get_codecarbon_table()
    assert list(carbon.columns) == ["ID", "experiment_id", *extract_codecarbon_columns()]
    assert len(carbon) == 3 and sorted(carbon["experiment_id"]) == sorted(exp.get_table()["ID"])  # failed run too
    assert set(carbon["country_iso_code"]) == {"FRA"} and set(carbon["offline_mode"]) == {1}
    assert (carbon["duration_seconds"] > 0).all() and carbon["energy_consumed_kw"].notna().all()
    assert carbon["codecarbon_timestamp"].notna().all()
    assert not list(tmp_path.glob("**/emissions*.csv"))  # save_to_file is forced off


def test_untracked_pyexperimenter_has_no_codecarbon_table(pe_config) -> None:
    from pyexperimenter.experimenter import PyExperimenter

    config, creds = pe_config(CONFIG)
    exp = PyExperimenter(str(config), str(creds) if creds else "config/database_credentials.yml", use_codecarbon=False)
    exp.fill_table_from_config()
    exp.execute(scored)
    with pytest.raises(ValueError, match="CodeCarbon is not used"):
        exp.get_codecarbon_table()
    store = exp.store
    with pytest.raises(Exception) as missing:  # no such table in the database
        store.rows(store.schema.codecarbon_table)
    assert "carbon_codecarbon" in str(missing.value), missing.value


def test_native_switch_and_the_fence(make_config: ConfigMaker) -> None:
    path = make_config(parameters={"x": [1, 2]}, experiment={"codecarbon": True})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    exp.execute(lambda p, rp, c: {"value": p["x"]}, n_jobs=1)
    store = exp.store
    rows = store.rows(store.schema.codecarbon_table)
    assert sorted(r["experiment_id"] for r in rows) == [1, 2]
    assert all(r["country_iso_code"] == "USA" and r["emissions_kg"] is not None for r in rows)

    # A write under a claim that no longer holds the row adds nothing.
    exp.reset_experiments("all")
    claim = store.claim(WorkerIdentity.current())[0]
    assert not store.write_codecarbon("0" * 32, claim.id, {"project_name": "stale"})
    assert store.write_codecarbon(claim.token, claim.id, {"project_name": "live", "offline_mode": True})
    names = [r["project_name"] for r in store.rows(store.schema.codecarbon_table)]
    assert names.count("live") == 1 and "stale" not in names


def test_delete_drops_the_codecarbon_table_once_tracking_is_off(make_config: ConfigMaker) -> None:
    """A table made with CodeCarbon on keeps `<table>_codecarbon` after the config turns it
    off; `pyexp delete` drops it all the same, so a table made again starts clean."""
    on = make_config(parameters={"x": [1]}, experiment={"codecarbon": True})
    with Experimenter(on) as exp:
        exp.fill_table_from_config()
        exp.execute(lambda p, rp, c: {"value": p["x"]}, n_jobs=1)
        assert len(exp.store.rows(exp.store.schema.codecarbon_table)) == 1
    off = make_config(file="off.yml", parameters={"x": [1]}, experiment={"codecarbon": False})
    with Experimenter(off) as exp:
        exp.delete_table()
    with Experimenter(on) as exp:
        exp.fill_table_from_config()  # made again, CodeCarbon's table with it: empty
        assert exp.store.rows(exp.store.schema.codecarbon_table) == []
