"""PyExperimenter 1.4.2's notebook "Usage of Logtables" as a script, migrated by one import
prefix: each run logs every kernel's scores into three log tables and keeps the best kernel."""

import os
import random
import sys

import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from pyexperimenter.experimenter import PyExperimenter
from pyexperimenter.result_processor import ResultProcessor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # examples/
from notebook_summary import summary  # noqa: E402

USE_CODECARBON = os.environ.get("EXAMPLE_CODECARBON", "1") == "1"


def run_ml(parameters: dict, result_processor: ResultProcessor, custom_config: dict):
    seed = parameters["seed"]
    best = {"f1": (0.0, ""), "accuracy": (0.0, "")}
    for kernel in ["linear", "poly", "rbf", "sigmoid"]:
        random.seed(seed)
        np.random.seed(seed)
        data = load_iris()
        model = make_pipeline(StandardScaler(), SVC(kernel=kernel, gamma="auto"))
        scores = cross_validate(model, data.data, data.target, cv=parameters["cross_validation_splits"],
                                scoring=("accuracy", "f1_micro"), return_train_score=True)
        result_processor.process_logs({
            "train_scores": {"f1": np.mean(scores["train_f1_micro"]), "accuracy": np.mean(scores["train_accuracy"]),
                             "kernel": "'" + kernel + "'"},
            "test_f1": {"test_f1": np.mean(scores["test_f1_micro"])},
            "test_accuracy": {"test_accuracy": np.mean(scores["test_accuracy"])},
        })
        if np.mean(scores["test_f1_micro"]) > best["f1"][0]:
            best["f1"] = (np.mean(scores["test_f1_micro"]), kernel)
        if np.mean(scores["test_accuracy"]) > best["accuracy"][0]:
            best["accuracy"] = (np.mean(scores["test_accuracy"]), kernel)
    result_processor.process_results({"best_kernel_f1": best["f1"][1], "best_kernel_accuracy": best["accuracy"][1]})


def main() -> None:
    experimenter = PyExperimenter(experiment_configuration_file_path=os.path.join("config", "example_logtables.yml"),
                                  name="example_notebook", use_codecarbon=USE_CODECARBON)
    experimenter.fill_table_from_config()
    experimenter.execute(run_ml, max_experiments=-1)
    frames = {"table": experimenter.get_table()}
    for name in ("train_scores", "test_f1", "test_accuracy"):
        frames[name] = experimenter.get_logtable(name)
        print(frames[name])
    if USE_CODECARBON:
        frames["codecarbon"] = experimenter.get_codecarbon_table()
    summary(frames, {"table": ["dataset"], "train_scores": ["kernel"], "test_f1": ["experiment_id"],
                     "test_accuracy": ["experiment_id"]})


if __name__ == "__main__":
    main()
