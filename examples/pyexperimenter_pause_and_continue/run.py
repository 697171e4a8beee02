"""PyExperimenter 1.4.2's notebook "Pause and Continue" as a script, migrated by one import
prefix: one experiment runs a first function that pauses it, then a second that finishes it.
The notebook's sleeps of 5 s are left out."""

import datetime
import json
import os
import random

import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from pyexperimenter.experimenter import ExperimentStatus, PyExperimenter
from pyexperimenter.result_processor import ResultProcessor

USE_CODECARBON = os.environ.get("EXAMPLE_CODECARBON", "1") == "1"


def pause(parameters: dict, result_processor: ResultProcessor, custom_config: dict):
    result_processor.process_results({"paused_at_seconds": datetime.datetime.now().timestamp()})
    return ExperimentStatus.PAUSED


def resume(parameters: dict, result_processor: ResultProcessor, custom_config: dict):
    result_processor.process_results({"resumed_at_seconds": datetime.datetime.now().timestamp()})
    random.seed(parameters["seed"])
    np.random.seed(parameters["seed"])
    data = load_iris()
    model = make_pipeline(StandardScaler(), SVC(kernel=parameters["kernel"], gamma="auto"))
    result_processor.process_results({"pipeline": str(model)})
    scores = cross_validate(model, data.data, data.target, cv=parameters["cross_validation_splits"],
                            scoring=("accuracy", "f1_micro"), return_train_score=True)
    result_processor.process_results({"train_f1": np.mean(scores["train_f1_micro"]),
                                      "train_accuracy": np.mean(scores["train_accuracy"])})
    result_processor.process_results({"test_f1": np.mean(scores["test_f1_micro"]),
                                      "test_accuracy": np.mean(scores["test_accuracy"])})


def summary(frames: dict, group_by: dict) -> None:
    """What the notebook shows, as JSON in $EXAMPLE_SUMMARY: rows, columns, dtypes and grouped means."""
    out = {}
    for name, frame in frames.items():
        means = frame.groupby(group_by[name]).mean(numeric_only=True) if name in group_by else None
        out[name] = {"rows": len(frame), "columns": list(frame.columns),
                     "dtypes": {c: str(t) for c, t in frame.dtypes.items()},
                     "means": None if means is None else json.loads(means.to_json(orient="index"))}
    if os.environ.get("EXAMPLE_SUMMARY"):
        with open(os.environ["EXAMPLE_SUMMARY"], "w") as f:
            json.dump(out, f, indent=1)


def main() -> None:
    experimenter = PyExperimenter(
        experiment_configuration_file_path=os.path.join("config", "example_pause_and_continue.yml"),
        name="example_notebook", use_codecarbon=USE_CODECARBON)
    experimenter.fill_table_from_config()
    experimenter.execute(pause, max_experiments=1)
    paused = experimenter.get_table()
    experimenter.unpause_experiment(1, resume)
    frames = {"paused": paused, "table": experimenter.get_table()}
    print(frames["table"])
    if USE_CODECARBON:
        frames["codecarbon"] = experimenter.get_codecarbon_table()
    summary(frames, {"paused": ["status"], "table": ["status"]})


if __name__ == "__main__":
    main()
