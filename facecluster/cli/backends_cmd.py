"""`facecluster backends`: which detector and embedder backends can run here."""

from __future__ import annotations

import click


@click.command("backends")
def backends_cmd():
    """List the detector and embedder backends installed here."""
    from .. import backends as b

    for title, table, available in (("face detectors", b._DETECTORS, b.DETECTORS),
                                    ("face embedders", b._EMBEDDERS, b.EMBEDDERS),
                                    ("body detectors", b._BODY_DETECTORS, b.BODY_DETECTORS),
                                    ("clothing embedders", b._CLOTHING_EMBEDDERS, b.CLOTHING_EMBEDDERS)):
        click.echo(f"{title}:")
        for name in table:
            click.echo(f"  {name:<10} {'installed' if name in available else 'not installed'}")


COMMANDS = [backends_cmd]
