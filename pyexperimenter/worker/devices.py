"""GPUs of one machine for `pyexp run --gpus`: which devices there are, and who gets which.

Each local worker is pinned with CUDA_VISIBLE_DEVICES to devices of its own, so N workers
on an N-GPU machine never share a card (frameworks use every visible device, or device 0,
unless told). `auto` asks `nvidia-smi -L` (the driver's own list), else takes the
CUDA_VISIBLE_DEVICES this process was given (a SLURM GPU allocation sets it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from ..errors import InputError

CUDA_VARIABLE = "CUDA_VISIBLE_DEVICES"
_GPU_LINE = re.compile(r"GPU (\d+):")


def detect(env: Mapping[str, str] | None = None) -> list[str]:
    """The devices of this machine: `nvidia-smi -L` indices, else CUDA_VISIBLE_DEVICES."""
    env = os.environ if env is None else env
    smi = shutil.which("nvidia-smi", path=env.get("PATH"))
    if smi is not None:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            out = None
        if out is not None and out.returncode == 0:
            found = [m.group(1) for m in map(_GPU_LINE.match, out.stdout.splitlines()) if m]
            if found:
                return found
    return _split(env.get(CUDA_VARIABLE, ""))


def _split(text: str) -> list[str]:
    return [d.strip() for d in text.split(",") if d.strip() and d.strip() != "-1"]


def resolve(spec: str, env: Mapping[str, str] | None = None) -> list[str]:
    """`--gpus`: `auto` or a comma-separated list of device ids (indices or UUIDs)."""
    if spec.strip() == "auto":
        found = detect(env)
        if not found:
            raise InputError(f"--gpus auto: no GPU found (no `nvidia-smi -L` devices and {CUDA_VARIABLE} is empty)")
        return found
    devices = _split(spec)
    if not devices or any(not re.fullmatch(r"[A-Za-z0-9:._-]+", d) for d in devices):
        raise InputError(f"--gpus: expected auto or device ids separated by commas (e.g. 0,1,2,3), got {spec!r}")
    if len(set(devices)) != len(devices):
        raise InputError(f"--gpus: a device is listed twice in {spec!r}")
    return devices


def assign(devices: Sequence[str], jobs: int, per_job: int = 1) -> list[str]:
    """Each worker's CUDA_VISIBLE_DEVICES: `per_job` devices of its own, none shared."""
    if per_job < 1:
        raise InputError(f"--gpus-per-job: expected a positive number, got {per_job}")
    need = jobs * per_job
    if need > len(devices):
        raise InputError(f"--gpus: {jobs} job(s) x {per_job} GPU(s) per job need {need} devices, "
                         f"only {len(devices)} given ({','.join(devices)}); lower --jobs or --gpus-per-job")
    return [",".join(devices[i * per_job:(i + 1) * per_job]) for i in range(jobs)]
