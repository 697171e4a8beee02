"""An example experiment: estimate pi by throwing random points at a square.

pyexperimenter calls `run(parameters, result_processor, custom_config)` once per table row.
Return a dict of results (columns declared under `results:`); raise to mark the run failed.
"""

import math
import random
import time


def run(parameters, result_processor, custom_config):
    rng = random.Random(parameters["seed"])
    n = parameters["samples"]
    started = time.perf_counter()
    inside = 0
    chunk = max(1, n // custom_config["report_every"])
    for i in range(n):
        if parameters["method"] == "stratified":
            # one point in each of n vertical strips: less variance than uniform sampling
            x = (i + rng.random()) / n
        else:
            x = rng.random()
        y = rng.random()
        inside += x * x + y * y <= 1.0
        if (i + 1) % chunk == 0:
            result_processor.process_logs({"progress": {"samples_so_far": i + 1, "estimate": 4 * inside / (i + 1)}})
    estimate = 4 * inside / n
    return {"estimate": estimate, "abs_error": abs(estimate - math.pi), "seconds": time.perf_counter() - started}
