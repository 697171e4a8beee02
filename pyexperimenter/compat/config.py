"""PyExperimenter 1.4's configuration objects (`py_experimenter.config`), as its users read them.

Scripts reach into `experimenter.config.database_configuration` for the table name, the
keyfields' value lists and the result columns, and into `custom_configuration.custom_values`;
PyExperimenter's own tests build `DatabaseCfg.extract_config(OmegaConf.load(...), logger)`.
These objects are a description, read from the same YAML the way 1.4.2 reads it (value
lists kept as written, `{start, stop, step}` expanded by numpy's arange, `<table>__<name>`
logtable keys). Our run does not read them back: changing one changes nothing in the table.
This module imports nothing of ours but the exceptions, so that `pyexperimenter.config` can
re-export its classes without an import cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import InvalidColumnError, InvalidLogtableError


def plain(value: Any) -> Any:
    """An OmegaConf node (or anything mapping- or list-like) as dicts and lists."""
    if isinstance(value, (str, bytes)):
        return value
    if hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return [plain(v) for v in value]
    return value


@dataclass
class Keyfield:
    name: str
    dtype: str
    values: list[Any] | None


class Cfg:
    """1.4.2's base: every section can say whether it is well formed."""

    logger: logging.Logger

    def valid(self) -> bool:
        return True


class DatabaseCfg(Cfg):
    def __init__(self, provider: str, use_ssh_tunnel: bool, database_name: str, table_name: str,
                 result_timestamps: bool, keyfields: dict[str, Keyfield], resultfields: dict[str, str],
                 logtables: dict[str, dict[str, str]], logger: logging.Logger) -> None:
        self.provider = provider
        self.use_ssh_tunnel = use_ssh_tunnel
        self.database_name = database_name
        self.table_name = table_name
        self.result_timestamps = result_timestamps
        self.keyfields = keyfields
        self.resultfields = resultfields
        self.logtables = logtables
        self.logger = logger

    @staticmethod
    def extract_config(config: Any, logger: logging.Logger) -> DatabaseCfg:
        root = plain(config)["PY_EXPERIMENTER"]
        db = root["Database"]
        table = db["table"]
        keyfields = {name: Keyfield(name, spec.get("type", "VARCHAR(255)"), _values(name, spec, logger))
                     for name, spec in (table.get("keyfields") or {}).items()}
        stamps, resultfields = _resultfields(table)
        logtables: dict[str, dict[str, str]] = {}
        for name, spec in (db.get("logtables") or {}).items():
            if not isinstance(spec, Mapping):
                raise InvalidLogtableError(f"Invalid logtable content for {name}")
            logtables[f"{table['name']}__{name}"] = dict(spec)
        return DatabaseCfg(db.get("provider"), bool(db.get("use_ssh", False)), db.get("database"), table["name"],
                           stamps, keyfields, resultfields, logtables, logger)

    def get_experiment_configuration(self) -> list[dict[str, Any]]:
        """Every combination of the keyfields' values (1.4.2's fill_table_from_config grid)."""
        from .utils import combine_fill_table_parameters

        names = list(self.keyfields)
        return combine_fill_table_parameters(names, {k: kf.values or [] for k, kf in self.keyfields.items()}, [])

    def valid(self) -> bool:
        return (self.provider in ("sqlite", "mysql") and isinstance(self.table_name, str)
                and all(isinstance(k, Keyfield) for k in self.keyfields.values())
                and all(name.startswith(self.table_name) for name in self.logtables))


def _values(name: str, spec: Mapping[str, Any], logger: logging.Logger) -> list[Any] | None:
    if "values" not in spec:
        logger.warning(f"No values given for keyfield {name}")
        return None
    values = spec["values"]
    if isinstance(values, Mapping):
        if "start" not in values or "stop" not in values:
            raise InvalidColumnError(f"Invalid keyfield values: {name}")
        import numpy as np

        return list(np.arange(values["start"], values["stop"], values.get("step", 1)).tolist())
    return list(values)


def _resultfields(table: Mapping[str, Any]) -> tuple[bool, dict[str, str]]:
    """1.4.2 lists `<field>_timestamp` after each field when result_timestamps is on."""
    fields = table.get("resultfields")
    if fields is None:
        return False, {}
    if not isinstance(fields, Mapping):
        raise InvalidColumnError(f"Invalid resultfields: {fields}")
    stamps = table.get("result_timestamps", False)
    if stamps not in (True, False):
        raise InvalidColumnError(f"Invalid result_timestamps: {stamps}")
    if not stamps:
        return False, dict(fields)
    out: dict[str, str] = {}
    for key, value in fields.items():
        out[key] = value
        out[f"{key}_timestamp"] = "VARCHAR(255)"
    return True, out


class CustomCfg(Cfg):
    def __init__(self, custom_values: dict[str, Any], logger: logging.Logger) -> None:
        self.custom_values = custom_values
        self.logger = logger

    @staticmethod
    def extract_config(config: Any, logger: logging.Logger) -> CustomCfg:
        return CustomCfg(dict(plain(config)["PY_EXPERIMENTER"].get("Custom") or {}), logger)

    def valid(self) -> bool:
        return isinstance(self.custom_values, dict)


class CodeCarbonCfg(Cfg):
    def __init__(self, config: dict[str, Any], logger: logging.Logger) -> None:
        self.config = config
        self.logger = logger

    @staticmethod
    def extract_config(config: Any, logger: logging.Logger) -> CodeCarbonCfg:
        return CodeCarbonCfg(dict(plain(config)["PY_EXPERIMENTER"].get("CodeCarbon") or {}), logger)

    def valid(self) -> bool:
        return isinstance(self.config, dict)


class PyExperimenterCfg:
    def __init__(self, n_jobs: int, database_configuration: DatabaseCfg, custom_configuration: CustomCfg,
                 codecarbon_configuration: CodeCarbonCfg, logger: logging.Logger) -> None:
        self.logger = logger
        self.n_jobs = n_jobs
        self.database_configuration = database_configuration
        self.custom_configuration = custom_configuration
        self.codecarbon_configuration = codecarbon_configuration

    @staticmethod
    def extract_config(config_path: str | Path, logger: logging.Logger) -> PyExperimenterCfg:
        import yaml

        data = yaml.safe_load(Path(config_path).read_text())
        return PyExperimenterCfg(int(data["PY_EXPERIMENTER"].get("n_jobs", 1)), DatabaseCfg.extract_config(data, logger),
                                 CustomCfg.extract_config(data, logger), CodeCarbonCfg.extract_config(data, logger),
                                 logger)

    def valid(self) -> bool:
        return all(c.valid() for c in (self.database_configuration, self.custom_configuration,
                                       self.codecarbon_configuration))


__all__ = ["CodeCarbonCfg", "CustomCfg", "DatabaseCfg", "Keyfield", "PyExperimenterCfg"]
