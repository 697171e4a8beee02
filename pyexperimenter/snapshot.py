"""The code as it was: a copy of the experiment's source that workers import from.

People edit their code while thousands of rows are still queued; without a copy, a row
queued on Monday runs whatever the file says on Thursday. `pyexp launch` and `pyexp run`
copy the source once into a content-addressed folder (`<log folder>/snapshots/<hash>/`, on
the file system the nodes share), hand the workers that folder, and each attempt records the
hash, so `pyexp snapshot` can say which code ran and write it out again.

What is copied, found without importing anything (an import would load the live code):
- the function's top-level package or module lies in a git work tree and is tracked there:
  the work tree's tracked files, as they are on disk (uncommitted edits included);
- otherwise a package: its folder (no caches, no hidden files); a plain module: the Python
  files beside it;
- an installed package (site-packages, the interpreter's prefix) is not copied: its version
  is in the attempt's package list already.

The rule for a process that has the code loaded already (a notebook, `Experimenter.execute`
with a function object): it runs what it has loaded, and records a snapshot only when that
code was itself imported from one (`loaded_from`); anything else would record a hash of
files that may differ from the code in memory.

This module is a leaf (the standard library and errors.py), so the launcher, the workers and
the facade all use it.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

MANIFEST = ".pyexp-snapshot.json"  # inside each snapshot: where it came from and its files
FOLDER = "snapshots"  # under the log folder
DEFAULT_MAX_MB = 100
HASH_LENGTH = 40  # the attempts' `snapshot` column is CHAR(40)
GIT_TIMEOUT = 30.0
_SKIPPED_DIRS = frozenset({"__pycache__"})


@dataclass(frozen=True)
class Source:
    """The files a snapshot copies: `files` relative to `root`; workers import from
    `import_path` (relative to the snapshot folder, POSIX)."""

    root: Path
    files: tuple[str, ...]
    kind: str  # "git work tree", "package", "module folder"
    import_path: str
    untracked: tuple[str, ...] = ()  # Python files beside the experiment's code that git does not track


@dataclass(frozen=True)
class Snapshot:
    hash: str
    folder: Path
    import_path: str  # relative to `folder`
    files: int
    size: int  # bytes
    source: str  # what was copied, for the user
    untracked: tuple[str, ...] = ()

    @property
    def code_path(self) -> Path:
        return self.folder / self.import_path

    def describe(self) -> str:
        line = (f"code snapshot {self.hash[:12]}: {self.files:,} file(s), {_size(self.size)} of the {self.source}, "
                f"in {self.folder}")
        if self.untracked:  # an import of one of these fails on every worker: say so before it does
            shown = ", ".join(self.untracked[:5]) + (f" and {len(self.untracked) - 5} more" if len(self.untracked) > 5 else "")
            line += f"; untracked, so not in it: {shown} (git add what the experiment imports)"
        return line


def folder_of(log_folder: Path) -> Path:
    """Where a table's snapshots live: beside the worker logs, so on the file system the
    nodes already share (the launcher checks that one)."""
    return log_folder / FOLDER


def search_path(base_dir: Path | None) -> list[str]:
    """The folders `worker.function.load_function` imports from, in its order."""
    found = [str(base_dir) if base_dir else None, os.getcwd(), *sys.path]
    return list(dict.fromkeys(p for p in found if p is not None))


def locate(module: str, path: Sequence[str]) -> Path | None:
    """The file or folder of `module`'s top-level package, found without importing it."""
    top = module.split(".", 1)[0]
    spec = importlib.machinery.PathFinder.find_spec(top, list(path))
    if spec is None:  # an editable install's own finder, say: asked, not imported
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
    if spec is None:
        return None
    if spec.submodule_search_locations:  # a package (a namespace package too)
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    if spec.origin and os.path.isfile(spec.origin):
        return Path(spec.origin).resolve()
    return None


def installed(location: Path) -> bool:
    """Code of an installed distribution: recorded by version, not copied."""
    if {"site-packages", "dist-packages"} & set(location.parts):
        return True
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix)}
    return any(location.is_relative_to(p) for p in prefixes)


def find_source(location: Path) -> Source:
    """What to copy for the top-level package or module at `location` (see the module's docstring)."""
    folder = location if location.is_dir() else location.parent
    git = _git_source(location, folder)
    if git is not None:
        return git
    if location.is_dir():
        files = sorted(_walk(location, location.parent))
        return Source(location.parent, tuple(files), "package", ".")
    names = sorted(n for n in os.listdir(folder) if n.endswith(".py") and (folder / n).is_file())
    return Source(folder, tuple(names), "module folder", ".")


def _git(folder: Path, *args: str) -> bytes | None:
    try:
        out = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, timeout=GIT_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _git_source(location: Path, folder: Path) -> Source | None:
    """The work tree's tracked files, if `location` is tracked in one; else None."""
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    root = Path(top.decode().strip()).resolve()
    listed = _git(root, "ls-files", "-z", "--cached")
    if listed is None:
        return None
    files = sorted({name for name in listed.decode(errors="surrogateescape").split("\0") if name})
    mine = location.relative_to(root).as_posix()
    if not any(name == mine or name.startswith(mine + "/") for name in files):
        return None  # an untracked experiment in someone's repository: its own folder instead
    present = [n for n in files if os.path.lexists(root / n) and not (root / n).is_dir()]  # no deleted files, no submodules
    import_path = location.parent.relative_to(root).as_posix()
    others = _git(root, "ls-files", "-z", "--others", "--exclude-standard", "--", mine if location.is_dir() else
                  (location.parent.relative_to(root).as_posix() or "."))
    untracked = sorted(n for n in (others or b"").decode(errors="surrogateescape").split("\0") if n.endswith(".py"))
    return Source(root, tuple(present), "git work tree", import_path, tuple(untracked))


def _walk(folder: Path, relative_to: Path) -> Iterable[str]:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS and not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and not name.endswith((".pyc", ".pyo")):
                yield (Path(dirpath) / name).relative_to(relative_to).as_posix()


def _entry(path: Path) -> tuple[bytes, bytes, bytes]:
    """(kind and mode, digest, content) of one file: a symbolic link by its target, never
    followed (a link out of the tree could pull in anything). The content is kept (the cap
    bounds it) so the copy writes exactly the bytes that were hashed, without reading again."""
    if path.is_symlink():
        target = os.readlink(path).encode(errors="surrogateescape")
        return b"l", hashlib.sha256(target).digest(), target
    mode = b"x" if os.access(path, os.X_OK) else b"f"
    data = path.read_bytes()
    return mode, hashlib.sha256(data).digest(), data


def measure(source: Source, max_mb: float, origin: str) -> tuple[str, dict[str, tuple[bytes, bytes, bytes]], int]:
    """The snapshot's hash, each file's entry and the total size; beyond `max_mb`, one line
    naming the largest files and the ways out."""
    sizes = {name: (source.root / name).lstat().st_size for name in source.files}
    total = sum(sizes.values())
    if total > max_mb * 1e6:
        largest = sorted(sizes, key=lambda n: -sizes[n])[:3]
        raise InputError(
            f"{origin}: code snapshot of the {source.kind} {source.root}: {len(sizes):,} file(s) of {_size(total)}, "
            f"more than experiment.snapshot_max_mb ({max_mb:g} MB); largest: "
            + ", ".join(f"{n} ({_size(sizes[n])})" for n in largest)
            + "; untrack or move large files, raise experiment.snapshot_max_mb, or pass --no-snapshot"
        )
    digest = hashlib.sha256()
    entries = {}
    for name in source.files:
        entries[name] = _entry(source.root / name)
        digest.update(name.encode(errors="surrogateescape") + b"\0" + entries[name][0] + entries[name][1])
    digest.update(b"\0import\0" + source.import_path.encode())
    return digest.hexdigest()[:HASH_LENGTH], entries, total


def take(source: Source, snapshots: Path, max_mb: float = DEFAULT_MAX_MB, origin: str = "experiment.function",
         write: bool = True) -> Snapshot:
    """Copy `source` into `snapshots/<hash>/` unless that folder exists already (the same
    code launched again costs one read of it, no write). Written to a temporary folder and
    renamed, so a worker never sees half a snapshot; the bytes written are the bytes hashed,
    so the folder holds exactly what its name says even if a file is edited meanwhile."""
    what = f"{source.kind} {source.root}"
    hash_, entries, total = measure(source, max_mb, origin)
    folder = snapshots / hash_
    found = Snapshot(hash_, folder, source.import_path, len(entries), total, what, source.untracked)
    if not write or (folder / MANIFEST).exists():
        return found
    snapshots.mkdir(parents=True, exist_ok=True)
    temporary = snapshots / f".{hash_}.{os.getpid()}.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    made: set[Path] = set()
    try:
        for name, (kind, _, data) in entries.items():
            dst = temporary / name
            if dst.parent not in made:  # a mkdir per folder, not per file
                dst.parent.mkdir(parents=True, exist_ok=True)
                made.add(dst.parent)
            if kind == b"l":
                os.symlink(os.fsdecode(data), dst)
                continue
            dst.write_bytes(data)
            if kind == b"x":
                dst.chmod(0o755)
        manifest = {"hash": hash_, "source": what, "import_path": source.import_path, "files": list(entries),
                    "bytes": total}
        (temporary / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        try:
            temporary.rename(folder)
        except OSError:  # another launch wrote the same snapshot first: the same content
            if not (folder / MANIFEST).exists():
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return found


def read(folder: Path) -> dict[str, object]:
    """A snapshot's manifest (hash, source, import_path, files, bytes)."""
    try:
        found = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"code snapshot {folder.name} not found in {folder.parent} ({type(e).__name__}): it was "
                         "removed, or written under another log folder (slurm.log_dir)") from None
    if not isinstance(found, dict):
        raise InputError(f"{folder / MANIFEST}: expected a JSON object")
    return found


def restore(folder: Path, destination: Path) -> int:
    """Write the snapshot's files into `destination` (new or empty); returns how many."""
    manifest = read(folder)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise InputError(f"--restore: {destination} exists and is not an empty folder; name a new one")
    files = [str(f) for f in manifest.get("files", [])]  # type: ignore[attr-defined]
    for name in files:
        if Path(name).is_absolute() or ".." in Path(name).parts:  # a manifest edited by hand
            raise InputError(f"{folder / MANIFEST}: {name!r} lies outside the snapshot")
        src, dst = folder / name, destination / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
    destination.mkdir(parents=True, exist_ok=True)
    return len(files)


def use(folder: Path, import_path: str, where: str = "--snapshot") -> Path:
    """The folder a worker imports from, checked: a launch's snapshot missing on a node is a
    log folder the nodes do not share."""
    if not (folder / MANIFEST).exists():
        raise InputError(f"{where}: code snapshot {folder} not found on this machine: the log folder must be on a "
                         "file system the nodes share (slurm.log_dir), or launch with --no-snapshot")
    return folder / import_path


def recreate(folder: Path, spec: str, base_dir: Path | None, max_mb: float = DEFAULT_MAX_MB) -> None:
    """Write a missing snapshot again from the live code, if that code is still exactly what
    the snapshot's name says: the script `pyexp launch --dry-run` printed, submitted by hand,
    names a snapshot nobody wrote. Code edited since is refused: running it would record a
    hash it does not have."""
    location = locate(spec.split(":", 1)[0], search_path(base_dir))
    if location is None or installed(location):
        raise InputError(f"--snapshot: code snapshot {folder} not found, and its source cannot be found here")
    source = find_source(location)
    now, _, _ = measure(source, max_mb, "--snapshot")
    if now != folder.name:
        raise InputError(f"--snapshot: code snapshot {folder} not found on this machine, and the code in "
                         f"{source.root} has changed since (its snapshot would be {now[:12]}): launch again")
    take(source, folder.parent, max_mb, "--snapshot")


def loaded_from(file: str | None) -> str | None:
    """The hash of the snapshot `file` was imported from, or None for live code."""
    if not file:
        return None
    for parent in Path(file).resolve().parents:
        if (parent / MANIFEST).is_file():
            return parent.name
    return None


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def prepare(spec: str, base_dir: Path | None, log_folder: Path, max_mb: float = DEFAULT_MAX_MB,
            origin: str = "experiment.function", write: bool = True) -> tuple[Snapshot | None, str | None]:
    """The snapshot of the code `spec` (`module:function`) names, taken now; or None and
    why not, in one line (None and None when the module is not found: importing it reports
    that better). Without `write`, only its hash and folder (a dry run). A snapshot that cannot be written (a full or read-only log disk) costs the
    snapshot, not the run: the workers import the live code, and the line says so."""
    module = spec.split(":", 1)[0]
    location = locate(module, search_path(base_dir))
    if location is None:
        return None, None
    if installed(location):
        return None, (f"no code snapshot: {module.split('.', 1)[0]} is an installed package "
                      "(each attempt records the installed packages' versions)")
    snapshots = folder_of(log_folder)
    try:
        return take(find_source(location), snapshots, max_mb, origin, write), None
    except OSError as e:
        return None, (f"no code snapshot: cannot write {snapshots}: {e.strerror or e}; "
                      "the workers import the live code")


@dataclass(frozen=True)
class Use:
    """One snapshot as `pyexp snapshot` shows it: what ran it, and what it holds where."""

    hash: str | None  # None: attempts that recorded no snapshot
    attempts: int
    rows: int
    first_attempt: int | None
    last_attempt: int | None
    first_start: object
    last_start: object
    folder: Path | None
    manifest: dict[str, object] | None  # None: the folder is gone (or never was, for None)

    def lines(self, experiment_id: int | None = None) -> list[str]:
        if experiment_id is not None:
            span = (f"attempt {self.first_attempt}" if self.first_attempt == self.last_attempt
                    else f"attempts {self.first_attempt}-{self.last_attempt}")
            ran = f"row {experiment_id}'s {span}"
        else:
            ran = f"{self.attempts:,} attempt(s) of {self.rows:,} row(s)"
        when = f", started {self.first_start} .. {self.last_start}" if self.first_start is not None else ""
        if self.hash is None:
            return [f"no snapshot: {ran}{when} (taken with --no-snapshot, from a function object, or before snapshots)"]
        out = [f"snapshot {self.hash}: {ran}{when}"]
        if self.manifest is None:
            out.append(f"  not found in {self.folder} (removed, or written under another log folder)")
            return out
        files = [str(f) for f in self.manifest.get("files", [])]  # type: ignore[attr-defined]
        size = self.manifest.get("bytes", 0)
        out.append(f"  {len(files):,} file(s), {_size(float(size) if isinstance(size, (int, float)) else 0)} "
                   f"of the {self.manifest.get('source')}, in {self.folder}")
        out += [f"    {name}" for name in files[:SHOWN_FILES]]
        if len(files) > SHOWN_FILES:
            out.append(f"    ... and {len(files) - SHOWN_FILES:,} more (--restore DIR writes them all)")
        return out


SHOWN_FILES = 20


def uses(found: Sequence[dict[str, object]], snapshots: Path) -> list[Use]:
    """The store's `snapshot_uses` rows with each snapshot's manifest, where it still is."""
    out = []
    for r in found:
        hash_ = r.get("snapshot")
        folder = snapshots / str(hash_) if hash_ else None
        manifest = None
        if folder is not None:
            try:
                manifest = read(folder)
            except InputError:
                manifest = None
        out.append(Use(str(hash_) if hash_ else None, _int(r.get("n_attempts")) or 0, _int(r.get("n_rows")) or 0,
                       _int(r.get("first_attempt")), _int(r.get("last_attempt")), r.get("first_start"),
                       r.get("last_start"), folder, manifest))
    return out


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float, str)) and str(value).strip() else None


def to_restore(found: Sequence[Use], experiment_id: int | None) -> Use:
    """The one snapshot `--restore` writes: a row's latest, or the table's only one."""
    taken = [u for u in found if u.hash is not None]
    whose = f"row {experiment_id}'s attempts" if experiment_id is not None else "the table's attempts"
    if not taken:
        raise InputError(f"--restore: {whose} recorded no code snapshot")
    if experiment_id is None and len(taken) > 1:
        raise InputError(f"--restore: the table's attempts ran {len(taken)} code snapshots; name a row: "
                         "pyexp snapshot CONFIG ID --restore DIR")
    return max(taken, key=lambda u: u.last_attempt or 0) if experiment_id is not None else taken[0]
