#!/usr/bin/env python3
"""Grouping quality benchmark (issue 4): facecluster vs the recipes users would otherwise reach for.

    FACECLUSTER_MODELS=../shared/models python scripts/bench_quality.py --out bench_results/quality

One command (~6 min here): regenerates a synthetic episode set (default: one 90 s 1280x720/25 fps episode
per identity-labelled face set, each with its own seed), runs the facecluster builtin and fast configs on
each, re-clusters their stored embeddings with the baselines (facecluster.evaluate.baselines), scores
every OUTDIR with the same `evaluate()` (faces: detection recall, BCubed, pairwise F, NMI, WCP, people
predicted/true), then counts people on the real clips with known counts. Prints markdown tables; writes
OUT/quality.json, OUT/quality.md (+ every metric per episode); OUT/episodes, OUT/runs keep videos, OUTDIRs.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import facecluster
from facecluster import store
from facecluster.evaluate import metrics
from facecluster.evaluate.baselines import RECIPES, run_baseline
from facecluster.evaluate.harness import evaluate
from facecluster.evaluate.synth import load_truth, synthesize_episode

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
CONFIGS = {"builtin": ROOT / "configs" / "default.toml", "fast": ROOT / "configs" / "fast.toml"}
EPISODES = "faceapi_bbt:1,face_recognition_examples:2,yywbxgl_video_faces:3"
log = functools.partial(print, file=sys.stderr, flush=True)
REAL_CLIPS = {"secureface_rpi_test_3.avi": 2, "secureface_rpi_test_4.avi": 2,
              "intel_head-pose-face-detection-female-and-male.gif": 2,
              "intel_face-demographics-walking-and-pause.gif": 3}


def run_config(video: Path, config: str, outdir: Path) -> dict:
    t = time.perf_counter()
    result = facecluster.run(video, facecluster.build_config(CONFIGS[config]), output_dir=outdir)
    return {"wall_s": round(time.perf_counter() - t, 1), "people": result.n_people}


def score(outdir: Path, truth: Path, wall_s: float | None) -> dict:
    faces = evaluate(outdir, truth)["faces"]
    c, d = faces["clustering"], faces["detection"]
    return {"det_recall": d["recall"], "det_precision": d["precision"], "faces_matched": d["matched"],
            "bcubed_p": c["bcubed"]["precision"], "bcubed_r": c["bcubed"]["recall"], "bcubed_f": c["bcubed"]["f"],
            "pairwise_f": c["pairwise"]["f"], "nmi": c["nmi"], "wcp": c["wcp"], "noise": c["noise_fraction"],
            "people_pred": faces["people"]["predicted"], "people_true": faces["people"]["true"], "wall_s": wall_s}


def raw_dlib_descriptors(video: Path, outdir: Path):
    """Exact raw (unnormalised) dlib descriptors of the face rows of a builtin OUTDIR, re-decoding its
    sampled frames: checks the DLIB_RAW_NORM scaling the face_recognition baselines use."""
    import dlib

    from facecluster.backends import create_embedder
    from facecluster.video import sample_frames

    config = facecluster.build_config(CONFIGS["builtin"])
    embedder = create_embedder("dlib", config)
    table = store.read_detections(outdir)
    faces = np.flatnonzero(table["kind"] == "face")
    rows_of: dict[int, list[int]] = {}
    for k, row in enumerate(faces):
        rows_of.setdefault(int(table["frame_index"][row]), []).append(k)
    raw = np.zeros((len(faces), 128))
    for frame in sample_frames(video, config.fps, config.shot_threshold):
        rgb = np.ascontiguousarray(frame.image[..., ::-1])
        for k in rows_of.get(frame.index, ()):
            x1, y1, x2, y2 = (int(round(table[c][faces[k]])) for c in ("x1", "y1", "x2", "y2"))
            shape = embedder.predictor(rgb, dlib.rectangle(x1, y1, x2 - 1, y2 - 1))
            chip = dlib.get_face_chip(rgb, shape, size=150, padding=0.25)
            raw[k] = np.array(embedder.facerec.compute_face_descriptor(chip))
    return raw


def separability(outdir: Path, truth: Path) -> dict:
    """How separable the run's face embeddings are: for the faces matched to truth, the share of
    same-identity pairs above the same-person distance (must be split or bridged by tracks) and of
    different-identity pairs below it (invite merges). What limits any clustering of these vectors."""
    table = store.read_detections(outdir)
    ids, vectors = store.read_embeddings(outdir, "face")
    row = {int(d): i for i, d in enumerate(ids)}
    boxes = {f["frame_index"]: [(o["identity"], o["box"]) for o in f["objects"] if o["kind"] == "face"]
             for f in load_truth(truth)["frames"]}
    labels, rows = [], []
    for f in np.unique(table["frame_index"][table["kind"] == "face"]):
        sel = np.flatnonzero((table["frame_index"] == f) & (table["kind"] == "face"))
        pred = np.stack([table[c][sel] for c in ("x1", "y1", "x2", "y2")], 1)
        t = boxes.get(int(f), [])
        for i, j, _ in metrics.match_boxes([b for _, b in t], pred):
            labels.append(t[i][0])
            rows.append(row[int(table["detection_id"][sel[j]])])
    threshold = json.loads((outdir / "manifest.json").read_text())["same_person_distance"]
    e, y = vectors[rows], np.array(labels)
    iu = np.triu_indices(len(e), 1)
    d, same = (1.0 - e @ e.T)[iu], (y[:, None] == y[None, :])[iu]
    med, frac = (lambda v: float(np.median(v)) if len(v) else None), (lambda v: float(v.mean()) if len(v) else None)
    return {"threshold": threshold, "same_median": med(d[same]), "different_median": med(d[~same]),
            "same_above": frac(d[same] >= threshold), "different_below": frac(d[~same] < threshold)}


def bench_episode(name: str, seed: int, seconds: float, out: Path, methods: list[str],
                  exact_dlib: bool = False) -> dict:
    tag = f"{name}-s{seed}"
    video, truth = out / "episodes" / f"{tag}.mp4", out / "episodes" / f"{tag}.json"
    t = time.perf_counter()
    info = synthesize_episode(MEDIA / "faces" / name, video, truth, seconds=seconds, seed=seed)
    log(f"{tag}: synthesized {info['frames']} frames, {info['shots']} shots, {len(info['identities'])} "
        f"identities in {time.perf_counter() - t:.0f} s")
    rows = {}
    for config in CONFIGS:
        outdir = out / "runs" / tag / config
        run = run_config(video, config, outdir)
        key = f"facecluster {config}"
        if key in methods:
            rows[key] = score(outdir, truth, run["wall_s"])
            rows[key]["separability"] = separability(outdir, truth)
            log(f"{tag}: {key}: BCubed F {rows[key]['bcubed_f']:.3f} ({run['wall_s']} s)")
    for recipe in RECIPES.values():
        if recipe.name in methods:
            outdir = out / "runs" / tag / recipe.name
            t = time.perf_counter()
            run_baseline(out / "runs" / tag / recipe.source, outdir, recipe)
            rows[recipe.name] = score(outdir, truth, None)
            rows[recipe.name]["cluster_s"] = round(time.perf_counter() - t, 2)
    if exact_dlib:
        raw = raw_dlib_descriptors(video, out / "runs" / tag / "builtin")
        norms = np.linalg.norm(raw, axis=1)
        log(f"{tag}: raw dlib norms min/median/max {norms.min():.3f} / {np.median(norms):.3f} / {norms.max():.3f}")
        for recipe in RECIPES.values():
            if recipe.embedder == "dlib" and recipe.name in methods:
                outdir = out / "runs" / tag / f"{recipe.name}-raw"
                run_baseline(out / "runs" / tag / recipe.source, outdir, recipe, vectors=raw)
                rows[f"{recipe.name} (exact raw)"] = score(outdir, truth, None)
                rows[f"{recipe.name} (exact raw)"]["raw_norm_median"] = float(np.median(norms))
    return {"episode": tag, "faces_dir": name, "seed": seed, "seconds": seconds, "frames": info["frames"],
            "shots": info["shots"], "identities": info["identities"], "methods": rows}


def bench_real(out: Path) -> list[dict]:
    rows = []
    for clip, true in REAL_CLIPS.items():
        video, row, runs = MEDIA / "videos" / clip, {"clip": clip, "true": true}, out / "real" / clip
        for config in CONFIGS:
            row[config] = run_config(video, config, runs / config)["people"]
        for recipe in RECIPES.values():
            row[recipe.name] = run_baseline(runs / recipe.source, runs / recipe.name, recipe)["people"]
        rows.append(row)
        log(f"{clip}: {row}")
    return rows


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def tables(results: dict, full: bool = False) -> str:
    """Markdown: mean metrics per method, per-episode F / NMI / people, BCubed F margins of facecluster
    over each baseline, embedding separability, real clips; `full` adds every metric of every episode."""
    cols = [("det recall", "det_recall"), ("BCubed P", "bcubed_p"), ("BCubed R", "bcubed_r"),
            ("BCubed F", "bcubed_f"), ("pairwise F", "pairwise_f"), ("NMI", "nmi"), ("WCP", "wcp"),
            ("noise", "noise")]
    eps = results["episodes"]
    methods = list(eps[0]["methods"]) if eps else []
    lines = [_row("episode", "method", *(c for c, _ in cols), "people pred / true"), "|---" * (len(cols) + 3) + "|"]
    lines += [_row(ep["episode"], m, *(f"{r[k]:.3f}" for _, k in cols), f"{r['people_pred']} / {r['people_true']}")
              for ep in eps for m, r in ep["methods"].items()] + [""]
    lines = lines if full else []
    lines += [f"Mean over {len(eps)} episodes (faces):", "", _row("method", *(c for c, _ in cols)),
              "|---" * (len(cols) + 1) + "|"]
    lines += [_row(m, *(f"{_mean(ep['methods'][m][k] for ep in eps):.3f}" for _, k in cols)) for m in methods]
    lines += ["", "Per episode, BCubed F / NMI / people predicted (true people in brackets):", "",
              _row("episode", *methods), "|---" * (len(methods) + 1) + "|"]
    lines += [_row(f"{ep['episode']} ({next(iter(ep['methods'].values()))['people_true']})",
                   *(f"{r['bcubed_f']:.3f} / {r['nmi']:.3f} / {r['people_pred']}" for r in ep["methods"].values()))
              for ep in eps]
    pairs = [(a, b) for a in methods if a.startswith("facecluster") for b in methods if not b.startswith("facecluster")]
    if pairs:
        lines += ["", "BCubed F margin, facecluster minus baseline (> 0: facecluster better):", "",
                  _row("facecluster", "baseline", "mean", "min", "max", "episodes >= +0.10"), "|---" * 6 + "|"]
        results["margins"] = {}
        for a, b in pairs:
            d = [ep["methods"][a]["bcubed_f"] - ep["methods"][b]["bcubed_f"] for ep in eps]
            results["margins"][f"{a} - {b}"] = d
            lines.append(_row(a.split()[1], b, f"{_mean(d):+.3f}", f"{min(d):+.3f}", f"{max(d):+.3f}",
                              f"{sum(x >= 0.1 for x in d)} / {len(d)}"))
    sep = [(ep["episode"], m, r["separability"]) for ep in eps for m, r in ep["methods"].items() if "separability" in r]
    if sep:
        f = lambda v, n=3: "-" if v is None else f"{v:.{n}f}"  # noqa: E731
        lines += ["", "Face embedding separability (matched faces, all pairs; thr = the run's same-person distance):",
                  "", _row("episode", "config", "thr", "same median", "different median", "same >= thr",
                           "different < thr"), "|---" * 7 + "|"]
        lines += [_row(e, m.split()[1], f"{x['threshold']:.3f}", f(x["same_median"]), f(x["different_median"]),
                       f(x["same_above"]), f(x["different_below"], 4)) for e, m, x in sep]
    if results.get("real"):
        names = [k for k in results["real"][0] if k not in ("clip", "true")]
        lines += ["", "People counted on real clips (true count from MEDIA.md):", "", _row("clip", "true", *names),
                  "|---" * (len(names) + 2) + "|"]
        lines += [_row(r["clip"], r["true"], *(r[n] for n in names)) for r in results["real"]]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench_results/quality", help="folder for episodes, OUTDIRs and results")
    ap.add_argument("--seconds", type=float, default=90.0, help="length of each episode")
    ap.add_argument("--episodes", default=EPISODES, help="FACE_SET:SEED,... (folders of ../shared/media/faces)")
    ap.add_argument("--methods", default="facecluster builtin,facecluster fast,face_recognition-dbscan,"
                                         "face_recognition-cw,immich-dbscan")
    ap.add_argument("--no-real", action="store_true", help="skip the real clips")
    ap.add_argument("--exact-dlib", action="store_true", help="also run the face_recognition recipes on exact "
                    "raw dlib descriptors (re-decodes the sampled frames) to check the DLIB_RAW_NORM scaling")
    args = ap.parse_args()
    os.environ.setdefault("FACECLUSTER_MODELS", str(ROOT.parent / "shared" / "models"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    methods = [m.strip() for m in args.methods.split(",")]
    started = time.perf_counter()
    head = lambda: os.popen(f"git -C {ROOT} rev-parse --short HEAD 2>/dev/null").read().strip()  # noqa: E731
    results = {"command": " ".join(sys.argv), "commit_start": head(), "load_avg_start": os.getloadavg(), "episodes": []}
    for spec in args.episodes.split(","):
        name, seed = spec.rsplit(":", 1)
        results["episodes"].append(bench_episode(name, int(seed), args.seconds, out, methods, args.exact_dlib))
    results["real"] = [] if args.no_real else bench_real(out)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    results["load_avg_end"], results["commit_end"] = os.getloadavg(), head()
    (out / "quality.md").write_text(tables(results, full=True) + "\n")
    text = tables(results)
    (out / "quality.json").write_text(json.dumps(results, indent=2) + "\n")
    print(text)
    print(f"\n{len(results['episodes'])} episodes of {args.seconds:.0f} s + {len(results['real'])} real clips in "
          f"{results['wall_s']:.0f} s; results in {out / 'quality.json'}")


if __name__ == "__main__":
    main()
