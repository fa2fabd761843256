"""`facecluster eval`: score a run against a synthetic episode's truth JSON.

Why this shape: the pipeline only looks at sampled frames, so truth is compared only at the frames the
run sampled (all of them, also those where nothing was found, so they still count against recall). Faces
and bodies (the truth's "person" boxes) are scored separately: detection recall/precision from per-frame IoU matching, then clustering metrics
on the matched (true identity, predicted person) pairs. See metrics.py for the definitions.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import InputError, OutputError
from . import metrics
from .synth import load_truth

log = logging.getLogger(__name__)

KINDS = {"face": "faces", "person": "persons"}  # truth kind -> result key; a truth "person" is a body row
TAGS = ("tiny", "occluded", "blur", "partial", "back")


def predictions(table, kind: str) -> dict[int, list[tuple[int, list[float]]]]:
    """frame index -> [(person_id, box)] of one kind of row ("face" or, for truth persons, "body")."""
    rows = np.flatnonzero(table.kind == ("face" if kind == "face" else "body"))
    out: dict[int, list] = defaultdict(list)
    boxes = table.boxes
    for r in rows.tolist():
        person = int(table.person_id[r])
        out[int(table.frame_index[r])].append((person if person >= 0 else metrics.NOISE, boxes[r].tolist()))
    return dict(out)


def read_run(outdir):
    """(table with person ids, sampled frame indices) of a facecluster OUTDIR."""
    from ..runfolder import RunFolder

    rf = RunFolder(outdir)
    with rf.reading():
        stored = rf.load()
    return stored.table, set(stored.extraction.frames[:, 0].astype(int).tolist())


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
    table, frames = read_run(outdir)
    result = score(table, frames, truth_json, iou)
    result["outdir"] = str(outdir)
    if write:
        path = Path(json_path) if json_path else Path(outdir) / "eval.json"
        tmp = path.with_name(f".{path.name}.partial")
        try:
            tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            if tmp.exists():  # unlink of a missing file fails on a read-only folder too
                tmp.unlink()
            raise OutputError(f"cannot write {path} ({exc.strerror}); give a writable --json path") from None
        result["json"] = str(path)
    return result


def score(table, frames: set[int], truth_json, iou: float = 0.5) -> dict:
    """Detection and clustering metrics of a run table (person ids filled) at its sampled frames."""
    truth = load_truth(truth_json)
    n_frames = len(truth["frames"])
    beyond = sorted(f for f in frames if not 0 <= f < n_frames)
    if beyond:
        raise InputError(f"frame_index {beyond[0]} is outside the truth's {n_frames} frames: is {truth_json} the "
                         f"truth of the video that was run?")
    if not frames:
        log.warning("eval: the run sampled no frames; every truth box of the episode is compared")
        frames = set(range(n_frames))
    truths = _truth_by_kind(truth)
    result = {"truth": str(truth_json), "video": truth["video"], "iou": iou, "sampled_frames": len(frames)}
    for kind, key in KINDS.items():
        t, p = truths[kind], predictions(table, kind)
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
