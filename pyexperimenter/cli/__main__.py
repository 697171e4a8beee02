"""`python -m pyexperimenter.cli`: the same as `pyexp`."""

from . import main

main()
