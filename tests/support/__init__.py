"""Helpers the tests import (the `tests` folder is on sys.path through pyproject's pytest
`pythonpath`); conftest.py only turns some of them into fixtures."""
