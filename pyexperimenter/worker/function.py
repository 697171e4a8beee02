"""The experiment function: its signature, and importing it from `module:function`."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def load_function(spec: str, base_dir: Path | None = None, where: str = "experiment.function") -> ExperimentFunction:
    """Import `module:function`, with the config's folder and the current folder importable,
    so an experiment module next to the config works without installing it."""
    if ":" not in spec:
        raise InputError(f"{where}: expected 'module:function', got {spec!r}")
    module_name, attr = spec.split(":", 1)
    for folder in (os.getcwd(), str(base_dir) if base_dir else None):
        if folder and folder not in sys.path:
            sys.path.insert(0, folder)
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
