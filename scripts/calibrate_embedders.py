"""Calibrate each face embedder's SAME_PERSON_DISTANCE (cosine distance, 1 - cos) on identity-labelled photos.

Why: clustering and tracking decide "same person" with this one number, and every model spreads its
distances differently, so it has to be measured, not guessed. Each labelled photo (../shared/media/faces/
*/identity_labels.csv) is padded with a black border (tight crops otherwise defeat the detectors; SCRFD
finds fewer with a replicated border), its largest face detected and embedded by every embedder, and all
pairs within one photo set are scored. Per embedder it prints the pooled pairwise numbers (max-F1 threshold,
equal-error threshold, same/different medians, ms per face), then one row per photo set, and `macro`: the
threshold maximising the mean of the per-set F1s, so the 150-photo video set does not outvote the others.

    FACECLUSTER_MODELS=../shared/models python scripts/calibrate_embedders.py [--detector scrfd]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("FACECLUSTER_MODELS", str(ROOT / ".." / "shared" / "models"))

from facecluster.backends import create_detector, create_embedder  # noqa: E402
from facecluster.config import Config  # noqa: E402
from facecluster.errors import FaceclusterError  # noqa: E402

EMBEDDERS = [("dlib", "", False), ("arcface", "mobilefacenet-paddle", True),
             ("arcface", "mobilefacenet-paddle", False), ("arcface", "mobilefacenet-pytorch", True),
             ("arcface", "mobilefacenet-pytorch", False), ("arcface", "w600k-mbf", True),
             ("arcface", "w600k-r50", True), ("arcface", "sface", True)]


def labelled_faces(faces_root: Path, detector):
    """(image, Detections of its largest face, identity, set) per distinct labelled photo."""
    seen, out = set(), []
    for labels in sorted(faces_root.glob("*/identity_labels.csv")):
        for row in csv.DictReader(open(labels, encoding="utf-8")):
            path = labels.parent / row["file"]
            data = path.read_bytes()
            digest = hashlib.sha1(data).hexdigest()
            if digest in seen:  # the face_recognition examples ship some photos twice
                continue
            seen.add(digest)
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            pad = max(img.shape[:2]) // 3
            img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT)
            dets = detector.detect(img)
            if len(dets):
                out.append((img, dets[int(np.argmax(dets.widths * dets.heights))], row["identity"],
                            labels.parent.name))
    return out


GRID = np.round(np.arange(0.0, 1.5, 0.0025), 4)


def calibrate(dist: np.ndarray, same: np.ndarray, cuts=None) -> dict:
    """Thresholds from pairwise distances: F1 of 'same' at every cut, and where FAR == FRR."""
    cuts = np.unique(dist) if cuts is None else cuts
    s, d = np.sort(dist[same]), np.sort(dist[~same])
    tp = np.searchsorted(s, cuts, side="right")  # same pairs at or below the cut
    fp = np.searchsorted(d, cuts, side="right")
    f1 = 2 * tp / np.maximum(2 * tp + fp + (len(s) - tp), 1)
    best = int(np.argmax(f1))
    frr, far = 1 - tp / len(s), fp / len(d)
    eer = int(np.argmin(np.abs(frr - far)))
    return {"thr_f1": cuts[best], "f1": f1[best], "f1_curve": f1,
            "thr_eer": cuts[eer], "eer": (frr[eer] + far[eer]) / 2,
            "same_med": np.median(s), "diff_med": np.median(d), "n_same": len(s), "n_diff": len(d)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", default=str(ROOT / ".." / "shared" / "media" / "faces"))
    ap.add_argument("--detector", default="yunet", choices=["scrfd", "yunet"])
    args = ap.parse_args()
    detector = create_detector(args.detector, Config(detect_threshold=0.5))
    faces = labelled_faces(Path(args.faces), detector)
    ids = np.array([f"{s}/{i}" for _, _, i, s in faces])
    sets = np.array([s for _, _, _, s in faces])
    pair = np.triu(sets[:, None] == sets[None], 1)  # pairs within one photo set only
    same = (ids[:, None] == ids[None])[pair]
    print(f"{len(faces)} faces, {len(set(ids))} identities, {same.sum()} same / {(~same).sum()} different pairs "
          f"(detector {args.detector})")
    print(f"{'embedder':34} {'thr@F1':>7} {'F1':>5} {'thr@EER':>7} {'EER':>5} {'same_med':>8} {'diff_med':>8} "
          f"{'ms/face':>7}")
    for name, model, flip in EMBEDDERS:
        label = f"{name}:{model or 'dlib-resnet'}{' +flip' if flip else ''}"
        try:
            emb = create_embedder(name, Config(face_embedder_model=model, embed_flip=flip))
        except FaceclusterError as exc:
            print(f"{label:34} skipped: {str(exc)[:70]}")
            continue
        emb.embed(faces[0][0], faces[0][1])  # warm-up
        t0 = time.perf_counter()
        vecs = np.concatenate([emb.embed(img, det) for img, det, _, _ in faces])
        ms = (time.perf_counter() - t0) * 1000 / len(faces)
        dist = 1 - vecs @ vecs.T
        row(label, calibrate(dist[pair], same), ms)
        curves = []
        for name_set in sorted(set(sets)):
            in_set = np.triu(np.outer(sets == name_set, sets == name_set), 1)
            r = calibrate(dist[in_set], (ids[:, None] == ids[None])[in_set], GRID)
            curves.append(r["f1_curve"])
            row(f"  {name_set[:32]}", r)
        macro = np.mean(curves, axis=0)
        print(f"  {'macro (mean per-set F1)':32} {GRID[int(np.argmax(macro))]:7.3f} {macro.max():5.3f}")


def row(label: str, r: dict, ms: float | None = None) -> None:
    print(f"{label:34} {r['thr_f1']:7.3f} {r['f1']:5.3f} {r['thr_eer']:7.3f} {r['eer']:5.3f} "
          f"{r['same_med']:8.3f} {r['diff_med']:8.3f} " + (f"{ms:7.1f}" if ms is not None else ""))


if __name__ == "__main__":
    main()
