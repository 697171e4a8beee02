"""Code snapshots on real folders and a real git: what is copied, the hash, the cap, restore."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pyexperimenter import snapshot
from pyexperimenter.errors import InputError


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), "-c", "user.email=t@t", "-c", "user.name=t", *args], check=True,
                   capture_output=True)


def project(root: Path, version: int = 1) -> Path:
    """A git work tree: src/proj (a package), a config, an untracked and an ignored file."""
    (root / "src" / "proj").mkdir(parents=True)
    (root / "src" / "proj" / "__init__.py").write_text("")
    (root / "src" / "proj" / "exp.py").write_text(f"VERSION = {version}\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / ".gitignore").write_text("*.db\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    (root / "notes.txt").write_text("untracked\n")
    (root / "results.db").write_text("ignored\n")
    return root


def take(root: Path, logs: Path, module: str = "proj.exp:run", max_mb: float = 100) -> snapshot.Snapshot:
    taken, why = snapshot.prepare(module, root, logs, max_mb)
    assert taken is not None, why
    return taken


def test_a_git_work_tree_gives_its_tracked_files_as_they_are_on_disk(tmp_path: Path) -> None:
    root = project(tmp_path / "repo")
    (root / "src" / "proj" / "exp.py").write_text("VERSION = 2\n")  # uncommitted: the code that runs
    taken = take(root / "src", tmp_path / "logs")
    assert taken.folder == tmp_path / "logs" / "snapshots" / taken.hash and len(taken.hash) == 40
    assert taken.import_path == "src" and taken.code_path == taken.folder / "src"
    manifest = snapshot.read(taken.folder)
    assert manifest["files"] == [".gitignore", "run.sh", "src/proj/__init__.py", "src/proj/exp.py"]
    assert (taken.folder / "src" / "proj" / "exp.py").read_text() == "VERSION = 2\n"
    assert not (taken.folder / "notes.txt").exists() and not (taken.folder / "results.db").exists()
    assert (taken.folder / "run.sh").stat().st_mode & 0o100  # executable bits kept
    assert "git work tree" in taken.describe() and "4 file(s)" in taken.describe()
    assert "untracked" not in taken.describe()  # notes.txt is not Python beside the code
    (root / "src" / "proj" / "helper.py").write_text("H = 1\n")  # imported by exp.py, say, but not `git add`ed
    again = take(root / "src", tmp_path / "logs")
    assert again.hash == taken.hash and not (again.folder / "src" / "proj" / "helper.py").exists()
    assert again.describe().endswith("; untracked, so not in it: src/proj/helper.py (git add what the experiment imports)")


def test_the_same_code_is_the_same_folder_and_an_edit_a_new_one(tmp_path: Path) -> None:
    root = project(tmp_path / "repo")
    first = take(root / "src", tmp_path / "logs")
    stamp = (first.folder / "src" / "proj" / "exp.py").stat().st_mtime_ns
    again = take(root / "src", tmp_path / "logs")
    assert again.hash == first.hash
    assert (first.folder / "src" / "proj" / "exp.py").stat().st_mtime_ns == stamp  # not written again
    (root / "notes.txt").write_text("an untracked file changes nothing\n")
    assert take(root / "src", tmp_path / "logs").hash == first.hash
    (root / "src" / "proj" / "exp.py").write_text("VERSION = 3\n")
    edited = take(root / "src", tmp_path / "logs")
    assert edited.hash != first.hash
    assert (first.folder / "src" / "proj" / "exp.py").read_text() == "VERSION = 1\n"  # the old one kept
    assert sorted(p.name for p in (tmp_path / "logs" / "snapshots").iterdir()) == sorted([first.hash, edited.hash])


def test_outside_git_a_package_or_the_python_files_beside_a_module(tmp_path: Path) -> None:
    pkg = tmp_path / "code" / "pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text("X = 1\n")
    (pkg / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0")
    (pkg / ".secret").write_text("hidden\n")
    (tmp_path / "code" / "data.csv").write_text("a,b\n")
    taken = take(tmp_path / "code", tmp_path / "logs", "pkg.model:run")
    assert snapshot.read(taken.folder)["files"] == ["pkg/__init__.py", "pkg/model.py"]
    assert taken.import_path == "."

    (tmp_path / "flat").mkdir()
    for name, text in (("exp_flat.py", "import helper_flat\n"), ("helper_flat.py", "Y = 2\n"), ("big.bin", "x")):
        (tmp_path / "flat" / name).write_text(text)
    flat = take(tmp_path / "flat", tmp_path / "logs", "exp_flat:run")
    assert snapshot.read(flat.folder)["files"] == ["exp_flat.py", "helper_flat.py"]


def test_an_untracked_module_in_a_repository_is_its_own_folder(tmp_path: Path) -> None:
    root = project(tmp_path / "repo")
    (root / "scratch").mkdir()
    (root / "scratch" / "trial_mod.py").write_text("Z = 1\n")  # not `git add`ed
    taken = take(root / "scratch", tmp_path / "logs", "trial_mod:run")
    assert snapshot.read(taken.folder)["files"] == ["trial_mod.py"]
    assert "module folder" in taken.source


def test_beyond_the_cap_one_line_names_the_largest_files(tmp_path: Path) -> None:
    root = project(tmp_path / "repo")
    (root / "weights.bin").write_bytes(b"\0" * 300_000)
    git(root, "add", "weights.bin")
    with pytest.raises(InputError) as caught:
        take(root / "src", tmp_path / "logs", max_mb=0.1)
    message = str(caught.value)
    assert "\n" not in message and "experiment.snapshot_max_mb (0.1 MB)" in message
    assert "largest: weights.bin (300.0 kB)" in message and "--no-snapshot" in message
    assert not (tmp_path / "logs" / "snapshots").exists()  # nothing written


def test_installed_packages_are_not_copied(tmp_path: Path) -> None:
    taken, why = snapshot.prepare("yaml:safe_load", None, tmp_path / "logs")
    assert taken is None and why is not None and "yaml is an installed package" in why
    assert snapshot.prepare("no_such_module_here:run", tmp_path, tmp_path / "logs") == (None, None)


def test_restore_writes_the_files_into_a_new_or_empty_folder(tmp_path: Path) -> None:
    root = project(tmp_path / "repo")
    taken = take(root / "src", tmp_path / "logs")
    assert snapshot.restore(taken.folder, tmp_path / "out") == 4
    assert (tmp_path / "out" / "src" / "proj" / "exp.py").read_text() == "VERSION = 1\n"
    assert not (tmp_path / "out" / snapshot.MANIFEST).exists()
    with pytest.raises(InputError, match="exists and is not an empty folder"):
        snapshot.restore(taken.folder, tmp_path / "out")
    with pytest.raises(InputError, match="removed, or written under another log folder"):
        snapshot.restore(tmp_path / "logs" / "snapshots" / ("0" * 40), tmp_path / "elsewhere")


def test_a_worker_refuses_a_snapshot_it_cannot_see_and_finds_where_code_came_from(tmp_path: Path) -> None:
    root = project(tmp_path / "repo")
    taken = take(root / "src", tmp_path / "logs")
    assert snapshot.use(taken.folder, taken.import_path) == taken.code_path
    with pytest.raises(InputError, match="file system the nodes share"):
        snapshot.use(tmp_path / "nowhere" / taken.hash, ".")
    assert snapshot.loaded_from(str(taken.code_path / "proj" / "exp.py")) == taken.hash
    assert snapshot.loaded_from(str(root / "src" / "proj" / "exp.py")) is None
    assert snapshot.loaded_from(None) is None


def test_a_symlink_is_copied_as_a_link_never_followed(tmp_path: Path) -> None:
    root = project(tmp_path / "repo")
    outside = tmp_path / "huge.bin"
    outside.write_bytes(b"\0" * 1000)
    (root / "data").symlink_to(outside)
    git(root, "add", "data")
    taken = take(root / "src", tmp_path / "logs")
    assert (taken.folder / "data").is_symlink() and Path((taken.folder / "data").readlink()) == outside
    assert taken.size < 1000


def test_the_snapshot_imports_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`load_function` with a snapshot puts it before the live folders: the launched code runs."""
    from pyexperimenter.worker.function import load_function

    root = tmp_path / "live"
    (root / "snapfirst_pkg").mkdir(parents=True)
    (root / "snapfirst_pkg" / "__init__.py").write_text("")
    (root / "snapfirst_pkg" / "exp.py").write_text("def run(p, rp, c):\n    return {'v': 1}\n")
    taken = take(root, tmp_path / "logs", "snapfirst_pkg.exp:run")
    (root / "snapfirst_pkg" / "exp.py").write_text("def run(p, rp, c):\n    return {'v': 2}\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        fn = load_function("snapfirst_pkg.exp:run", root, code=taken.code_path)
        assert fn({}, None, {}) == {"v": 1}  # type: ignore[arg-type]
        assert snapshot.loaded_from(sys.modules["snapfirst_pkg.exp"].__file__) == taken.hash
    finally:
        for name in ("snapfirst_pkg.exp", "snapfirst_pkg"):
            sys.modules.pop(name, None)


def test_a_dry_runs_snapshot_is_written_by_its_workers_only_if_the_code_is_unchanged(tmp_path: Path) -> None:
    root = project(tmp_path / "repo")
    planned, _ = snapshot.prepare("proj.exp:run", root / "src", tmp_path / "logs", write=False)
    assert planned is not None and not (tmp_path / "logs").exists()  # a dry run writes nothing
    snapshot.recreate(planned.folder, "proj.exp:run", root / "src")  # what its script's workers do
    assert snapshot.read(planned.folder)["hash"] == planned.hash
    (root / "src" / "proj" / "exp.py").write_text("VERSION = 9\n")
    stale = snapshot.prepare("proj.exp:run", root / "src", tmp_path / "other", write=False)[0]
    assert stale is not None
    (root / "src" / "proj" / "exp.py").write_text("VERSION = 10\n")  # edited after that dry run
    with pytest.raises(InputError, match="has changed since .* launch again"):
        snapshot.recreate(stale.folder, "proj.exp:run", root / "src")
    assert not stale.folder.exists()
