"""The experiment function: its signature, importing it from `module:function`, and which
code a local run uses (a code snapshot or what this process has loaded)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import snapshot as code_snapshot
from ..errors import InputError
from ..results import ResultProcessor

ExperimentFunction = Callable[[dict[str, Any], ResultProcessor, dict[str, Any]], Any]


def spec_source(given: bool, config_path: Path | None) -> str:
    """How an error names where `module:function` came from: a value typed on the command
    line (or passed to the API) is the flag's, and blaming the config key sends the user to
    a file that holds no mistake."""
    if given:
        return "--function"
    return f"{config_path}: experiment.function" if config_path is not None else "experiment.function"


def load_function(spec: str, base_dir: Path | None = None, where: str = "experiment.function",
                  code: Path | None = None) -> ExperimentFunction:
    """Import `module:function`, with the config's folder and the current folder importable,
    so an experiment module next to the config works without installing it. `code` (a code
    snapshot's folder, snapshot.py) comes before them all: the launched code, not the live one."""
    if ":" not in spec:
        raise InputError(f"{where}: expected 'module:function', got {spec!r}")
    module_name, attr = spec.split(":", 1)
    for folder in (os.getcwd(), str(base_dir) if base_dir else None):
        if folder and folder not in sys.path:
            sys.path.insert(0, folder)
    if code is not None:
        if str(code) in sys.path:
            sys.path.remove(str(code))
        sys.path.insert(0, str(code))
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise InputError(f"{where}: cannot import module {module_name!r}: {type(e).__name__}: {e}") from None
    fn: Any = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise InputError(f"{where}: module {module_name!r} has no attribute {attr!r}")
    if not callable(fn):
        raise InputError(f"{where}: {spec!r} is not callable")
    return fn


@dataclass(frozen=True)
class Code:
    """The function a run uses, the hash of the code snapshot it comes from (None: live
    code) and one line for the user when something is worth saying (why there is no
    snapshot, or untracked files left out of it); `taken` describes the snapshot."""

    fn: ExperimentFunction
    snapshot: str | None
    note: str | None
    taken: str | None = None


def load_code(fn: ExperimentFunction | str, base_dir: Path | None, where: str, log_folder: Path,
              max_mb: float = code_snapshot.DEFAULT_MAX_MB, take: bool = True) -> Code:
    """The rule of `pyexp run` and `Experimenter.execute` (docs/snapshots.md, "`pyexp run`
    and notebooks"): a function named `module:function` is imported from a snapshot taken now, unless
    its package is loaded in this process already; a function object, or a package already
    loaded, runs as loaded, and records a snapshot only if it was itself imported from one."""
    if callable(fn):
        target = getattr(fn, "func", fn)  # a functools.partial: the function inside
        module_name = getattr(target, "__module__", None)
        module = sys.modules.get(module_name or "")
        found = code_snapshot.loaded_from(getattr(module, "__file__", None))
        name = getattr(target, "__qualname__", repr(target))
        if found is not None or not take:
            return Code(fn, found, None)
        in_main = module_name in (None, "__main__")
        file = getattr(module, "__file__", None)
        if not in_main and file and code_snapshot.installed(Path(file).resolve()):
            return Code(fn, None, None)  # an installed package's: its version is recorded
        why = "defined in __main__ (a script or notebook)" if in_main else "a function object"
        return Code(fn, None, f"no code snapshot: {name} is {why} and runs as loaded in this process; "
                              "pass it as 'module:function' to run and record a snapshot")
    if not take:
        return Code(load_function(fn, base_dir, where), None, None)
    top = fn.split(":", 1)[0].split(".", 1)[0]
    if top in sys.modules:
        loaded = load_function(fn, base_dir, where)
        found = code_snapshot.loaded_from(getattr(sys.modules[top], "__file__", None))
        note = None if found else (f"no code snapshot: {top} is imported in this process already and runs as "
                                   "loaded; in a fresh process (or a notebook restarted) it is snapshotted")
        return Code(loaded, found, note)
    taken, why_not = code_snapshot.prepare(fn, base_dir, log_folder, max_mb, where)
    loaded = load_function(fn, base_dir, where, taken.code_path if taken else None)
    if taken is None:
        return Code(loaded, None, why_not)
    return Code(loaded, taken.hash, taken.describe() if taken.untracked else None, taken.describe())
