"""CodeCarbon tracking around the experiment call (`codecarbon: true`, or PyExperimenter's
`use_codecarbon=True`): one `<table>_codecarbon` row per run, written under the run's claim.

CodeCarbon is an optional extra (`pip install 'pyexperimenter[codecarbon]'`). Its offline
tracker is used, so compute nodes without network access measure too. When tracking is off
or the extra is missing, `tracked` hands back the function itself: nothing is added to a run.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Mapping
from typing import Any

from ..config import ExperimentConfig
from ..store.schema import CODECARBON_FIELDS
from .function import ExperimentFunction

log = logging.getLogger("pyexperimenter")

DEFAULT_COUNTRY = "USA"  # the offline tracker needs a country for its carbon intensity
# Options of the `CodeCarbon:` section handed to the tracker; the others (offline_mode,
# output_dir, ...) make no sense for a tracker that writes to the table only.
TRACKER_OPTIONS = frozenset({"country_iso_code", "region", "cloud_provider", "cloud_region", "measure_power_secs",
                             "tracking_mode", "project_name", "pue", "gpu_ids"})


def available() -> bool:
    return importlib.util.find_spec("codecarbon") is not None


def tracked(config: ExperimentConfig, fn: ExperimentFunction) -> ExperimentFunction:
    """`fn`, measured by CodeCarbon if the config asks for it and the extra is installed."""
    if not config.codecarbon or not available():
        return fn
    options = {k: v for k, v in config.codecarbon_options.items() if k in TRACKER_OPTIONS}
    options.setdefault("country_iso_code", DEFAULT_COUNTRY)

    def measured(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> Any:
        from codecarbon import OfflineEmissionsTracker

        with warnings.catch_warnings():  # codecarbon 3 deprecates save_to_file, whose default is True
            warnings.simplefilter("ignore", DeprecationWarning)
            tracker = OfflineEmissionsTracker(log_level="error", save_to_file=False, **options)
        tracker.start()
        try:
            returned = fn(parameters, result_processor, custom)
        except Exception:
            _save(tracker, result_processor)  # failed runs are measured too, as PyExperimenter did
            raise
        except BaseException:  # interrupted: stop measuring, write nothing
            tracker.stop()
            raise
        _save(tracker, result_processor)
        return returned

    return measured


def _save(tracker: Any, result_processor: Any) -> None:
    tracker.stop()
    data = getattr(tracker, "final_emissions_data", None)
    if data is None:
        log.warning("codecarbon measured nothing for experiment %s", result_processor.experiment_id)
        return
    result_processor.process_emissions(emissions_row(data.values))


def emissions_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """codecarbon's EmissionsData as a row of `<table>_codecarbon` (PyExperimenter's names)."""
    row = {column: values.get(field) for column, field in CODECARBON_FIELDS.items()}
    row["offline_mode"] = True
    return row
