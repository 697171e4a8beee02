"""Where things are, whichever tier a test lives in."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent  # on PYTHONPATH for workers: `experiments:...`
ROOT = TESTS.parent
DATA = TESTS / "data"
