"""`facecluster run VIDEO`: the main job."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import build_config, to_toml
from .options import ProgressHook, config_options, overrides_from


def _fmt_time(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60)
    return f"{int(m)}:{s:04.1f}"


@click.command("run")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: VIDEO name + '.facecluster' in the current folder].")
@click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML config file (e.g. configs/fast.toml); command-line options override it.")
@click.option("--overwrite/--no-overwrite", default=True, show_default=True,
              help="Replace an earlier facecluster output in the output folder.")
@click.option("--print-config", is_flag=True, help="Print the effective config as TOML and exit.")
@click.option("--annotate", "annotate_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the video with boxes and person labels to this file (.mp4/.mkv/.avi/.mov).")
@config_options
@click.pass_context
def run_cmd(ctx, video, output, config_file, overwrite, print_config, annotate_path, **options):
    """Find and group the people in VIDEO (mp4, avi, mkv, mov, webm, GIF)."""
    from ..pipeline import run
    from ..store import check_output_dir

    config = build_config(config_file, overrides_from(options))
    if print_config:
        click.echo(to_toml(config), nl=False)
        return
    output = output or Path(f"{video.stem}.facecluster")
    check_output_dir(output, overwrite=overwrite)
    quiet = ctx.obj.get("quiet", False)
    hook = ProgressHook(enabled=not quiet)
    try:
        result = run(video, config, output_dir=output, hook=hook)
        if annotate_path is not None:
            from ..results import annotate

            annotate(output, video, annotate_path, hook=hook)
    finally:
        hook.close()
    if quiet:
        return
    m = result.manifest
    click.echo(f"{len(result.people)} people, {m['counts']['face_detections']} faces in "
               f"{m['counts']['sampled_frames']} sampled frames ({m['speed_x_realtime']}x real time) -> {output}")
    for p in result.people:
        click.echo(f"  person {p['id']:>3}: {p['detections']:>5} faces, screen time {_fmt_time(p['screen_time_s'])}, "
                   f"seen {_fmt_time(p['first_seen_s'])} - {_fmt_time(p['last_seen_s'])}")


COMMANDS = [run_cmd]
