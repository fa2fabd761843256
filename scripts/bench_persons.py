#!/usr/bin/env python3
"""Persons, clothing and super-resolution: grouping quality and speed per variant.

    FACECLUSTER_MODELS=../shared/models python scripts/bench_persons.py --out bench_results/persons

Part 1 (clothing): small synthetic episodes from the three labelled face sets (two seeds each; people
wear an identity-specific outfit and some are seen from behind) plus two real clips, for face-only,
face+hsv (face-anchored torso), face+YOLO+hsv, face+YOLO+reid, and a clothing-weight sweep.
Part 2 (super-resolution): a synthetic episode whose faces are 16-30 px tall and the small-face GIFs,
with and without `upscale`. Prints tables, writes results.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import facecluster
from facecluster.evaluate.harness import evaluate
from facecluster.evaluate.synth import synthesize_episode

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
BASE = {"face_detector": "yunet", "face_embedder": "arcface"}
CLOTHING = {
    "face only": {},
    "face+hsv": {"clothing_embedder": "hsv-hist"},
    "face+yolo+hsv": {"body_detector": "yolo", "clothing_embedder": "hsv-hist"},
    "face+yolo+reid": {"body_detector": "yolo", "clothing_embedder": "reid"},
}
TINY = dict(close=(0.022, 0.042), medium=(0.022, 0.042), wide=(0.022, 0.042))


def episodes(folder: Path, seeds=(1, 5)) -> list[tuple[str, Path, Path]]:
    out = []
    for faces in ("faceapi_bbt", "yywbxgl_video_faces", "face_recognition_examples"):
        for seed in seeds:
            video, truth = folder / f"{faces}_{seed}.mp4", folder / f"{faces}_{seed}.json"
            if not video.exists():
                synthesize_episode(MEDIA / "faces" / faces, video, truth, small=True, seed=seed)
            out.append((f"{faces}/{seed}", video, truth))
    return out


def score(video: Path, truth: Path | None, overrides: dict, work: Path) -> dict:
    config = facecluster.build_config(overrides=BASE | overrides)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        t = time.perf_counter()
        result = facecluster.run(video, config, output_dir=Path(tmp) / "out")
        wall = time.perf_counter() - t
        row = {"people": result.n_people, "speed": result.video.duration_s / wall,
               "faces": int((result.detections["kind"] == "face").sum())}
        if truth:
            ev = evaluate(Path(tmp) / "out", truth, write=False)
            row |= {"face_f": ev["faces"]["clustering"]["bcubed"]["f"], "true_people": ev["faces"]["people"]["true"],
                    "person_f": ev["persons"]["clustering"]["bcubed"]["f"] if ev["persons"]["detection"]["matched"]
                    else None, "face_recall": ev["faces"]["detection"]["recall"]}
    return row


def table(title: str, rows: dict[str, list[dict]]) -> None:
    print(f"\n{title}")
    print(f"{'variant':<22}{'face BCubed F':>15}{'min':>7}{'person F':>10}{'|people err|':>14}{'speed x':>9}")
    for name, results in rows.items():
        f = [r["face_f"] for r in results if "face_f" in r]
        pf = [r["person_f"] for r in results if r.get("person_f") is not None]
        err = [abs(r["people"] - r["true_people"]) for r in results if "true_people" in r]
        print(f"{name:<22}{np.mean(f):>15.3f}{min(f):>7.3f}{(np.mean(pf) if pf else float('nan')):>10.3f}"
              f"{np.mean(err):>14.2f}{np.median([r['speed'] for r in results]):>9.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench_results/persons")
    ap.add_argument("--weights", default="0.15,0.3,0.5,0.7")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    eps = episodes(out)
    results: dict = {"clothing": {}, "weights": {}, "superres": {}, "real": {}}
    for name, extra in CLOTHING.items():
        results["clothing"][name] = [score(v, t, extra, out) | {"episode": e} for e, v, t in eps]
    table("clothing (6 synthetic episodes, fast-profile faces)", results["clothing"])
    for w in args.weights.split(","):
        extra = CLOTHING["face+yolo+reid"] | {"clothing_weight": float(w)}
        results["weights"][w] = [score(v, t, extra, out) | {"episode": e} for e, v, t in eps]
    table("clothing_weight sweep (face+yolo+reid)", results["weights"])
    for clip, true in (("secureface_rpi_test_2.avi", 1), ("secureface_rpi_test_3.avi", 2)):
        results["real"][clip] = {name: score(MEDIA / "videos" / clip, None, extra, out)["people"]
                                 for name, extra in CLOTHING.items()} | {"true": true}
    print("\nreal clips, people found:", json.dumps(results["real"], indent=1))
    tiny_video, tiny_truth = out / "tiny_faces.mp4", out / "tiny_faces.json"
    if not tiny_video.exists():
        synthesize_episode(MEDIA / "faces" / "faceapi_bbt", tiny_video, tiny_truth, seconds=40, seed=3,
                           identities=4, **TINY)
    for up in ("", "fsrcnn-x2", "espcn-x3", "fsrcnn-x4", "lapsrn-x4"):
        extra = {"upscale": up, "upscale_min_face": 40, "min_face_size": 8}
        row = {"tiny episode": score(tiny_video, tiny_truth, extra, out)}
        for gif, true in (("intel_classroom.gif", 4), ("intel_face-demographics-walking.gif", 2)):
            row[gif] = score(MEDIA / "videos" / gif, None, extra, out) | {"true_people": true}
        results["superres"][up or "none"] = row
    print(f"\n{'upscale':<12}{'tiny F':>8}{'tiny people':>13}{'tiny speed':>12}{'classroom faces/people':>24}"
          f"{'walking faces/people':>22}")
    for up, row in results["superres"].items():
        t, c, w = row["tiny episode"], row["intel_classroom.gif"], row["intel_face-demographics-walking.gif"]
        print(f"{up:<12}{t['face_f']:>8.3f}{t['people']:>7}/{t['true_people']:<5}{t['speed']:>12.1f}"
              f"{c['faces']:>17}/{c['people']}/{c['true_people']}{w['faces']:>17}/{w['people']}/{w['true_people']}")
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
