"""What PyExperimenter's notebooks show, written as JSON for the comparison test.

Shared by the four examples/pyexperimenter_*/run.py scripts, and imported by the same
scripts under 1.4.2 (tests/acceptance/test_pyexperimenter_notebooks.py), so it uses neither
package: only the frames it is given.
"""

import json
import os


def summary(frames: dict, group_by: dict) -> None:
    """Rows, columns, dtypes and grouped means of each frame, into the file $EXAMPLE_SUMMARY names."""
    out = {}
    for name, frame in frames.items():
        means = frame.groupby(group_by[name]).mean(numeric_only=True) if name in group_by else None
        out[name] = {"rows": len(frame), "columns": list(frame.columns),
                     "dtypes": {c: str(t) for c, t in frame.dtypes.items()},
                     "means": None if means is None else json.loads(means.to_json(orient="index"))}
    if os.environ.get("EXAMPLE_SUMMARY"):
        with open(os.environ["EXAMPLE_SUMMARY"], "w") as f:
            json.dump(out, f, indent=1)
