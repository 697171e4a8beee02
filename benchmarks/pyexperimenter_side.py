"""The PyExperimenter 1.4.2 side of `bench.py --compare-pyexperimenter`.

Runs under the interpreter of a separate environment that has `py-experimenter==1.4.2`
installed (bench.py creates it), never imports pyexperimenter, and prints one line
`BENCH_RESULT {json}`. The database (MariaDB) must exist already; bench.py creates it.

    python pyexperimenter_side.py '{"mode": "throughput", "provider": "mysql", "database": "...",
                                    "host": "127.0.0.1", "user": "root", "password": "",
                                    "n": 2000, "jobs": 16, "workdir": "/tmp/..."}'
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any


def noop(parameters: dict, result_processor: Any, custom_config: dict) -> None:
    """The no-op experiment, the same as ours."""
    return None


def write_files(spec: dict[str, Any], keyfields: dict[str, Any]) -> tuple[str, str]:
    import yaml

    workdir = spec["workdir"]
    config = {
        "PY_EXPERIMENTER": {
            "n_jobs": spec.get("jobs", 1),
            "Database": {
                "provider": spec["provider"],
                "database": spec["database"],
                "table": {"name": "bench", "keyfields": keyfields, "resultfields": {"r": "INT"}},
            },
        }
    }
    config_path = os.path.join(workdir, "experiment_configuration.yml")
    with open(config_path, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    credentials_path = os.path.join(workdir, "database_credentials.yml")
    with open(credentials_path, "w") as f:
        yaml.safe_dump(
            {
                "CREDENTIALS": {
                    "Database": {"user": spec.get("user", "root"), "password": spec.get("password", "")},
                    "Connection": {"Standard": {"server": spec.get("host", "127.0.0.1")}},
                }
            },
            f,
        )
    return config_path, credentials_path


def make(spec: dict[str, Any], keyfields: dict[str, Any]) -> Any:
    from py_experimenter.experimenter import PyExperimenter

    config_path, credentials_path = write_files(spec, keyfields)
    return PyExperimenter(
        experiment_configuration_file_path=config_path,
        database_credential_file_path=credentials_path,
        use_codecarbon=False,
        name="bench",
        log_level="ERROR",
    )


def status_counts(experimenter: Any) -> dict[str, int]:
    table = experimenter.get_table()
    return {str(k): int(v) for k, v in table["status"].value_counts().items()}


def throughput(spec: dict[str, Any]) -> dict[str, Any]:
    n = int(spec["n"])
    experimenter = make(spec, {"i": {"type": "INT", "values": {"start": 0, "stop": n}}})
    experimenter.fill_table_from_config()
    started = time.perf_counter()
    # bench.py may stop a long run after a time limit and count the done rows itself.
    with open(os.path.join(spec["workdir"], "started"), "w") as f:
        f.write(repr(time.time()))
    experimenter.execute(noop, n_jobs=int(spec["jobs"]), max_experiments=-1)
    seconds = time.perf_counter() - started
    counts = status_counts(experimenter)
    return {"n": n, "jobs": spec["jobs"], "seconds": seconds, "rate": counts.get("done", 0) / seconds, "counts": counts,
            "ok": counts.get("done", 0) == n}


def fill(spec: dict[str, Any]) -> dict[str, Any]:
    n = int(spec["n"])
    seeds = max(1, n // 1000)
    keyfields = {
        "dataset": {"type": "VARCHAR(255)", "values": [f"dataset{i}" for i in range(10)]},
        "seed": {"type": "INT", "values": {"start": 0, "stop": seeds}},
        "C": {"type": "DOUBLE", "values": [round(0.01 * i, 2) for i in range(100)]},
    }
    experimenter = make(spec, keyfields)
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    experimenter.fill_table_from_config()
    fill_seconds = time.perf_counter() - started
    started = time.perf_counter()
    experimenter.fill_table_from_config()
    refill_seconds = time.perf_counter() - started
    rows = sum(status_counts(experimenter).values())
    return {
        "n": seeds * 1000,
        "rows": rows,
        "fill_seconds": fill_seconds,
        "refill_seconds": refill_seconds,
        "base_rss_mib": base_kib / 1024,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "ok": rows == seeds * 1000,
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    os.chdir(spec["workdir"])
    import logging

    logging.disable(logging.WARNING)
    result = {"throughput": throughput, "fill": fill}[spec["mode"]](spec)
    from importlib.metadata import version

    result["version"] = version("py-experimenter")
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
