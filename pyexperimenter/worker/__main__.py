"""`python -m pyexperimenter.worker ...`: the command line of every SLURM array task."""

from __future__ import annotations

import sys

from .node import main

sys.exit(main())
