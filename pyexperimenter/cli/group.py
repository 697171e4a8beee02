"""The `pyexp` group: one line on stderr and the documented exit code for every error,
`--debug` for the traceback, and our log lines on stderr."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from .. import __version__
from ..errors import PyexpError


class _Group(click.Group):
    """Turns every error into one line on stderr and the documented exit code:
    2 for bad input (config, flags, database, credentials), 1 when the work failed."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        logger = logging.getLogger("pyexperimenter")
        saved = (logger.level, logger.propagate, list(logger.handlers))
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            command = e.ctx.command_path if e.ctx is not None else "pyexp"
            click.echo(f"{command}: error: {e.format_message().rstrip('.')} (see `{command} --help`)", err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(f"pyexp: error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("pyexp: aborted", err=True)
            sys.exit(1)
        finally:  # in-process callers (tests, notebooks) get their logging back untouched
            logger.setLevel(saved[0])
            logger.propagate = saved[1]
            logger.handlers[:] = saved[2]
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("pyexp: interrupted", err=True)
            ctx.exit(130)
        except PyexpError as e:
            if ctx.meta.get("pyexp.debug"):
                traceback.print_exc()
            click.echo(f"pyexp: error: {e}", err=True)
            ctx.exit(e.exit_code)
        except OSError as e:
            if ctx.meta.get("pyexp.debug"):
                traceback.print_exc()
            click.echo(f"pyexp: error: {_os_error(e)}", err=True)
            ctx.exit(2 if isinstance(e, _BAD_PATH) and e.filename is not None else 1)  # a path given: bad input
        except MemoryError:
            click.echo("pyexp: error: out of memory (a limit in the config, e.g. experiment.max_grid_rows, "
                       "may be set too high)", err=True)
            ctx.exit(1)
        except Exception as e:  # a bug or an unexpected database error: still one line
            if ctx.meta.get("pyexp.debug"):
                traceback.print_exc()
            first = str(e).splitlines()[0][:300] if str(e) else ""  # one line, never a 10 MB one
            hint = "" if ctx.meta.get("pyexp.debug") else " (run `pyexp --debug ...` for the traceback)"
            click.echo(f"pyexp: error: {type(e).__name__}: {first}{hint}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="pyexp", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, envvar="PYEXP_DEBUG", help="Show the traceback of an error [env PYEXP_DEBUG=1].")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Define experiments as rows of a table; run them locally or on SLURM; lose nothing.

    \b
    Typical use:
      pyexp init demo && cd demo
      pyexp fill experiment.yml      # one row per parameter combination
      pyexp run experiment.yml -j 4  # local workers drain the table
      pyexp status experiment.yml
      pyexp results experiment.yml --group-by method --agg mean

    Every command that reads a config takes --db URL (or PYEXP_DB_URL) to use another
    database. Exit codes: 0 success, 1 the work failed, 2 bad input. Shell completion:
    `pyexp completion --help`.
    """
    ctx.meta["pyexp.debug"] = debug
    _setup_logging(logging.DEBUG if debug else logging.ERROR)


_BAD_PATH = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


def _os_error(e: OSError) -> str:
    """`path: what went wrong`, as the shell says it (no errno, no exception class)."""
    if e.filename is None:
        return f"{type(e).__name__}: {e.strerror or e}"
    where = f"{e.filename} -> {e.filename2}" if e.filename2 is not None else str(e.filename)
    hint = " (its folder does not exist)" if isinstance(e, FileNotFoundError) else ""
    return f"{where}: {(e.strerror or str(e)).lower()}{hint}"


def _setup_logging(level: int) -> None:
    """Our log lines on stderr, prefixed. Commands start quiet (a failure is reported as one
    line, not preceded by retry chatter); `run` turns warnings on once its workers start."""
    logger = logging.getLogger("pyexperimenter")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("pyexp[%(process)d]: %(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (click's test runner swaps it), but never
    into an attempt's captured output: a tee'd stderr's own stream gets it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from ..worker.output import real_stream  # here: importing the worker package costs `pyexp --help` 0.1 s

            click.echo(self.format(record), file=real_stream(sys.stderr))
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def log_warnings(ctx: click.Context) -> None:
    """From here on show warnings (requeued or refused rows), unless --debug shows more."""
    if not ctx.meta.get("pyexp.debug"):
        logging.getLogger("pyexperimenter").setLevel(logging.WARNING)
