"""`pyexp init`: a runnable example, so a first experiment takes one minute."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import InputError

TEMPLATES = ("experiment.yml", "estimate.py")


def write_example(directory: str | Path, force: bool = False) -> list[Path]:
    target = Path(directory)
    existing = [target / name for name in TEMPLATES if (target / name).exists()]
    if existing and not force:
        raise InputError(f"{existing[0]} exists; use --force to overwrite")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TEMPLATES:
        text = resources.files("pyexperimenter").joinpath(f"templates/{name}").read_text()
        (target / name).write_text(text)
        written.append(target / name)
    return written
