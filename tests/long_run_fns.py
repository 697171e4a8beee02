"""A resumable experiment for the long-run tests (docs/long-runs.md): `steps` seconds of
work, one step a second, its progress saved every few steps in both places a long run
may keep it (the state dict and a file in its checkpoint directory); on a stop request it
saves and asks to be requeued. Every attempt appends a line to `custom["record"]`."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from pyexperimenter import Requeue


def expected_total(steps: int, x: int) -> int:
    """What an uninterrupted run returns."""
    return sum(s * s + x for s in range(1, steps + 1))


def count_slowly(parameters: dict[str, Any], result_processor: Any, custom: dict[str, Any]) -> dict[str, Any]:
    steps, every, x = int(custom["steps"]), int(custom.get("every", 3)), int(parameters["x"])
    state = result_processor.state
    step, total = int(state.get("step", 0)), int(state.get("total", 0))
    progress = result_processor.checkpoint_dir / "progress.json"
    on_disk = json.loads(progress.read_text()) if progress.exists() else {"step": 0, "total": 0}
    if on_disk != {"step": step, "total": total}:
        raise RuntimeError(f"the checkpoint file {on_disk} disagrees with the saved state {state}")
    with open(custom["record"], "a") as f:
        print(result_processor.experiment_id, result_processor.attempt, step, os.environ.get("SLURM_JOB_ID", "-"),
              os.environ.get("SLURM_RESTART_COUNT", "0"), file=f, flush=True)

    def save() -> None:
        tmp = progress.with_suffix(".tmp")
        tmp.write_text(json.dumps({"step": step, "total": total}))
        tmp.replace(progress)
        result_processor.save_state({"step": step, "total": total})

    while step < steps:
        if result_processor.stop_requested:
            save()
            raise Requeue(f"stop requested at step {step}: saved")
        time.sleep(1)
        step += 1
        total += step * step + x
        if step % every == 0:
            save()
    return {"total": total, "steps": step}
