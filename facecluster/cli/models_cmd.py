"""`facecluster models list|download|verify` and `facecluster backends`."""

from __future__ import annotations

from pathlib import Path

import click

from .. import models as registry
from ..errors import ModelError


@click.group("models")
def models_group():
    """Model files: where they are, fetch them, check them."""


@models_group.command("list")
@click.option("--models-dir", type=click.Path(file_okay=False), default=None, help="Extra folder to look in.")
def list_cmd(models_dir):
    """Every known model, its task and where it was found (or how to get it)."""
    for spec in registry.REGISTRY.values():
        path, _ = registry.locate(spec, models_dir)
        where = str(path) if path else "missing"
        click.echo(f"{spec.name:<24} {spec.task:<18} {spec.file:<42} {where}")


@models_group.command("download")
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every model that has a direct download.")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to save into [default: user cache, see `models list`].")
@click.option("--mirror", default=None, help="Base URL tried first as MIRROR/FILE (or $FACECLUSTER_MODEL_MIRROR).")
@click.pass_context
def download_cmd(ctx, names, all_, dest, mirror):
    """Download models by name, verified by sha256, with progress."""
    from tqdm import tqdm

    if all_:
        names = [s.name for s in registry.REGISTRY.values() if s.urls and not s.package]
    if not names:
        raise click.UsageError("name at least one model, or pass --all (see `facecluster models list`)")
    quiet = ctx.obj.get("quiet", False)
    for name in names:
        spec = registry.get_spec(name)
        with tqdm(desc=spec.file, unit="B", unit_scale=True, disable=quiet, leave=False) as bar:
            def progress(done, total, bar=bar):
                bar.total = total
                bar.update(done - bar.n)
            path = registry.download(name, dest, mirror=mirror, progress=progress)
        if not quiet:
            click.echo(f"{spec.name}: {path}")


@models_group.command("verify")
@click.argument("names", nargs=-1)
@click.option("--models-dir", type=click.Path(file_okay=False), default=None, help="Extra folder to look in.")
def verify_cmd(names, models_dir):
    """Check the sha256 of installed model files (all found ones by default). Exit 4 on any failure."""
    specs = [registry.get_spec(n) for n in names] or list(registry.REGISTRY.values())
    failed = []
    for spec in specs:
        path, _ = registry.locate(spec, models_dir)
        if path is None:
            if names:
                failed.append(spec.name)
                click.echo(f"{spec.name:<24} MISSING  {registry.how_to_get(spec)}")
            continue
        try:
            digest = registry.verify(path, spec)
            state = "ok" if spec.sha256 else "unpinned"
            click.echo(f"{spec.name:<24} {state:<8} {digest}  {path}")
        except ModelError:
            failed.append(spec.name)
            click.echo(f"{spec.name:<24} BAD      sha256 mismatch  {path}")
    if failed:
        raise ModelError(f"{len(failed)} model(s) failed verification: {', '.join(failed)}")


COMMANDS = [models_group]
