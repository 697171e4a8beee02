"""The one packaging fact pyproject.toml cannot state: the package list is the packages found
under pyexperimenter/ plus pyexperimenter.slurm_templates, which is the repository's top-level
slurm_templates/ folder (mapped in pyproject.toml). Everything else is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

setup(packages=[*find_namespace_packages(include=["pyexperimenter*"]), "pyexperimenter.slurm_templates"])
