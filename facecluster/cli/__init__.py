"""Command line: parses options, builds a config, calls the library. Subcommands live in sibling modules,
each exporting COMMANDS (a list of click commands)."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import traceback

import click

from .. import __version__
from ..errors import FaceclusterError

SUBCOMMAND_MODULES = ["run", "models_cmd", "backends_cmd", "similarity_cmd", "evaluate_cmd", "results_cmd", "serve_cmd",
                      "batch_cmd", "library_cmd"]


class FaceclusterGroup(click.Group):
    """Turns library errors into one line on stderr and their exit code (traceback with FACECLUSTER_DEBUG=1)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FaceclusterError as exc:
            if os.environ.get("FACECLUSTER_DEBUG"):
                traceback.print_exc()
            click.echo(f"facecluster: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _interrupted()
        except ImportError as exc:
            # a signal that lands while an extension module initialises surfaces as its ImportError
            if not _caused_by_interrupt(exc):
                raise
            _interrupted()


def _interrupted():
    click.echo("facecluster: interrupted; nothing was half-written. Run the same command again to continue "
               "(a run picks up where it stopped)", err=True)
    sys.exit(130)


def _caused_by_interrupt(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _stop_on_signal(signum, frame):
    raise KeyboardInterrupt  # same clean stop as Ctrl-C: checkpoints are kept, commits finish or roll back


def setup_signals() -> None:
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop_on_signal)


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else
                                           logging.WARNING)
    logger = logging.getLogger("facecluster")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)


@click.group(cls=FaceclusterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="facecluster")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no progress bars.")
@click.pass_context
def main(ctx, verbose, quiet):
    """Who is in this video? Group the people that appear in videos.

    Exit codes: 0 ok, 1 other error, 2 bad option/config, 3 bad input, 4 model problem,
    5 output problem, 6 missing optional package, 130 interrupted.
    """
    setup_logging(verbose, quiet)
    setup_signals()
    ctx.obj = {"quiet": quiet, "verbose": verbose}


for _name in SUBCOMMAND_MODULES:
    try:
        _module = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"{__name__}.{_name}":
            raise
        continue
    for _command in _module.COMMANDS:
        main.add_command(_command)
