"""Commands on a finished OUTDIR: recluster, label, merge, split, find, similar, report, annotate.

Why here and thin: parsing and printing only; the work (and every error message) is in
facecluster.results and facecluster.report, so the library and the CLI behave the same.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..text import fmt_time as _t, noun, plural
from .options import ProgressHook, config_options, library_note, overrides_from

OUTDIR = click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))


def _person_line(p: dict) -> str:
    name = (f" {p['name']!r}" if p.get("name") else "") + library_note(p)
    bodies = f" + {plural(p['bodies'], 'body', 'bodies')}" if p.get("bodies") else ""
    return (f"  person {p['id']:>3}{name}: {p['faces']:>5} {noun(p['faces'], 'face')}{bodies} in "
            f"{plural(len(p['units']), 'unit')}, "
            f"screen time {_t(p['screen_time_s'])}, seen {_t(p['first_seen_s'])} - {_t(p['last_seen_s'])}")


def _echo_people(people: list[dict]) -> None:
    for p in people:
        click.echo(_person_line(p))


@click.command("recluster")
@OUTDIR
@config_options(scopes=("group",))
@click.option("--library", "library_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="People library (`facecluster library`): name the people it recognises, as `run --library` "
                   "does, without the video. Default: the library the last grouping used, if it is still there.")
@click.option("--no-library", is_flag=True, help="Do not name people from a library (not even the one used last).")
def recluster_cmd(outdir, library_path, no_library, **options):
    """Group the faces (and bodies) stored in OUTDIR again with new clustering options, without the video.

    Only clustering options apply (--cluster-distance: smaller = stricter, --min-cluster-size,
    --min-samples, --min-person-detections, --clothing-weight, --clothing-window-s,
    --max-thumbs-per-person). Names, merges and splits made with label/merge/split are re-applied.
    With --library, the people a library recognises are named (e.g. episodes processed before the
    library knew anyone); without it, the library the last grouping used names them again. All outputs
    in OUTDIR are rewritten."""
    from ..results import recluster

    started = time.perf_counter()
    if no_library and library_path is not None:
        from ..errors import ConfigError

        raise ConfigError("give --library FILE or --no-library, not both")
    people = recluster(outdir, overrides_from(options), library=False if no_library else library_path)
    took = time.perf_counter() - started
    click.echo(f"{plural(len(people), 'person', 'people')} in {took:.2f} s -> {outdir / 'report.html'}")
    _echo_people(people)


@click.command("label")
@OUTDIR
@click.argument("person", type=int)
@click.argument("name")
def label_cmd(outdir, person, name):
    """Name PERSON (an id from people.csv or report.html; also a person seen only as a body).
    NAME "" removes the name."""
    from ..results import label

    p = label(outdir, person, name)
    click.echo(f"person {p['id']} is now {p['name']!r}" if p.get("name") else f"person {p['id']} has no name")


@click.command("merge")
@OUTDIR
@click.argument("people", nargs=-1, required=True, type=int)
def merge_cmd(outdir, people):
    """Merge two or more people (ids) into one: `facecluster merge OUTDIR 3 7 9`."""
    from ..results import merge

    p = merge(outdir, list(people))
    click.echo(f"merged people {', '.join(map(str, people))} into:")
    click.echo(_person_line(p))


@click.command("split")
@OUTDIR
@click.argument("person", type=int)
@click.option("--by", "by", type=click.Choice(["track", "strict"]), default="track", show_default=True,
              help="track: every track becomes its own person; strict: re-cluster the person's tracks "
                   "with a smaller distance.")
@click.option("--units", "--tracks", "units", default=None,
              help="Comma-separated unit ids (a face track with the body it was seen in; unit_id in detections.csv "
                   "and the tooltips in report.html) to move into a new person.")
def split_cmd(outdir, person, by, units):
    """Split PERSON into several people. Splits are kept when you recluster or run again."""
    from ..errors import ConfigError
    from ..results import split

    try:
        moved = [int(t) for t in units.split(",") if t.strip()] if units else None
    except ValueError:
        raise ConfigError(f"--units must be comma-separated unit ids like 4,9; got {units!r}") from None
    parts = split(outdir, person, by=by, units=moved)
    click.echo(f"person {person} is now {len(parts)} people:")
    _echo_people(parts)


@click.command("find")
@OUTDIR
@click.argument("photo", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--top", default=3, show_default=True, type=click.IntRange(1, 1000), help="Matches per face.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def find_cmd(outdir, photo, top, as_json):
    """Which person of OUTDIR is the face (or faces) in PHOTO, if any."""
    from ..results import find

    result = find(outdir, photo, top=top)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for k, face in enumerate(result["faces"], 1):
        x1, y1, x2, y2 = face["box"]
        click.echo(f"face {k} at x={x1:.0f} y={y1:.0f} {x2 - x1:.0f}x{y2 - y1:.0f}:")
        if not face["matches"]:
            c = face["closest"]
            hint = f" (closest: person {c['person_id']}, similarity {c['similarity']:.2f})" if c else ""
            click.echo(f"  nobody{hint}")
        for m in face["matches"]:
            name = f" {m['name']!r}" if m.get("name") else ""
            spans = ", ".join(f"{_t(a)}-{_t(b)}" for a, b in m["appearances"][:8])
            click.echo(f"  person {m['person_id']}{name}: similarity {m['similarity']:.2f}, "
                       f"screen time {_t(m['screen_time_s'])}, on screen {spans}")


@click.command("similar")
@OUTDIR
@click.argument("detection_id", type=int)
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 10000), help="How many results.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def similar_cmd(outdir, detection_id, top, as_json):
    """Detections most like DETECTION_ID elsewhere in the video (other tracks), best first.

    A face is compared with the other faces (plus a clothing score when the run had a clothing embedder);
    a body (person detection) with the other bodies by clothing, and by face when its person has one."""
    from ..results import similar

    result = similar(outdir, detection_id, top=top)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    what = "body detection" if result.get("kind") == "body" else "detection"
    click.echo(f"{what} {detection_id} (person {result['person_id']}, track {result['track_id']}, "
               f"{_t(result['time_s'])}) is most like:")
    for r in result["results"]:
        who = f"person {r['person_id']}" + (f" {r['name']!r}" if r.get("name") else "") if r["person_id"] >= 0 \
            else "no person"
        scores = [f"{space} {r[key]:.2f}" for space, key in (("face", "face_similarity"),
                                                              ("clothing", "clothing_similarity"))
                  if r.get(key) is not None]
        what = "body" if r.get("kind") == "body" else "detection"
        click.echo(f"  {what:>9} {r['detection_id']:>6} at {_t(r['time_s'])} ({who}, track {r['track_id']}): "
                   f"{', '.join(scores)}")


@click.command("not-person")
@OUTDIR
@click.argument("detection_id", type=int)
def not_person_cmd(outdir, detection_id):
    """DETECTION_ID is not the person it was given to: its unit leaves that person for good."""
    from ..results import not_person

    p = not_person(outdir, detection_id)
    click.echo(f"detection {detection_id} is now with:")
    click.echo(_person_line(p))


@click.command("assign")
@OUTDIR
@click.argument("person", type=int)
@click.argument("detection_ids", nargs=-1, required=True, type=int)
def assign_cmd(outdir, person, detection_ids):
    """Give sightings (e.g. unassigned faces or bodies: detection ids) to PERSON."""
    from ..results import assign

    click.echo(_person_line(assign(outdir, list(detection_ids), person)))


@click.command("undo")
@OUTDIR
@click.option("--edit", "edit_id", type=int, default=None, help="The edit id to undo [default: the latest].")
def undo_cmd(outdir, edit_id):
    """Undo a correction (the latest by default; see edits.json). An undo can be undone too."""
    from ..results import undo

    done = undo(outdir, edit_id)
    click.echo(f"edit {done['target']} undone")


@click.command("report")
@OUTDIR
def report_cmd(outdir):
    """Write OUTDIR/report.html (and every other exported file) again from the stored run."""
    from ..results.state import rewrite

    click.echo(str(rewrite(outdir) / "report.html"))


@click.command("annotate")
@OUTDIR
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output video (.mp4, .mkv, .mov or .avi).")
@click.option("--video", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The input video [default: the path recorded in OUTDIR/manifest.json].")
@click.pass_context
def annotate_cmd(ctx, outdir, output, video):
    """Write the video with a box and the person's name on every face (and a thinner one on every body)."""
    from ..results import annotate

    hook = ProgressHook(enabled=not (ctx.obj or {}).get("quiet", False))
    try:
        info = annotate(outdir, video, output, hook=hook)
    finally:
        hook.close()
    click.echo(f"{info['frames']} frames -> {info['path']}")




@click.command("compare-persons")
@click.argument("first")
@click.argument("second")
@click.argument("third", required=False)
@click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Config for crop images (which face detector/embedder and clothing embedder).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def compare_persons_cmd(first, second, third, config_file, as_json):
    """Score two people crops: `compare-persons OUTDIR ID1 ID2` (two detections of a run) or
    `compare-persons A.jpg B.jpg` (two crop images). Face and clothing sub-scores are shown separately."""
    import json

    from ..compare_persons import compare_crops, compare_detections
    from ..config import build_config

    if third is not None:
        try:
            result = compare_detections(first, int(second), int(third))
        except ValueError:
            raise click.UsageError("detection ids must be integers (see detections.csv)") from None
    else:
        result = compare_crops(first, second, build_config(config_file) if config_file else None)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for part in ("face", "clothing"):
        s = result[part]
        click.echo(f"{part:<9} " + (f"similarity {s['similarity']:+.3f}  relative distance {s['relative_distance']:.2f}"
                                    if s else "no evidence"))
    verdict = result["same_person"]
    click.echo("verdict   " + ("no evidence" if verdict is None else
                               f"{'same person' if verdict else 'different people'} "
                               f"(relative distance {result['relative_distance']:.2f}; < 1 = same)"))


COMMANDS = [recluster_cmd, label_cmd, merge_cmd, split_cmd, not_person_cmd, assign_cmd, undo_cmd, find_cmd,
            similar_cmd, report_cmd, annotate_cmd, compare_persons_cmd]
