"""`facecluster backends`: every backend of every kind, and whether it can run here now."""

from __future__ import annotations

import json

import click

TITLES = {"face-detector": "face detectors", "face-embedder": "face embedders", "body-detector": "body detectors",
          "clothing-embedder": "clothing embedders", "upscaler": "upscalers",
          "comparator": "similarity methods (facecluster compare/search)"}


@click.command("backends")
@click.option("--models-dir", type=click.Path(file_okay=False), default=None, help="Extra folder to look in.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def backends_cmd(models_dir, as_json):
    """Which backends can run here: 'ready', or the package or model that is missing and the command that
    gets it."""
    from .. import registry

    rows = {kind: registry.status(kind, models_dir) for kind in registry.KINDS}
    if as_json:
        click.echo(json.dumps({kind: [{"name": s.name, "ready": s.ready, "missing_packages": list(s.missing_packages),
                                       "missing_models": list(s.missing_models), "fix": s.fix,
                                       "description": s.description} for s in found]
                               for kind, found in rows.items()}, indent=2))
        return
    for kind, found in rows.items():
        click.echo(f"{TITLES[kind]}:")
        width = max(len(s.name) for s in found)
        for s in found:
            click.echo(f"  {s.name:<{width}}  {s.summary}")
            if s.ready or kind == "comparator":
                continue
            click.echo(f"  {'':<{width}}  ({s.description})")


COMMANDS = [backends_cmd]
