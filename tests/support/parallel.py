"""Which tests may share the machine with each other when pytest-xdist runs them on several
workers (scripts/test.sh: `-n N --dist loadgroup`).

Most of the suite's time is spent waiting (SLURM, Grid Engine, sleeps, subprocesses), so it
runs on more workers than cores. Tests of one `xdist_group` run one after the other on one
worker; everything else runs wherever a worker is free. A group is given where tests share
something only one of them can use at a time, or where a module's fixture is too costly to
start once per worker:

- `private-mariadb`, `private-postgres`: the fault tests' private servers (module fixtures
  that take a minute to start on a busy machine; the tests kill and restart them).
- `netns`: the multi-host test bed uses fixed namespace names and addresses (scripts/netns.sh).
- `slurm`, `sge`: the one-node cluster and the one Grid Engine cell. Some tests restart the
  SLURM daemons or change the cell's global configuration (array size limits), which would
  break any other test submitting at that moment, and tests count what they left in the
  queue. Run one at a time they need no lock of their own, and the two schedulers still run
  beside each other and beside everything else.

Groups are decided here, from markers and fixture names, rather than in every test file, so
that a new SLURM test is grouped by the `slurm` marker it must carry anyway.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# Module-scoped fixtures worth starting once: the tests that use them stay on one worker.
FIXTURE_GROUPS = {
    "private_mariadb": "private-mariadb",
    "private_postgres": "private-postgres",
}
# Test files whose every test needs something machine-wide of their own.
FILE_GROUPS = {
    "test_partition.py": "netns",
    "test_partition_postgres.py": "netns",
}
# Marker -> group, in order: a test marked with both runs in the first group named.
MARKER_GROUPS = (
    ("slurm", "slurm"),
    ("sge", "sge"),
)


def group_of(item: pytest.Item) -> str | None:
    """The xdist group a test must run in, or None when it may run beside anything."""
    for fixture, group in FIXTURE_GROUPS.items():
        if fixture in getattr(item, "fixturenames", ()):
            return group
    group = FILE_GROUPS.get(Path(str(item.fspath)).name)
    if group:
        return group
    for marker, group in MARKER_GROUPS:
        if item.get_closest_marker(marker) is not None:
            return group
    return None


def assign_groups(items: list[pytest.Item]) -> None:
    """Mark each test with its group; a group set by hand in a test file wins."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        group = group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def name_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Write each test's group into its node id (`id@group`), where --dist loadgroup looks.

    pytest-xdist 3.8 does this itself by setting `item._nodeid`, which pytest 9.2 no longer
    reads (the id is `item._id`): its groups then silently came to nothing and grouped tests
    ran on several workers at once. Done here on pytest versions that keep `_id`."""
    if not getattr(config.option, "loadgroup", False):  # set on xdist workers under --dist loadgroup
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        node_id = getattr(item, "_id", None)
        if not names or node_id is None or "@" in item.nodeid:
            continue
        item._id = type(node_id).parse(f"{item.nodeid}@{'_'.join(names)}")  # type: ignore[attr-defined]
