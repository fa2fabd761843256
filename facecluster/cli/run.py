"""`facecluster run VIDEO`: the main job."""

from __future__ import annotations

import math
import shlex
from pathlib import Path

import click

from ..config import build_config, to_toml
from ..text import fmt_time, noun, plural
from .options import ProgressHook, config_options, library_note, overrides_from

FEW_SAMPLES = 20  # fewer sampled frames than this: `run` says how to sample a short clip more densely


@click.command("run")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: VIDEO name + '.facecluster' in the current folder]. Running again "
                   "into it keeps your corrections (edits.json) and any files you added; an interrupted run "
                   "continues where it stopped.")
@click.option("-p", "--profile", default=None,
              help="Shipped settings to start from: builtin (default; offline dlib models) or fast (run `facecluster "
                   "models download --profile fast` once); see `facecluster models list --profile NAME`.")
@click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML config file on top of the profile; command-line options override both.")
@click.option("--overwrite/--no-overwrite", default=True, show_default=True,
              help="Replace the results of an earlier run in the output folder (corrections are kept).")
@click.option("--print-config", is_flag=True, help="Print the effective config as TOML and exit.")
@click.option("--annotate", "annotate_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the video with boxes and person labels to this file (.mp4/.mkv/.avi/.mov).")
@click.option("--library", "library_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="People library (`facecluster library`): name the people it recognises.")
@config_options
@click.pass_context
def run_cmd(ctx, video, output, profile, config_file, overwrite, print_config, annotate_path, library_path,
            **options):
    """Find and group the people in VIDEO (mp4, avi, mkv, mov, webm, GIF)."""
    from .. import profiles
    from ..errors import OutputError
    from ..pipeline import run
    from ..runfolder import RunFolder

    base = profiles.load(profile).to_dict() if profile else None
    config = build_config(config_file, overrides_from(options), base=base)
    if print_config:
        click.echo(to_toml(config), nl=False)
        return
    output = output or Path(f"{video.stem}.facecluster")
    if not overwrite and RunFolder(output).state() == "ours" and (output / "manifest.json").exists():
        raise OutputError(f"{output} already holds results; pass --overwrite to replace them (your corrections in "
                          f"edits.json are kept either way)")
    library = None
    if library_path is not None:
        from ..library import Library
        from ..library.embedder import of_config

        library = Library.open(library_path, readonly=True)
        library.check_embedder(of_config(config), "this run's config")  # before decoding, not after
    quiet = ctx.obj.get("quiet", False)
    hook = ProgressHook(enabled=not quiet)
    try:
        result = run(video, config, output_dir=output, hook=hook, library=library)
        if annotate_path is not None:
            from ..results import annotate

            annotate(output, video, annotate_path, hook=hook)
    finally:
        hook.close()
    if quiet:
        return
    m = result.manifest
    counts = m["counts"]
    click.echo(f"{plural(len(result.people), 'person', 'people')}, {plural(counts['face_detections'], 'face')}"
               + (f" and {plural(counts['body_detections'], 'body', 'bodies')}" if counts.get("body_detections") else "")
               + f" in {plural(counts['sampled_frames'], 'sampled frame')} ({m['speed_x_realtime']}x real time) -> {output}")
    hint = _sampling_hint(m)
    if hint:
        click.echo(f"  note: {hint}")
    if m.get("resumed_frames"):
        click.echo(f"  continued an interrupted run: {m['resumed_frames']} sampled frames were already done")
    corrections = (m.get("grouping") or {}).get("corrections")
    if corrections:
        click.echo(f"  re-applied {corrections} correction(s) from {output / 'edits.json'}")
    for p in result.people:
        name = (f" {p['name']!r}" if p.get("name") else "") + library_note(p)
        click.echo(f"  person {p['id']:>3}{name}: {p['faces']:>5} {noun(p['faces'], 'face')}, "
                   f"screen time {fmt_time(p['screen_time_s'])}, seen {fmt_time(p['first_seen_s'])} - {fmt_time(p['last_seen_s'])}")
    click.echo(f"next: open {output / 'report.html'}, or review and fix in the browser: "
               f"facecluster serve {shlex.quote(str(output))}")


def _sampling_hint(manifest: dict) -> str:
    """A short clip sampled at a few frames gives little evidence: say how to sample more."""
    sampled = manifest["counts"]["sampled_frames"]
    video = manifest.get("input") or {}
    duration, native = video.get("duration_s") or 0.0, video.get("fps") or 0.0
    fps = (manifest.get("config") or {}).get("fps") or 0.0
    if not sampled or sampled >= FEW_SAMPLES or not duration or not native or fps >= native:
        return ""
    better = min(native, math.ceil(FEW_SAMPLES / duration))
    if better <= fps:
        return ""
    return (f"only {sampled} frames sampled ({fps:g} a second of {duration:.1f} s); a short clip gives more "
            f"evidence with --fps {better:g}")


COMMANDS = [run_cmd]
