"""PyExperimenter 1.4.2's notebook "Conditional Parameter Grids" as a script, migrated by one
import prefix: the rows are built per kernel and filled with `fill_table_from_combination`.
The notebook's random sleeps are left out."""

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


def run_svm(parameters: dict, result_processor: ResultProcessor, custom_config: dict):
    random.seed(parameters["seed"])
    np.random.seed(parameters["seed"])
    data = load_iris()
    svc = SVC()  # as in the notebook, whose kernel-specific SVC is overwritten
    model = make_pipeline(StandardScaler(), svc)
    if parameters["dataset"] != "iris":
        raise ValueError("Example error")
    scores = cross_validate(model, data.data, data.target, cv=parameters["cross_validation_splits"],
                            scoring=("accuracy", "f1_micro"), return_train_score=True)
    result_processor.process_results({"train_f1": np.mean(scores["train_f1_micro"]),
                                      "train_accuracy": np.mean(scores["train_accuracy"])})
    result_processor.process_results({"test_f1": np.mean(scores["test_f1_micro"]),
                                      "test_accuracy": np.mean(scores["test_accuracy"])})


def main() -> None:
    experimenter = PyExperimenter(
        experiment_configuration_file_path=os.path.join("config", "example_conditional_grid.yml"),
        name="SVM_experimenter_01", use_codecarbon=USE_CODECARBON)
    combinations = [{"kernel": "rbf", "gamma": gamma, "degree": None, "coef0": None} for gamma in ["0.1", "0.3"]]
    combinations += [{"kernel": "poly", "gamma": gamma, "degree": degree, "coef0": coef0}
                     for gamma in ["0.1", "0.3"] for degree in ["3", "4"] for coef0 in ["0.0", "0.1"]]
    combinations += [{"kernel": "linear", "gamma": None, "degree": None, "coef0": None}]
    experimenter.fill_table_from_combination(
        parameters={"seed": ["1", "2", "3", "4", "5"], "dataset": ["iris"], "cross_validation_splits": ["5"]},
        fixed_parameter_combinations=combinations)
    experimenter.execute(run_svm, max_experiments=-1)
    table = experimenter.get_table()
    print(table.groupby(["kernel"]).mean(numeric_only=True))
    frames = {"table": table}
    if USE_CODECARBON:
        frames["codecarbon"] = experimenter.get_codecarbon_table()
    summary(frames, {"table": ["kernel"]})


if __name__ == "__main__":
    main()
