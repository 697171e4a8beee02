"""Provenance of an attempt: which code, interpreter and packages produced a result.

Measured once per worker process (git and the package list cost tens of milliseconds; a
worker may run thousands of rows) and recorded with every attempt the worker claims:
- the git commit of the folder holding the experiment function's code, whether that
  folder has uncommitted changes (untracked files count), and a hash of those changes;
- the Python version;
- a hash of the installed distributions (`name==version`, sorted); the list itself is kept
  once per distinct hash in `<table>_packages`, so thousands of attempts cost one copy.
Host, SLURM ids and CUDA_VISIBLE_DEVICES are in WorkerIdentity already.

Anything that cannot be measured (no git, not a repository, a function typed into a
notebook) is NULL, never an error: provenance must not stop a worker.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..store import Store, WorkerIdentity

GIT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Provenance:
    git_commit: str | None
    git_dirty: bool | None
    git_diff_hash: str | None
    python_version: str
    packages_hash: str
    packages: str  # the list, kept in `<table>_packages`, not in the attempts


_MEASURED: dict[tuple[int, str | None], Provenance] = {}  # per process (pid) and code folder


def code_folder(fn: Any) -> Path | None:
    """The folder of the file defining `fn` (a functools.partial or a callable object too)."""
    target = getattr(fn, "func", fn)
    try:
        source = inspect.getsourcefile(target) or inspect.getsourcefile(type(target))
    except TypeError:
        source = None
    if source is None or not os.path.exists(source):
        return None
    return Path(source).resolve().parent


def measure(folder: Path | None, fresh: bool = False) -> Provenance:
    """Provenance of this process for code in `folder`; measured once per process, or again
    when `fresh` (a parent about to fork workers: its code may have changed since)."""
    key = (os.getpid(), str(folder) if folder else None)
    found = None if fresh else _MEASURED.get(key)
    if found is None:
        commit, dirty, diff_hash = git_state(folder) if folder else (None, None, None)
        packages = installed_packages()
        found = Provenance(commit, dirty, diff_hash, platform.python_version(),
                           hashlib.sha1(packages.encode()).hexdigest(), packages)
        _MEASURED[key] = found
    return found


def inherit(folder: Path | None, found: Provenance) -> None:
    """`found` (measured by the parent just before it forked this process) as this process's
    provenance for `folder`: forked workers do not each run git and list the packages again."""
    _MEASURED[(os.getpid(), str(folder) if folder else None)] = found


def attach(identity: WorkerIdentity, fn: Any, store: Store) -> WorkerIdentity:
    """`identity` with this process's provenance; the package list recorded in the store.
    The worker's one hook: called when a Worker is made, before its first claim."""
    if identity.packages_hash is not None:
        return identity
    prov = measure(code_folder(fn))
    try:
        store.record_packages(prov.packages_hash, prov.packages)
    except NotImplementedError:
        pass  # a store without side tables (a test double) records the hash only
    return replace(identity, git_commit=prov.git_commit, git_dirty=prov.git_dirty, git_diff_hash=prov.git_diff_hash,
                   python_version=prov.python_version, packages_hash=prov.packages_hash)


def installed_packages() -> str:
    """`name==version` per installed distribution, sorted, one a line.

    Read from the `<name>-<version>.dist-info` folder names on sys.path, as installers write
    them: parsing every distribution's METADATA took 0.5 s at each worker start (260
    packages), the time of a thousand no-op experiments, paid again by every SLURM task.
    Only folders whose names carry no version (egg-info) have their metadata read."""
    seen = set()
    for entry in dict.fromkeys(sys.path):
        try:
            folders = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in folders:
            stem, _, kind = folder.rpartition(".")
            if kind == "dist-info" and "-" in stem:
                name: str | None
                version: str | None
                name, version = stem.split("-", 1)
            elif kind == "egg-info":
                name, version = _egg_info(Path(entry or ".", folder))
            else:
                continue
            if name:
                seen.add(f"{name.lower().replace('_', '-')}=={version}")
    return "\n".join(sorted(seen))


def _egg_info(path: Path) -> tuple[str | None, str | None]:
    """Name and version from an egg-info's PKG-INFO headers, read directly: importlib.metadata
    costs 13 ms to import (email, zipfile, csv), and a source checkout on sys.path has one."""
    fields: dict[str, str] = {}
    try:
        with open(path if path.is_file() else path / "PKG-INFO", encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        return None, None
    return fields.get("name"), fields.get("version")


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, timeout=GIT_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.decode(errors="replace") if out.returncode == 0 else None


def git_state(folder: Path) -> tuple[str | None, bool | None, str | None]:
    """(commit, dirty, hash of the changes) of `folder` in its repository; Nones outside one.

    Only changes under `folder` count: a repository holding many projects is not dirty for
    this experiment because another project changed. The hash covers the diff against HEAD
    and the untracked files' names and contents, so two workers with the same edits agree."""
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return None, None, None
    status = _git(folder, "status", "--porcelain", "--untracked-files=all", "--", ".")
    if status is None:
        return commit.strip(), None, None
    if not status.strip():
        return commit.strip(), False, None
    digest = hashlib.sha1((_git(folder, "diff", "HEAD", "--binary", "--", ".") or "").encode())
    untracked = _git(folder, "ls-files", "--others", "--exclude-standard", "--full-name", "--", ".") or ""
    top = _git(folder, "rev-parse", "--show-toplevel")
    for name in sorted(untracked.splitlines()):
        digest.update(b"\0" + name.encode())
        try:
            digest.update(Path((top or "").strip(), name).read_bytes())
        except OSError:
            pass
    return commit.strip(), True, digest.hexdigest()


PROVENANCE_COLUMNS = ("git_commit", "git_dirty", "git_diff_hash", "python_version", "packages_hash", "cuda_devices",
                      "attempt_machine", "attempt_job_id")
"""What `results --with-provenance` adds to each row: its latest done attempt's."""


def join_provenance(frame: Any, rows: list[dict[str, Any]]) -> Any:
    """`frame` (the experiment table) with each row's latest done attempt's provenance;
    rows never done get empty values."""
    import pandas as pd

    columns = ["experiment_id", *PROVENANCE_COLUMNS]
    prov = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    prov = prov.rename(columns={"experiment_id": "ID"})
    if "ID" in frame.columns and len(prov):
        prov["ID"] = prov["ID"].astype(frame["ID"].dtype)
    return frame.merge(prov, on="ID", how="left")
