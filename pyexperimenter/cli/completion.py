"""`pyexp completion SHELL`: click's completion script, with the shell guessed from $SHELL."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import InputError
from .group import main

SHELLS = ("bash", "zsh", "fish")


@main.command()
@click.argument("shell", required=False, type=click.Choice(SHELLS))
def completion(shell: str | None) -> None:
    """Print the shell completion script for SHELL (bash, zsh or fish; default: $SHELL).

    \b
    bash:  eval "$(pyexp completion bash)"                  # in ~/.bashrc
    zsh:   eval "$(pyexp completion zsh)"                   # in ~/.zshrc
    fish:  pyexp completion fish > ~/.config/fish/completions/pyexp.fish

    The same scripts come from click directly: _PYEXP_COMPLETE=bash_source pyexp
    """
    from click.shell_completion import get_completion_class

    if shell is None:
        shell = Path(os.environ.get("SHELL", "")).name
        if shell not in SHELLS:
            raise InputError(f"cannot tell the shell from $SHELL ({shell or 'unset'}); give one of {', '.join(SHELLS)}")
    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(main, {}, "pyexp", "_PYEXP_COMPLETE").source())
