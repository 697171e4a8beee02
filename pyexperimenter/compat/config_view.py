"""`experimenter.config` for both readers: our ExperimentConfig, which the runs use, carrying
1.4.2's PyExperimenterCfg beside it for scripts that read `config.database_configuration`,
`config.custom_configuration.custom_values` or `config.codecarbon_configuration`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..config import ExperimentConfig
from .config import CodeCarbonCfg, CustomCfg, DatabaseCfg, PyExperimenterCfg


@dataclass(frozen=True)
class PyExperimenterConfig(ExperimentConfig):
    """Our config with 1.4.2's sections as read-only descriptions (changing them changes no
    run: the table name, say, is the constructor's `table_name=`)."""

    pyexperimenter: PyExperimenterCfg | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, config: ExperimentConfig, legacy: PyExperimenterCfg) -> PyExperimenterConfig:
        values: dict[str, Any] = {f.name: getattr(config, f.name) for f in fields(config)}
        return cls(**values, pyexperimenter=legacy)

    def legacy(self) -> PyExperimenterCfg:
        assert self.pyexperimenter is not None
        return self.pyexperimenter

    @property
    def database_configuration(self) -> DatabaseCfg:
        return self.legacy().database_configuration

    @property
    def custom_configuration(self) -> CustomCfg:
        return self.legacy().custom_configuration

    @property
    def codecarbon_configuration(self) -> CodeCarbonCfg:
        return self.legacy().codecarbon_configuration

    def valid(self) -> bool:
        return self.legacy().valid()
