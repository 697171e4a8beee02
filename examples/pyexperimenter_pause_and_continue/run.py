"""PyExperimenter 1.4.2's notebook "Pause and Continue" as a script, migrated by one import
prefix: one experiment runs a first function that pauses it, then a second that finishes it.
The notebook's sleeps of 5 s are left out."""

import datetime
import os
import random
import sys

import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from pyexperimenter.experimenter import ExperimentStatus, PyExperimenter
from pyexperimenter.result_processor import ResultProcessor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # examples/
from notebook_summary import summary  # noqa: E402

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
