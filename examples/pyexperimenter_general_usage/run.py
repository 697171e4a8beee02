"""PyExperimenter 1.4.2's notebook "General Usage" as a script, migrated by one import prefix.

Fill from the config plus one failing row, run everything, add-and-run one more row, reset
the failed one, run again, aggregate results and emissions. Run it here: `python run.py`.
"""

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
    random.seed(seed)
    np.random.seed(seed)
    data = load_iris()
    X, y = data.data, data.target
    model = make_pipeline(StandardScaler(), SVC(kernel=parameters["kernel"], gamma="auto"))
    result_processor.process_results({"pipeline": str(model)})
    if parameters["dataset"] != "iris":
        raise ValueError("Example error")
    scores = cross_validate(model, X, y, cv=parameters["cross_validation_splits"],
                            scoring=("accuracy", "f1_micro"), return_train_score=True)
    result_processor.process_results({"train_f1": np.mean(scores["train_f1_micro"]),
                                      "train_accuracy": np.mean(scores["train_accuracy"])})
    result_processor.process_results({"test_f1": np.mean(scores["test_f1_micro"]),
                                      "test_accuracy": np.mean(scores["test_accuracy"])})


def main() -> None:
    experimenter = PyExperimenter(experiment_configuration_file_path=os.path.join("config", "example_general_usage.yml"),
                                  name="example_notebook", use_codecarbon=USE_CODECARBON)
    experimenter.fill_table_from_config()
    experimenter.fill_table_with_rows(rows=[
        {"dataset": "error_dataset", "cross_validation_splits": 3, "seed": 42, "kernel": "linear"}])
    experimenter.execute(run_ml, max_experiments=-1)
    experimenter.add_experiment_and_execute({"dataset": "iris", "cross_validation_splits": 5, "seed": 17,
                                             "kernel": "linear"}, run_ml)
    experimenter.reset_experiments("error")
    experimenter.execute(run_ml, max_experiments=-1)
    table = experimenter.get_table()
    print(table.groupby(["dataset"]).mean(numeric_only=True))
    frames = {"table": table}
    if USE_CODECARBON:
        carbon = experimenter.get_codecarbon_table()
        print(carbon.groupby(["project_name"]).sum(numeric_only=True)[["energy_consumed_kw", "emissions_kg"]])
        frames["codecarbon"] = carbon
    summary(frames, {"table": ["dataset"]})


if __name__ == "__main__":
    main()
