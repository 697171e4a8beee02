"""launch/slurm.py submits our rendered sbatch script through two private hooks of submitit
1.5.x (no public API submits a script of one's own; the reason is beside ScriptExecutor).
This pins what they rely on: the range in pyproject.toml, the installed release, and the
hooks' names and parameters, so that a new submitit fails here, by name, and not on a cluster."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version

from packaging.requirements import Requirement
from support.paths import ROOT

from pyexperimenter.launch import slurm


def test_pyproject_pins_the_submitit_releases_the_executor_was_written_against() -> None:
    text = (ROOT / "pyproject.toml").read_text()  # no tomllib on Python 3.10
    [submitit] = [Requirement(d) for d in re.findall(r'^\s*"(submitit\b[^"]*)"', text, re.M)]
    assert submitit.specifier == Requirement(f"submitit{slurm.SUBMITIT_VERSIONS}").specifier
    assert submitit.specifier.contains(version("submitit"))
    assert not submitit.specifier.contains("1.6.0")  # a new minor release is reviewed before it is allowed


def test_the_private_hooks_are_there_with_the_parameters_used() -> None:
    import submitit
    from submitit.core.core import PicklingExecutor

    executor = slurm.script_executor_class()
    assert issubclass(executor, submitit.SlurmExecutor)
    assert list(inspect.signature(PicklingExecutor._submit_command).parameters) == ["self", "command"]
    hook = PicklingExecutor._make_submission_file_text
    assert getattr(hook, "__isabstractmethod__", False)  # the hook submitit expects subclasses to fill
    assert list(inspect.signature(hook).parameters) == ["self", "command", "uid"]
    assert list(inspect.signature(executor._make_submission_file_text).parameters) == ["self", "command", "uid"]
    # the script is kept as <job id>_submission.sh: the name submitit gives it
    paths = submitit.core.utils.JobPaths("/logs", job_id="4201")
    assert paths.submission_file.name == "4201_submission.sh"
