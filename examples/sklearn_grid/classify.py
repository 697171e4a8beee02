"""One run of the grid: split a scikit-learn dataset, fit a model, score it on the test part."""

from __future__ import annotations

import time
from typing import Any

from sklearn import datasets
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

LOADERS = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
}


def make_model(name: str, seed: int) -> Any:
    if name == "logistic_regression":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if name == "random_forest":
        return RandomForestClassifier(n_estimators=50, random_state=seed, n_jobs=1)
    if name == "svm":
        return make_pipeline(StandardScaler(), SVC(random_state=seed))
    raise ValueError(f"unknown model {name!r}")


def run(parameters: dict[str, Any], result_processor: Any, custom_config: dict[str, Any]) -> dict[str, Any]:
    X, y = LOADERS[parameters["dataset"]](return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=custom_config["test_size"], stratify=y, random_state=parameters["seed"]
    )
    model = make_model(parameters["model"], parameters["seed"])
    started = time.perf_counter()
    model.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - started
    predicted = model.predict(X_test)
    return {
        "accuracy": accuracy_score(y_test, predicted),
        "f1_macro": f1_score(y_test, predicted, average="macro"),
        "fit_seconds": fit_seconds,
        "n_train": len(y_train),
    }
