"""Mean test accuracy per dataset and model, over seeds, with the standard deviation as
error bars; saved as accuracy.png next to this file.

    python plot.py [CONFIG] [OUTPUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402

from pyexperimenter import Experimenter  # noqa: E402

HERE = Path(__file__).resolve().parent


def main(config: Path = HERE / "experiment.yml", output: Path = HERE / "accuracy.png") -> Path:
    with Experimenter(config) as exp:
        table = exp.results(group_by=["dataset", "model"], agg=["mean", "std"], columns=["accuracy"])
    datasets = list(dict.fromkeys(table["dataset"]))
    models = list(dict.fromkeys(table["model"]))
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, model in enumerate(models):
        rows = table[table["model"] == model].set_index("dataset").reindex(datasets)
        xs = [d + (i - (len(models) - 1) / 2) * width for d in range(len(datasets))]
        ax.bar(xs, rows["accuracy_mean"], width, yerr=rows["accuracy_std"], capsize=3, label=model)
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set_ylabel("test accuracy (mean ± std over seeds)")
    ax.set_ylim(0.85, 1.005)
    ax.set_title(f"scikit-learn grid: {int(table['n'].sum())} runs, mean over seeds")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(models), frameon=False)
    fig.tight_layout()
    fig.savefig(output, dpi=120)
    print(f"wrote {output}")
    return output


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:3]))
