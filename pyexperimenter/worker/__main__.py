"""`python -m pyexperimenter.worker ...`: the command line of every SLURM array task."""

from __future__ import annotations

import atexit
import os
import sys

from .node import main
from .strays import threads_left

code = main()
if threads_left():
    # An experiment's non-daemon thread would keep this process, and its allocation, alive
    # after the worker has finished and said so (strays.py): end it as exiting would,
    # without the wait for those threads.
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
sys.exit(code)
