"""`facecluster batch INPUTS... -o ARCHIVE_DIR`: many episodes on Ray."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..config import build_config
from ..text import plural
from .options import config_options, overrides_from


def _without(name: str):
    """Drop the config option `name` from a command (batch's --workers counts episodes, not threads: each
    episode runs on one thread)."""
    def deco(func):
        func.__click_params__ = [p for p in getattr(func, "__click_params__", []) if p.name != name]
        return func
    return deco


@click.command("batch")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "archive", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Archive folder: one output folder per episode inside it (named after the video file), plus "
                   "batch-summary.csv and batch-summary.json.")
@click.option("--address", default=None, metavar="ADDRESS",
              help="Join a running Ray cluster: 'auto' (the one started on this machine with `ray start`) or "
                   "ray://HEAD:10001. [default: start a local Ray with this machine's cores]")
@click.option("--workers", "parallel", type=click.IntRange(0, 100000), default=0,
              help="Episodes processed at once, each on one core. [default: 0 = every core of this machine]")
@click.option("--library", "library", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="People library (`facecluster library`): name the people it recognises in every episode.")
@click.option("-p", "--profile", default=None,
              help="Shipped settings to start from, as for `run`: builtin (default) or fast (run `facecluster models "
                   "download --profile fast` once).")
@click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML config file on top of the profile; command-line options override both.")
@_without("workers")
@config_options
@click.pass_context
def batch_cmd(ctx, inputs, archive, address, parallel, library, profile, config_file, **options):
    """Run every video of INPUTS (files or folders of videos) into ARCHIVE_DIR, one Ray task per episode.

    Running the same command again skips the episodes already done with the same video content and
    settings (with --library, the library names their people again without the video), retries the
    failed ones and continues interrupted ones from their checkpoints. A bad file
    fails alone; its reason is in ARCHIVE_DIR/batch-summary.csv. Needs Ray: pip install 'facecluster[ray]'.
    Exit code 1 when an episode failed."""
    from .. import profiles
    from ..batch import SUMMARY_CSV, run_batch

    base = profiles.load(profile).to_dict() if profile else None
    config = build_config(config_file, overrides_from(options), base=base)
    quiet = ctx.obj.get("quiet", False)
    result = run_batch(inputs, archive, config, address=address, workers=parallel, library=library,
                       progress=not quiet)
    episodes = result["episodes"]
    failed = [e for e in episodes if e["status"] == "failed"]
    if not quiet:
        for e in episodes:
            extra = ""
            if e["status"] in ("done", "skipped") and e.get("people") is not None:
                extra = plural(e["people"], "person", "people")
                if e.get("named_by_library"):
                    extra += f", {e['named_by_library']} named by the library"
            elif e.get("reason"):
                extra = e["reason"]
            click.echo(f"  {e['status']:<8} {e['episode']}: {extra}")
        c = result["counts"]
        click.echo(f"{c['done']} done, {c['skipped']} already done, {c['failed']} failed -> {archive / SUMMARY_CSV}")
    if failed:
        click.echo(f"facecluster: {len(failed)} of {len(episodes)} episode(s) failed; see {archive / SUMMARY_CSV}",
                   err=True)
        sys.exit(1)


COMMANDS = [batch_cmd]
