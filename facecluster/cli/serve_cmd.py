"""`facecluster serve OUTDIR`: the review app (facecluster.serve) on this machine."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("serve")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Only this machine can reach the default; another host needs --allow-remote.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 = any free port).")
@click.option("--allow-remote", is_flag=True,
              help="Let --host be an address other machines can reach (anyone who reaches it can edit the run).")
@click.option("--video", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The input video, if it moved [default: the path recorded in OUTDIR/manifest.json].")
@click.pass_context
def serve_cmd(ctx, outdir, host, port, allow_remote, video):
    """Review OUTDIR in the browser: watch each person's appearances, rename, merge, split, answer "are
    these the same person?", give unassigned faces to someone, undo. Every change is saved in
    OUTDIR/edits.json, the same as the label/merge/split commands, and kept by `recluster` and re-runs.
    Stop with Ctrl-C."""
    from ..serve import start

    from ..serve.security import is_loopback

    server = start(outdir, host=host, port=port, allow_remote=allow_remote, video=video,
                   quiet_requests=not (ctx.obj or {}).get("verbose"))
    if not is_loopback(host):
        click.echo(f"facecluster: warning: listening on {host}: anyone who can reach this address can see and "
                   f"change the run", err=True)
    click.echo(f"reviewing {outdir} at {server.url}  (Ctrl-C to stop)")
    try:
        server.serve_forever()  # returns on Ctrl-C; every edit was committed when it was made
    except KeyboardInterrupt:
        pass
    finally:
        server.server.server_close()
    click.echo("stopped")


COMMANDS = [serve_cmd]
