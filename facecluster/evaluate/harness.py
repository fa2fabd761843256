"""`facecluster eval`: score a run's detections.csv against a synthetic episode's truth JSON.

Why this shape: the pipeline only looks at sampled frames, so truth is compared only at the frames the
run sampled (the frame_index values in detections.csv, plus `sampled_frames` from manifest.json when the
run records it, so sampled frames where nothing was found still count against recall). Faces and persons
are scored separately: detection recall/precision from per-frame IoU matching, then clustering metrics
on the matched (true identity, predicted person) pairs. See metrics.py for the definitions.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections import defaultdict
from pathlib import Path

from ..errors import InputError, OutputError
from . import metrics
from .synth import load_truth

log = logging.getLogger("facecluster")

COLUMNS = ["detection_id", "frame_index", "time_s", "kind", "x1", "y1", "x2", "y2", "score", "track_id",
           "person_id"]
KINDS = {"face": "faces", "person": "persons"}
TAGS = ("tiny", "occluded", "blur", "partial", "back")


def read_detections(outdir) -> dict[str, dict[int, list[tuple[int, list[float]]]]]:
    """kind -> frame index -> [(person_id, box)] from OUTDIR/detections.csv."""
    path = Path(outdir) / "detections.csv"
    if not path.is_file():
        raise InputError(f"{path} not found; give the output folder of `facecluster run VIDEO -o OUTDIR`")
    out: dict[str, dict[int, list]] = {k: defaultdict(list) for k in KINDS}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if (reader.fieldnames or [])[:len(COLUMNS)] != COLUMNS:
            raise InputError(f"{path} must start with the columns {','.join(COLUMNS)}; it has "
                             f"{','.join(reader.fieldnames or [])}; re-run `facecluster run`")
        for line, row in enumerate(reader, start=2):
            if row["kind"] not in KINDS:
                continue
            try:
                box = [float(row[c]) for c in ("x1", "y1", "x2", "y2")]
                person = int(float(row["person_id"])) if row["person_id"] not in ("", None) else metrics.NOISE
                out[row["kind"]][int(row["frame_index"])].append((person, box))
            except (TypeError, ValueError):
                raise InputError(f"{path} line {line}: bad number in {dict(row)}; re-run `facecluster run`") from None
    return {k: dict(v) for k, v in out.items()}


def _sampled_frames(outdir, predictions: dict) -> set[int]:
    frames = {f for per_frame in predictions.values() for f in per_frame}
    manifest = Path(outdir) / "manifest.json"
    if manifest.is_file():
        try:
            recorded = json.loads(manifest.read_text(encoding="utf-8")).get("sampled_frames")
        except (OSError, ValueError):
            recorded = None
        if isinstance(recorded, list):
            frames |= {int(f) for f in recorded}
    return frames


def _truth_by_kind(truth: dict) -> dict[str, dict[int, list]]:
    out: dict[str, dict[int, list]] = {k: {} for k in KINDS}
    for frame in truth["frames"]:
        for obj in frame["objects"]:
            if obj["kind"] in KINDS:
                out[obj["kind"]].setdefault(frame["frame_index"], []).append(
                    ((obj["identity"], tuple(obj.get("tags", ()))), obj["box"]))
    return out


def evaluate(outdir, truth_json, iou: float = 0.5, json_path=None, write: bool = True) -> dict:
    """Score OUTDIR against TRUTH; write the result to `json_path` (default OUTDIR/eval.json) if `write`."""
    truth = load_truth(truth_json)
    predictions = read_detections(outdir)
    frames = _sampled_frames(outdir, predictions)
    n_frames = len(truth["frames"])
    beyond = sorted(f for f in frames if not 0 <= f < n_frames)
    if beyond:
        raise InputError(f"frame_index {beyond[0]} in {outdir} is outside the truth's {n_frames} frames: "
                         f"is {truth_json} the truth of the video that {outdir} was made from?")
    if not frames:
        log.warning("eval: %s has no detections; every truth box of the episode is compared", outdir)
        frames = set(range(n_frames))
    truths = _truth_by_kind(truth)
    result = {"outdir": str(outdir), "truth": str(truth_json), "video": truth["video"], "iou": iou,
              "sampled_frames": len(frames)}
    for kind, key in KINDS.items():
        t, p = truths[kind], predictions[kind]
        m = metrics.match_frames(t, p, frames, iou)
        hit = {(f, i) for f, i, _, _ in m["matches"]}
        by_tag = {}
        for tag in TAGS + ("none",):
            objs = [(f, i) for f in frames for i, ((_, tags), _) in enumerate(t.get(f, ()))
                    if (tag in tags if tag != "none" else not tags)]
            if objs:
                by_tag[tag] = {"true": len(objs), "recall": sum(o in hit for o in objs) / len(objs)}
        pairs = [(ident, person) for (ident, _), person in m.pop("pairs")]
        del m["matches"]
        m["recall_by_tag"] = by_tag
        persons = [pid for f in frames for pid, _ in p.get(f, ())]
        result[key] = {
            "detection": m,
            "clustering": metrics.clustering_report([a for a, _ in pairs], [b for _, b in pairs]),
            "people": {"true": len({o[0][0] for per in t.values() for o in per}),
                       "true_in_sampled_frames": len({o[0][0] for f in frames for o in t.get(f, ())}),
                       "predicted": metrics.people_count(persons)},
        }
    if write:
        path = Path(json_path) if json_path else Path(outdir) / "eval.json"
        tmp = path.with_name(f".{path.name}.partial")
        try:
            tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot write {path} ({exc.strerror}); give a writable --json path") from None
        result["json"] = str(path)
    return result


def format_table(result: dict) -> str:
    """Fixed-width table of the main numbers, faces and persons side by side."""
    cols = [k for k in KINDS.values() if k in result]

    def cell(key, get):
        try:
            return get(result[key])
        except (KeyError, TypeError):
            return "-"

    rows = [
        ("detection recall", lambda r: f"{r['detection']['recall']:.3f}"),
        ("detection precision", lambda r: f"{r['detection']['precision']:.3f}"),
        ("matched / true / predicted", lambda r: "{matched}/{true}/{predicted}".format(**r["detection"])),
        ("mean IoU of matches", lambda r: f"{r['detection']['mean_iou']:.3f}"),
        ("BCubed P / R / F", lambda r: "{precision:.3f} {recall:.3f} {f:.3f}".format(**r["clustering"]["bcubed"])),
        ("pairwise P / R / F", lambda r: "{precision:.3f} {recall:.3f} {f:.3f}".format(**r["clustering"]["pairwise"])),
        ("NMI", lambda r: f"{r['clustering']['nmi']:.3f}"),
        ("WCP", lambda r: f"{r['clustering']['wcp']:.3f}"),
        ("noise fraction", lambda r: f"{r['clustering']['noise_fraction']:.3f}"),
        ("people predicted / true", lambda r: f"{r['people']['predicted']} / {r['people']['true']}"),
    ]
    width = max(len(name) for name, _ in rows) + 2
    lines = [f"{result['sampled_frames']} sampled frames, IoU >= {result['iou']}",
             "".ljust(width) + "".join(c.ljust(20) for c in cols)]
    lines += [name.ljust(width) + "".join(cell(c, get).ljust(20) for c in cols) for name, get in rows]
    return "\n".join(line.rstrip() for line in lines)
