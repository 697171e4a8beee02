"""Native config files for tests: one experiment table, small defaults, fast heartbeats."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ConfigMaker = Callable[..., Path]


def config_maker(folder: Path, db_url: str) -> ConfigMaker:
    """A function writing a config into `folder`; keyword sections replace the defaults."""

    def make(name: str = "exp", file: str = "experiment.yml", **sections: Any) -> Path:
        experiment = {"name": name, "heartbeat_seconds": 1, "stale_after_seconds": 5}
        experiment.update(sections.pop("experiment", {}))
        data: dict[str, Any] = {
            "experiment": experiment,
            "database": {"url": db_url},
            "parameters": sections.pop("parameters", {"x": {"start": 0, "stop": 10}, "y": ["a", "b"]}),
            "results": sections.pop("results", {"value": "DOUBLE", "label": "VARCHAR(64)"}),
        }
        data.update(sections)
        path = folder / file
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return make
