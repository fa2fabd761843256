"""`facecluster eval` (score a run against ground truth) and `facecluster synth` (make a test episode).

Thin wrappers: options are parsed here, the work is in facecluster.evaluate; errors are FaceclusterError
subclasses, which the CLI group prints as one line.
"""

from __future__ import annotations

import click

from ..errors import ConfigError


@click.command("eval")
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--truth", required=True, type=click.Path(dir_okay=False),
              help="Truth JSON written by `facecluster synth`.")
@click.option("--iou", default=0.5, show_default=True, type=click.FloatRange(0.05, 1.0),
              help="Minimum box IoU for a prediction to match a truth box.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Where to write the full result (default OUTDIR/eval.json).")
def eval_cmd(outdir, truth, iou, json_path):
    """Score OUTDIR (from `facecluster run`) against TRUTH: detection recall/precision, BCubed,
    pairwise, NMI, WCP and people counts, for faces and persons."""
    from ..evaluate.harness import evaluate, format_table

    result = evaluate(outdir, truth, iou=iou, json_path=json_path)
    click.echo(format_table(result))
    click.echo(f"full result: {result['json']}")


def _size(text: str | None) -> tuple[int | None, int | None]:
    if not text:
        return None, None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size {text!r} must look like 1280x720") from None
    return w, h


@click.command("synth")
@click.argument("faces_dir", type=click.Path(file_okay=False))
@click.option("-o", "--output", "video", required=True, type=click.Path(dir_okay=False),
              help="Video file to write (.mp4, .mkv or .avi).")
@click.option("--truth", required=True, type=click.Path(dir_okay=False), help="Truth JSON to write.")
@click.option("--seconds", type=click.FloatRange(min=0.1), help="Length (default 60, or 24 with --small).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Same seed, same episode.")
@click.option("--size", help="WIDTHxHEIGHT (default 1280x720, or 640x360 with --small).")
@click.option("--fps", default=25, show_default=True, type=click.IntRange(1, 120))
@click.option("--identities", type=click.IntRange(min=1), help="Use at most this many identities.")
@click.option("--face-model", default="yunet", show_default=True,
              help="Detector that locates the face in each photo (name or path); 'none' = photos are face crops.")
@click.option("--small", is_flag=True, help="Test-sized episode: 640x360, 24 s, 4 identities, no tiny faces.")
@click.pass_context
def synth_cmd(ctx, faces_dir, video, truth, seconds, seed, size, fps, identities, face_model, small):
    """Compose a synthetic episode from identity-labelled photos in FACES_DIR (identity_labels.csv with
    file,identity, or one sub-folder per identity) and write the video and its ground truth."""
    from tqdm import tqdm

    from ..evaluate.synth import synthesize_episode

    width, height = _size(size)
    quiet = bool((ctx.obj or {}).get("quiet"))
    with tqdm(total=None, unit="frame", desc="synth", disable=quiet, leave=False) as bar:
        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        info = synthesize_episode(faces_dir, video, truth, seconds=seconds, seed=seed, width=width, height=height,
                                  fps=fps, small=small, identities=identities,
                                  face_model=None if face_model.lower() == "none" else face_model, progress=progress)
    if not quiet:
        click.echo(f"{info['video']}: {info['frames']} frames, {info['shots']} shots, "
                   f"{len(info['identities'])} identities ({info['frames_per_s']:.0f} frames/s); truth {info['truth']}")


COMMANDS = [eval_cmd, synth_cmd]
