#!/usr/bin/env python3
"""Grouping quality, leave-one-face-set-out (issue 9): nothing is scored on the data that chose it.

    FACECLUSTER_MODELS=../shared/models python scripts/bench_quality.py --out bench_results/quality

1. Synthetic episodes (`facecluster synth`, 90 s, 1280x720) from every identity-labelled face set of
   ../shared/media/faces, two seeds each; each configuration in --configs runs once per episode.
2. For each held-out face set H: the face cut prior is calibrated on the labelled photos of the OTHER sets
   (scripts/calibrate_embedders.py's calibrate_threshold), then the grouping options (cut scale, clothing
   weight, clothing veto) are chosen by mean BCubed F on the OTHER sets' episodes, re-grouping their
   stored extractions in process; only then are H's episodes scored: fused, faces only (same cut), with the
   per-video cut (grouping.calibrate), and the baselines on the same detections and embeddings: Immich's
   DBSCAN, and Chinese whispers and single linkage at the fold's prior cut (the cut our grouping starts
   from); face_recognition's DBSCAN and Chinese whispers on the builtin runs' dlib descriptors.
3. People counted on the real clips with known counts, with options chosen on all sets.
Prints markdown tables (every episode, detection recall beside BCubed F) and writes OUT/quality-CONFIGS.json.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("FACECLUSTER_MODELS", str(ROOT.parent / "shared" / "models"))

import facecluster  # noqa: E402
from facecluster.config import build_config  # noqa: E402
from facecluster.evaluate.baselines import RECIPES, Recipe, run_baseline  # noqa: E402
from facecluster.evaluate.harness import score  # noqa: E402
from facecluster.evaluate.synth import synthesize_episode  # noqa: E402
from facecluster.results.state import regroup  # noqa: E402
from facecluster.runfolder import RunFolder  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
SETS = ("faceapi_bbt", "face_recognition_examples", "yywbxgl_video_faces", "glint_celebs22")
EPISODES = "faceapi_bbt:1,faceapi_bbt:4,face_recognition_examples:2,face_recognition_examples:5," \
           "yywbxgl_video_faces:3,yywbxgl_video_faces:6,glint_celebs22:7,glint_celebs22:8"
REAL_CLIPS = {"secureface_rpi_test_1.avi": 2, "secureface_rpi_test_2.avi": 1, "secureface_rpi_test_3.avi": 2,
              "secureface_rpi_test_4.avi": 2, "intel_head-pose-face-detection-female-and-male.gif": 2,
              "intel_face-demographics-walking-and-pause.gif": 3, "intel_face-demographics-walking.gif": 2,
              "intel_classroom.gif": 4}  # people in each clip (../shared/media/MEDIA.md)
GRID = {"cut_scale": (0.9, 1.0, 1.1), "clothing": ((0.0, 1.0), (0.3, 1.25), (0.5, 1.25), (0.3, 1.5), (0.5, 1.5)),
        "reliable_face": (0.0, 24.0, 32.0)}
log = functools.partial(print, file=sys.stderr, flush=True)


def config_file(name: str) -> Path:
    for folder in (ROOT / "facecluster" / "profiles", ROOT / "tests" / "configs"):
        if (folder / f"{name}.toml").is_file():
            return folder / f"{name}.toml"
    path = Path(name)
    if path.is_file():
        return path
    raise SystemExit(f"no config {name!r} (facecluster/profiles/NAME.toml, tests/configs/NAME.toml or a path)")


def extraction(outdir: Path):
    rf = RunFolder(outdir)
    with rf.reading():
        stored = rf.load(grouping=False)
    return stored.extraction


class Episode:
    """A run's extraction and the truth identity of each face row it matched (matched once: grouping
    changes person ids, not which detection matches which truth box)."""

    def __init__(self, outdir: Path, truth: Path):
        self.ext = extraction(outdir)
        self.truth = truth
        t = self.ext.table
        frames = set(self.ext.frames[:, 0].astype(int).tolist())
        self.frames = frames
        self.base = score(t.replace(person_id=np.arange(len(t))), frames, truth)["faces"]
        from facecluster.evaluate import metrics
        from facecluster.evaluate.harness import _truth_by_kind, predictions
        from facecluster.evaluate.synth import load_truth

        per_frame = predictions(t.replace(person_id=np.arange(len(t))), "face")
        m = metrics.match_frames(_truth_by_kind(load_truth(truth))["face"], per_frame, frames, 0.5)
        self.identity = [ident for (ident, _), _ in m["pairs"]]
        self.rows = np.array([row for _, row in m["pairs"]], np.int64)

    def score(self, config) -> tuple[dict, dict]:
        from facecluster.evaluate import metrics

        regrouped = regroup(self.ext, config, [])
        person = regrouped.unit_person[self.ext.table.unit_id[self.rows]] if len(self.rows) else np.zeros(0)
        c = metrics.clustering_report(self.identity, person.tolist())
        d = self.base["detection"]
        out = {"det_recall": d["recall"], "det_precision": d["precision"], "bcubed_p": c["bcubed"]["precision"],
               "bcubed_r": c["bcubed"]["recall"], "bcubed_f": c["bcubed"]["f"], "nmi": c["nmi"],
               "people_pred": metrics.people_count([p for p in person.tolist()]),
               "people_true": self.base["people"]["true"], "cut": regrouped.info.get("face_cut")}
        return out, regrouped.info


def grouped_score(ep: "Episode", config) -> dict:
    return ep.score(config)[0]


def summarize(faces: dict, info: dict | None = None) -> dict:
    c, d = faces["clustering"], faces["detection"]
    out = {"det_recall": d["recall"], "det_precision": d["precision"], "bcubed_p": c["bcubed"]["precision"],
           "bcubed_r": c["bcubed"]["recall"], "bcubed_f": c["bcubed"]["f"], "nmi": c["nmi"],
           "people_pred": faces["people"]["predicted"], "people_true": faces["people"]["true"]}
    if info:
        out["cut"] = info.get("face_cut")
    return out


def prior_from_photos(config, sets: list[str]) -> float:
    """The embedder's same-person cut at best F1, calibrated on the labelled photos of `sets` only (pairs
    within each set, as grouping sees them: one video, one cast), embedded like the pipeline does."""
    import calibrate_embedders as cal

    from facecluster import registry

    full = config.replace(detect_max_side=0)
    detector = registry.create("face-detector", full.face_detector, registry.options_for("face-detector", full))
    embedder = registry.create("face-embedder", full.face_embedder, registry.options_for("face-embedder", full))
    vectors, ident = [], []
    for photo in cal.labelled_photos(sets=sets):
        found = cal.find_face(detector, photo.image)
        if found is not None:
            vectors.append(embedder.embed(photo.image, found)[0])
            ident.append(photo.identity)
    vectors = np.asarray(vectors)
    d, same = [], []
    for s in sets:
        idx = [i for i, name in enumerate(ident) if name.startswith(s + "/")]
        if len(idx) > 1:
            dd, ll = cal.pair_distances(vectors[idx], [ident[i] for i in idx])
            d.append(dd)
            same.append(ll)
    return float(cal.calibrate_threshold(np.concatenate(d), np.concatenate(same)))


def choose(train: list, prior: float, base) -> tuple[dict, float]:
    """Grouping options with the best mean BCubed F on the training episodes."""
    best, best_f = None, -1.0
    for cut_scale, (weight, veto), reliable in itertools.product(*GRID.values()):
        options = {"cluster_distance": round(cut_scale * prior, 4), "clothing_weight": weight, "clothing_veto": veto,
                   "reliable_face": reliable}
        cfg = base.replace(**options)
        f = float(np.mean([grouped_score(ep, cfg)["bcubed_f"] for ep in train]))
        if f > best_f + 1e-9:
            best, best_f = options, f
    return best, best_f


def at_prior(prior: float) -> dict[str, Recipe]:
    """Plain recipes on the run's own face vectors with the fold's calibrated cut instead of a recipe's fixed
    one: Chinese whispers (dlib's, on unit vectors: euclidean sqrt(2 x cosine)) and single linkage
    (DBSCAN with one sample: faces joined when a chain of them is under the cut)."""
    embedders = RECIPES["immich-dbscan"].embedders
    return {"cw@prior": Recipe("cw@prior", embedders, "chinese_whispers", {"threshold": float(np.sqrt(2 * prior))}),
            "single-link@prior": Recipe("single-link@prior", embedders, "dbscan",
                                        {"eps": prior, "min_samples": 1, "metric": "cosine"})}


def run_config(video: Path, name: str, outdir: Path) -> float:
    if (outdir / "manifest.json").is_file():
        return 0.0
    t = time.perf_counter()
    facecluster.run(video, build_config(config_file(name)), output_dir=outdir)
    return round(time.perf_counter() - t, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench_results/quality")
    ap.add_argument("--episodes", default=EPISODES, help="FACE_SET:SEED,...")
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--configs", default="fast", help="configs to evaluate (profile names or TOML paths)")
    ap.add_argument("--builtin", default="builtin", help="config whose dlib runs feed the face_recognition "
                                                        "baselines ('' = skip them)")
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--curves", action="store_true",
                    help="only print each episode's BCubed F at cut scales 0.8-1.2 x the all-sets prior with the "
                         "config's own clothing options (a diagnosis: chooses nothing)")
    args = ap.parse_args()
    out = Path(args.out)
    (out / "episodes").mkdir(parents=True, exist_ok=True)
    episodes = []
    for spec in args.episodes.split(","):
        name, seed = spec.rsplit(":", 1)
        tag = f"{name}-s{seed}"
        video, truth = out / "episodes" / f"{tag}.mp4", out / "episodes" / f"{tag}.json"
        if not video.is_file():
            synthesize_episode(MEDIA / "faces" / name, video, truth, seconds=args.seconds, seed=int(seed))
            log(f"synthesized {tag}")
        episodes.append((name, tag, video, truth))
    results = {"command": " ".join(sys.argv), "grid": GRID, "configs": {}}
    configs = [c for c in args.configs.split(",") if c]
    for cname in configs + ([args.builtin] if args.builtin else []):
        for _, tag, video, _ in episodes:
            took = run_config(video, cname, out / "runs" / tag / cname)
            if took:
                log(f"{tag}: {cname} ran in {took} s")
    sets = sorted({e[0] for e in episodes})
    if args.curves:
        for cname in configs:
            print(cut_curves(cname, {tag: Episode(out / "runs" / tag / cname, truth) for _, tag, _, truth in episodes},
                             prior_from_photos(build_config(config_file(cname)), sets)))
        return
    for cname in configs:
        base = build_config(config_file(cname))
        eps = {tag: Episode(out / "runs" / tag / cname, truth) for _, tag, _, truth in episodes}
        rows, folds = [], {}
        for held in sets:
            others = [s for s in sets if s != held]
            prior = prior_from_photos(base, others)
            train = [eps[tag] for s, tag, _, _ in episodes if s != held]
            options, train_f = choose(train, prior, base)
            folds[held] = {"prior": prior, "chosen": options, "train_bcubed_f": train_f}
            log(f"{cname} fold {held}: prior {prior:.3f}, chose {options} (train F {train_f:.3f})")
            cfg = base.replace(**options)
            for s, tag, _, truth in episodes:
                if s != held:
                    continue
                ep = eps[tag]
                row = {"episode": tag, "set": s, "fused": grouped_score(ep, cfg),
                       "faces_only": grouped_score(ep, cfg.replace(clothing_weight=0.0)),
                       "video_cut": grouped_score(ep, cfg.replace(cluster_distance=0.0, calibrate_cut=True)),
                       "every_face_alike": grouped_score(ep, cfg.replace(reliable_face=0.0))}
                table, frames, _ = run_baseline(out / "runs" / tag / cname, RECIPES["immich-dbscan"])
                row["immich-dbscan"] = summarize(score(table, frames, truth)["faces"])
                for recipe in at_prior(prior).values():
                    table, frames, _ = run_baseline(out / "runs" / tag / cname, recipe)
                    row[recipe.name] = summarize(score(table, frames, truth)["faces"])
                if args.builtin:
                    for recipe in ("face_recognition-dbscan", "face_recognition-cw"):
                        table, frames, _ = run_baseline(out / "runs" / tag / args.builtin, RECIPES[recipe])
                        row[recipe] = summarize(score(table, frames, truth)["faces"])
                rows.append(row)
                log(f"{tag}: fused F {row['fused']['bcubed_f']:.3f} (recall {row['fused']['det_recall']:.3f}), "
                    f"faces only {row['faces_only']['bcubed_f']:.3f}, immich {row['immich-dbscan']['bcubed_f']:.3f}")
        all_prior = prior_from_photos(base, sets)
        all_options, _ = choose(list(eps.values()), all_prior, base)
        real = [] if args.no_real else real_counts(cname, base.replace(**all_options), out)
        results["configs"][cname] = {"folds": folds, "episodes": rows, "all_sets": {"prior": all_prior,
                                                                                   "chosen": all_options},
                                     "real": real}
    tag = "+".join(Path(c).stem for c in configs)
    (out / f"quality-{tag}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(tables(results))


def cut_curves(cname: str, eps: dict, prior: float, scales=(0.8, 0.9, 1.0, 1.1, 1.2)) -> str:
    base = build_config(config_file(cname))
    lines = [f"### {cname}: BCubed F by cut scale (x {prior:.3f}; clothing {base.clothing_weight} / "
             f"{base.clothing_veto})", "", "| episode | " + " | ".join(map(str, scales)) + " |",
             "|---" * (len(scales) + 1) + "|"]
    for tag, ep in eps.items():
        cells = [grouped_score(ep, base.replace(cluster_distance=round(k * prior, 4)))["bcubed_f"] for k in scales]
        lines.append(f"| {tag} | " + " | ".join(f"{f:.3f}" for f in cells) + " |")
    return "\n".join(lines)


def real_counts(cname: str, cfg, out: Path) -> list[dict]:
    rows = []
    for clip, true in REAL_CLIPS.items():
        outdir = out / "real" / clip / cname
        run_config(MEDIA / "videos" / clip, cname, outdir)
        people = regroup(extraction(outdir), cfg, []).unit_person
        rows.append({"clip": clip, "true": true, "found": int(people.max(initial=-1) + 1)})
    return rows


def tables(results: dict) -> str:
    lines = []
    for cname, r in results["configs"].items():
        methods = ["fused", "faces_only", "every_face_alike", "video_cut", "immich-dbscan", "cw@prior",
                   "single-link@prior", "face_recognition-dbscan", "face_recognition-cw"]
        present = [m for m in methods if r["episodes"] and m in r["episodes"][0]]
        lines += [f"### {cname}", "", "| episode | det recall | " + " | ".join(f"{m} BCubed F" for m in present)
                  + " | people (fused) pred / true |", "|---" * (len(present) + 3) + "|"]
        for e in r["episodes"]:
            lines.append(f"| {e['episode']} | {e['fused']['det_recall']:.3f} | "
                         + " | ".join(f"{e[m]['bcubed_f']:.3f}" for m in present)
                         + f" | {e['fused']['people_pred']} / {e['fused']['people_true']} |")
        means = [np.mean([e[m]["bcubed_f"] for e in r["episodes"]]) for m in present]
        lines.append("| **mean** | {:.3f} | ".format(np.mean([e["fused"]["det_recall"] for e in r["episodes"]]))
                     + " | ".join(f"**{v:.3f}**" for v in means) + " | |")
        lines += ["", "| held-out set | face cut prior (other sets' photos) | chosen on the other sets' episodes |",
                  "|---|---|---|"]
        lines += [f"| {s} | {f['prior']:.3f} | {f['chosen']} (train F {f['train_bcubed_f']:.3f}) |"
                  for s, f in r["folds"].items()]
        lines += [f"| (all sets: the shipped defaults) | {r['all_sets']['prior']:.3f} | {r['all_sets']['chosen']} |"]
        if r["real"]:
            lines += ["", "| real clip | true | found |", "|---|---|---|"]
            lines += [f"| {x['clip']} | {x['true']} | {x['found']} |" for x in r["real"]]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
