"""Errors written by SQL of another tool (PyExperimenter 1.4, a user's UPDATE) have no
stored summary: `pyexp status` groups them in the database by the summary a worker would
have stored (issue 23, case 9; the speed is benchmarks/foreign_errors.py), on SQLite and
MariaDB alike, together with the errors our workers wrote."""

from __future__ import annotations

from collections import Counter

import pytest
from support.configs import ConfigMaker

from pyexperimenter import Experimenter
from pyexperimenter.store.schema import error_summary
from pyexperimenter.views.status_data import status_report

TRACE = "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n    g()\n"
ERRORS = [
    TRACE + "ValueError: bad",
    TRACE + "ValueError: bad\n",
    TRACE + "ValueError: bad  \n\n   \n",
    TRACE + "  \tValueError: bad\r\n",
    TRACE + "KeyError: 'x'",
    "MemoryError",
    "",
    None,
    "   \n  ",
    TRACE + "RuntimeError: " + "é" * 400,
    TRACE + "OSError: [/] [link=http://x] <b>\x1b]0;title\x07",
    TRACE + "ValueError: bad",
]


@pytest.mark.parametrize("trigger", [True, False], ids=["summarised-on-write", "summarised-when-read"])
def test_status_groups_errors_written_by_sql_as_a_worker_would(make_config: ConfigMaker, trigger: bool) -> None:
    """With the summary_on_error trigger the database summarises a foreign error as it is
    written (status then reads the index alone); without it (a database that refused the
    trigger), status groups them in SQL when read. Both give the worker's summaries."""
    exp = Experimenter(make_config(parameters={"x": {"start": 0, "stop": len(ERRORS) + 2}}))
    exp.fill_table_from_config()
    session = exp.store.session
    if not trigger:
        session.transaction(lambda cur: session.run(cur, "drop_trigger", trigger_kind="sum"))
    for row_id, error in enumerate(ERRORS, start=1):  # as another tool writes them: no summary
        session.transaction(lambda cur, i=row_id, e=error: session.execute(
            cur, f"UPDATE {exp.store.t} SET status = 'error', error = ? WHERE ID = ?", (e, i)))
    # One more written by our own fail path, with its summary: it joins the same group.
    claim = exp.store.claim(exp.store_identity if hasattr(exp, "store_identity") else _who(), 1)[0]
    exp.store.fail(claim.token, claim.id, TRACE + "ValueError: bad", 1)
    stored = session.transaction(lambda cur: session.execute(
        cur, f"SELECT ID, pyexp_error_summary FROM {exp.store.t} WHERE status = 'error' ORDER BY ID").fetchall())
    if trigger:  # written by the database, as a worker writes it
        assert [s for _, s in stored] == [error_summary(e) for e in [*ERRORS, TRACE + "ValueError: bad"]]
    else:
        assert [s for _, s in stored][:-1] == [None] * len(ERRORS)
    expected = Counter(error_summary(e) or "(no message)" for e in [*ERRORS, TRACE + "ValueError: bad"])
    report = status_report(exp)
    got = {g["message"]: g["count"] for g in report["errors"]}
    assert got == dict(expected)
    assert report["counts"]["error"] == len(ERRORS) + 1
    bad = next(g for g in report["errors"] if g["message"] == "ValueError: bad")
    assert bad["example_ids"] == [1, 2, 3, 4, 12]  # the first five, the worker's row after them


def _who():  # type: ignore[no-untyped-def]
    from pyexperimenter.store import WorkerIdentity

    return WorkerIdentity.current()
