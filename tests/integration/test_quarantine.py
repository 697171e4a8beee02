"""A broken node does not drain the queue: 2 healthy workers and 1 whose experiments all
raise at once, 200 rows, max_attempts 3: all 200 done, none error, the broken one
quarantined after `quarantine_after` failures, its burnt attempts given back."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from support.configs import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.store import WorkerIdentity
from pyexperimenter.views.status_data import status_report
from pyexperimenter.worker import Worker, WorkerStats


def works(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> dict[str, Any]:
    time.sleep(0.01)
    return {"value": parameters["x"] * 2.0}


def broken(parameters: dict[str, Any], rp: Any, custom: dict[str, Any]) -> None:
    raise OSError(28, "No space left on device")


def _identity(name: str, host: str, pid: int) -> WorkerIdentity:
    return WorkerIdentity(worker=f"{name}@{host}", machine=host, pid=pid)


def test_broken_node_is_quarantined_and_the_queue_survives(make_config: ConfigMaker, tmp_path: Path,
                                                            capsys: Any) -> None:
    path = make_config(experiment={"max_attempts": 3}, parameters={"x": {"start": 0, "stop": 200}},
                       results={"value": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    stats: dict[str, WorkerStats] = {}
    ended: dict[str, float] = {}
    started = time.monotonic()

    def run(name: str, host: str, pid: int, fn: Any) -> None:
        stats[name] = Worker(exp.config, fn, identity=_identity(name, host, pid)).run()
        ended[name] = time.monotonic() - started

    threads = [threading.Thread(target=run, args=args) for args in
               (("a", "node-a", 101, works), ("b", "node-b", 102, works), ("bad", "node-bad", 103, broken))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not any(t.is_alive() for t in threads)
    table = exp.get_table()
    assert (table["status"] == "done").all(), table["status"].value_counts().to_dict()
    assert (table["value"] == table["x"] * 2.0).all()
    bad = stats["bad"]
    assert bad.quarantined and "node-bad" in bad.quarantined, bad
    n = exp.config.quarantine_after
    assert n <= bad.failed <= 2 * n, bad
    attempts = exp.store.rows(exp.store.schema.attempts_table)  # type: ignore[attr-defined]
    mine = [a for a in attempts if a["machine"] == "node-bad"]
    assert mine and {a["outcome"] for a in mine} == {"quarantined"}, [a["outcome"] for a in mine]
    assert not [a for a in attempts if a["outcome"] in ("failed", "running")]
    report = status_report(exp)
    assert report["outcomes"]["quarantined"] == len(mine) and report["outcomes"]["done"] == 200
    assert [q["host"] for q in report["quarantined"]] == ["node-bad"]
    # Its host stays quarantined: another worker there does not claim.
    exp.store.reset(["done"], ids=[1, 2])
    later = Worker(exp.config, works, identity=_identity("c", "node-bad", 104)).run()
    assert later.executed == 0 and later.quarantined and "host node-bad is quarantined" in later.quarantined
    with capsys.disabled():
        print(f"\n[quarantine] broken worker quarantined after {ended['bad']:.2f}s and {bad.failed} failures; "
              f"all 200 done after {max(ended.values()):.2f}s")
    exp.close()


def test_quarantine_after_zero_turns_it_off(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"max_attempts": 1, "quarantine_after": 0}, parameters={"x": {"start": 0, "stop": 8}},
                       results={"value": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    healthy = threading.Thread(target=lambda: Worker(exp.config, works, identity=_identity("a", "node-a", 1)).run())
    healthy.start()
    bad = Worker(exp.config, broken, identity=_identity("bad", "node-bad", 2)).run()
    healthy.join(60)
    assert bad.quarantined is None
    exp.close()


def test_quarantine_gives_the_attempt_back_unless_the_row_was_claimed_since(make_config: ConfigMaker) -> None:
    path = make_config(experiment={"max_attempts": 1}, parameters={"x": [1, 2]}, results={"value": "DOUBLE"})
    exp = Experimenter(path)
    exp.fill_table_from_config()
    store, me, other = exp.store, _identity("bad", "node-bad", 1), _identity("a", "node-a", 2)
    first, second = store.claim(me, 2)
    for c in (first, second):
        assert store.fail(c.token, c.id, "boom", max_attempts=1)  # last attempt: both rows in error
    again = store.claim(other)  # nothing open: both are in error
    assert again == []
    store.reset(["error"], ids=[second.id])  # someone reset the second row and claimed it
    [taken] = store.claim(other)
    assert store.quarantine([(first.token, first.id), (second.token, second.id)]) == 1
    rows = {int(r["ID"]): r for r in store.rows()}
    assert rows[first.id]["status"] == "created" and rows[first.id]["pyexp_attempts"] == 0 and rows[first.id]["error"] is None
    assert rows[taken.id]["status"] == "running"
    outcomes = {(int(a["experiment_id"]), a["claim_token"]): a["outcome"] for a in store.rows(store.schema.attempts_table)}
    assert outcomes[(first.id, first.token)] == "quarantined"
    assert store.host_quarantined("node-bad", 60) and not store.host_quarantined("node-a", 60)
    exp.close()
