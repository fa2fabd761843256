"""Calibrate and compare face embedders x landmark sources on identity-labelled photos, per face set.

Why: clustering and tracking decide "same person" with one cosine-distance cut per embedder, and every
model spreads its distances differently, so it has to be measured, not guessed; and alignment (the 5
landmarks) matters as much as the embedder. Each labelled photo (../shared/media/faces/*/identity_labels.csv)
is padded with a black border (tight crops otherwise defeat the detectors), its largest face found by a
landmark source (a detector, optionally with landmark refinement) and embedded by every embedder, with and
without flip averaging. Pairs are formed within each face set only. Per embedder x landmark source x set
it reports AUC, TAR at 0.1 % FAR, the max-F1 threshold, same/different medians; ms/face is timed once per
embedder (batch 32, 1 thread, median of --repeats runs; the machine is shared, so read it as a guide).

`--face-side S` renders every photo into a 1280x720 frame with its face S pixels tall before detecting
(with --max-side, as the fast profile does), to measure alignment on close-ups and small faces alike.

For leave-one-set-out benchmarks, import `pair_distances` / `calibrate_threshold` / `pair_metrics`, or
read the per-set distance dumps written by `--dump DIR` (one .npz per embedder x landmarks x set with
`distance` and `same`, pairs within the set).

    FACECLUSTER_MODELS=../shared/models python scripts/calibrate_embedders.py \\
        [--landmarks yunet yunet+refine-scrfd scrfd] [--embedders edgeface-xs sface] [--face-side 400 --max-side 960]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("FACECLUSTER_MODELS", str(ROOT / ".." / "shared" / "models"))
sys.path.insert(0, str(ROOT))

from facecluster import registry  # noqa: E402
from facecluster.registry import FaceDetectorOptions, FaceEmbedderOptions  # noqa: E402
from facecluster.types import Detections, iou_matrix, l2_normalize  # noqa: E402

FACES = ROOT / ".." / "shared" / "media" / "faces"
# label -> (backend, model)
EMBEDDERS = {
    "mobilefacenet-paddle": ("arcface", "mobilefacenet-paddle"),
    "mobilefacenet-pytorch": ("arcface", "mobilefacenet-pytorch"),
    "sface": ("sface", "sface-int8bq-fp32"),
    "edgeface-xs": ("edgeface", "edgeface-xs"),
    "edgeface-xxs": ("edgeface", "edgeface-xxs"),
    "dlib": ("dlib", ""),
}
# label -> (detector backend, landmark refiner backend or "")
LANDMARKS = {
    "yunet": ("yunet", ""),
    "yunet+refine-yunet": ("yunet", "yunet"),
    "yunet+refine-scrfd": ("yunet", "scrfd"),
    "scrfd": ("scrfd", ""),
    "scrfd+refine-scrfd": ("scrfd", "scrfd"),
}
FRAME = (720, 1280)


@dataclass
class Photo:
    image: np.ndarray   # BGR, padded
    identity: str       # "set/identity"
    set: str
    file: str


def labelled_photos(faces_root: Path = FACES, sets: list[str] | None = None) -> list[Photo]:
    """Every distinct labelled photo (duplicates by content dropped), padded by a third of its long side."""
    seen, out = set(), []
    for labels in sorted(Path(faces_root).glob("*/identity_labels.csv")):
        name = labels.parent.name
        if sets and name not in sets:
            continue
        with open(labels, encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        for row in rows:
            data = (labels.parent / row["file"]).read_bytes()
            digest = hashlib.sha1(data).hexdigest()
            if digest in seen:  # the face_recognition examples ship some photos twice
                continue
            seen.add(digest)
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            pad = max(img.shape[:2]) // 3
            img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT)
            out.append(Photo(img, f"{name}/{row['identity']}", name, row["file"]))
    return out


def make_detector(label: str, threshold: float = 0.5, max_side: int = 0):
    backend, refiner = LANDMARKS[label]
    return registry.create("face-detector", backend,
                           FaceDetectorOptions(threshold=threshold, max_side=max_side, refine_landmarks=refiner))


def render(image: np.ndarray, box: np.ndarray, face_side: float, frame=FRAME) -> tuple[np.ndarray, np.ndarray]:
    """The image scaled so the box's long side is face_side, its centre at the frame's centre (black
    around): (frame image, the box in it)."""
    f = face_side / max(box[2] - box[0], box[3] - box[1])
    scaled = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    fh, fw = frame
    cx, cy = (box[0] + box[2]) / 2 * f, (box[1] + box[3]) / 2 * f
    ox, oy = int(round(fw / 2 - cx)), int(round(fh / 2 - cy))
    out = np.zeros((fh, fw, 3), np.uint8)
    sx0, sy0 = max(0, -ox), max(0, -oy)
    dx0, dy0 = max(0, ox), max(0, oy)
    w = min(scaled.shape[1] - sx0, fw - dx0)
    h = min(scaled.shape[0] - sy0, fh - dy0)
    if w > 0 and h > 0:
        out[dy0:dy0 + h, dx0:dx0 + w] = scaled[sy0:sy0 + h, sx0:sx0 + w]
    return out, np.asarray(box, np.float32) * f + np.array([ox, oy, ox, oy], np.float32)


def find_face(detector, image: np.ndarray, expected: np.ndarray | None = None) -> Detections | None:
    """The largest face, or the one overlapping `expected` best (IoU >= 0.3); None if not found."""
    dets = detector.detect(image)
    if not len(dets):
        return None
    if expected is None:
        return dets[int(np.argmax(dets.widths * dets.heights))]
    iou = iou_matrix(expected[None], dets.boxes)[0]
    best = int(np.argmax(iou))
    return dets[best] if iou[best] >= 0.3 else None


def embed_views(embedder, images, dets, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(vectors without flip, vectors with flip averaging) of one face per image, in batches."""
    chips = np.concatenate([embedder.chips(img, d) for img, d in zip(images, dets)])
    plain, flipped = [], []
    for start in range(0, len(chips), batch):
        part = chips[start:start + batch]
        raw = l2_normalize(embedder._vectors(np.concatenate([part, part[:, :, ::-1]])))
        plain.append(raw[:len(part)])
        flipped.append(l2_normalize(raw[:len(part)] + raw[len(part):]))
    return np.concatenate(plain), np.concatenate(flipped)


def time_embedder(embedder, chips: np.ndarray, flip: bool, repeats: int = 7) -> float:
    """Median ms per face of embed_chips on one batch of chips."""
    embedder.options = replace(embedder.options, flip=flip)
    embedder.embed_chips(chips)  # warm-up
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        embedder.embed_chips(chips)
        runs.append((time.perf_counter() - t0) * 1000 / len(chips))
    return float(np.median(runs))


# ---- metrics ---------------------------------------------------------------------------------------------
def pair_distances(vectors: np.ndarray, identities) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distances of all pairs i < j and whether each pair is the same identity."""
    ids = np.asarray(identities)
    iu = np.triu_indices(len(ids), 1)
    return (1.0 - vectors @ vectors.T)[iu], (ids[:, None] == ids[None])[iu]


def calibrate_threshold(distances, labels) -> float:
    """The cosine-distance cut (same person if distance <= cut) with the best F1 of 'same' on these pairs;
    the midpoint between the chosen pair distance and the next larger one, so it generalises symmetrically."""
    return pair_metrics(distances, labels)["thr_f1"]


def pair_metrics(distances, labels, far: float = 0.001) -> dict:
    dist = np.asarray(distances, np.float64)
    same = np.asarray(labels, bool)
    s, d = np.sort(dist[same]), np.sort(dist[~same])
    cuts = np.unique(dist)
    tp = np.searchsorted(s, cuts, side="right")
    fp = np.searchsorted(d, cuts, side="right")
    f1 = 2 * tp / np.maximum(2 * tp + fp + (len(s) - tp), 1)
    best = int(np.argmax(f1))
    thr = (cuts[best] + cuts[best + 1]) / 2 if best + 1 < len(cuts) else cuts[best]
    # AUC = P(same pair closer than different pair), ties counted half
    ranks = np.searchsorted(d, s, side="left") + 0.5 * (np.searchsorted(d, s, side="right")
                                                        - np.searchsorted(d, s, side="left"))
    auc = float(np.mean(len(d) - ranks) / len(d)) if len(s) and len(d) else float("nan")
    # TAR at FAR: the cut below which at most far * n_diff different pairs fall
    k = int(np.floor(far * len(d)))
    cut = d[k] if k < len(d) else np.inf
    tar = float(np.mean(s < cut)) if len(s) else float("nan")
    return {"auc": auc, "tar": tar, "thr_f1": float(thr), "f1": float(f1[best]),
            "same_med": float(np.median(s)) if len(s) else float("nan"),
            "diff_med": float(np.median(d)) if len(d) else float("nan"), "n_same": len(s), "n_diff": len(d)}


GRID = np.round(np.arange(0.20, 1.20, 0.005), 3)


def f1_curve(distances, labels, cuts=GRID) -> np.ndarray:
    """F1 of 'same person' when pairs at or below each cut are called the same."""
    dist, same = np.asarray(distances), np.asarray(labels, bool)
    s, d = np.sort(dist[same]), np.sort(dist[~same])
    tp = np.searchsorted(s, cuts, side="right")
    fp = np.searchsorted(d, cuts, side="right")
    return 2 * tp / np.maximum(2 * tp + fp + (len(s) - tp), 1)


def macro_threshold(per_set: dict) -> float:
    """The cut with the best mean of per-set F1s ({set: (distances, labels)}), so no set outvotes another."""
    return float(GRID[int(np.argmax(np.mean([f1_curve(d, s) for d, s in per_set.values()], axis=0)))])


def leave_one_set_out(per_set: dict) -> dict:
    """{held-out set: (cut chosen on the other sets, F1 there with that cut, F1 there with its own best cut)}."""
    out = {}
    for held in per_set:
        cut = macro_threshold({k: v for k, v in per_set.items() if k != held})
        curve = f1_curve(*per_set[held])
        out[held] = (cut, float(curve[int(np.searchsorted(GRID, cut))]), float(curve.max()))
    return out


# ---- main ------------------------------------------------------------------------------------------------
def locate_faces(photos, label: str, face_side: float | None, max_side: int, reference):
    """(images, detections) per photo for one landmark source; None where the face was not found."""
    detector = make_detector(label, max_side=max_side)
    images, dets = [], []
    for photo, ref in zip(photos, reference):
        if ref is None:
            images.append(None), dets.append(None)
            continue
        if face_side:
            img, expected = render(photo.image, ref.boxes[0], face_side)
        else:
            img, expected = photo.image, ref.boxes[0]
        images.append(img)
        dets.append(find_face(detector, img, expected))
    return images, dets


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", default=str(FACES))
    ap.add_argument("--sets", nargs="*", help="face set folder names (default: all)")
    ap.add_argument("--landmarks", nargs="*", default=["yunet", "yunet+refine-scrfd", "scrfd"], choices=list(LANDMARKS))
    ap.add_argument("--embedders", nargs="*", default=list(EMBEDDERS), choices=list(EMBEDDERS))
    ap.add_argument("--face-side", type=float, default=0, help="render faces this tall in a 1280x720 frame")
    ap.add_argument("--max-side", type=int, default=0, help="detector max side (0 = full resolution)")
    ap.add_argument("--timing", action="store_true", help="also time each embedder (batch 32, 1 thread)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--timing-only", action="store_true", help="only time the embedders on 32 faceapi_bbt faces")
    ap.add_argument("--dump", help="write per-set distances here (.npz per embedder x landmarks x set)")
    args = ap.parse_args()
    if args.timing_only:
        return timing_only(args)
    photos = labelled_photos(Path(args.faces), args.sets)
    # every source is scored on the same faces: those every source found
    reference = [find_face(make_detector("scrfd"), p.image) for p in photos]
    found = {}
    for label in args.landmarks:
        t0 = time.perf_counter()
        found[label] = locate_faces(photos, label, args.face_side, args.max_side, reference)
        n = sum(d is not None for d in found[label][1])
        print(f"# landmarks {label}: {n}/{len(photos)} faces found ({time.perf_counter() - t0:.0f} s)", flush=True)
    keep = [i for i in range(len(photos)) if all(found[lb][1][i] is not None for lb in args.landmarks)]
    sets = sorted({photos[i].set for i in keep})
    print(f"# {len(keep)} faces found by every source; face side {args.face_side or 'natural'}, "
          f"max side {args.max_side or 'full'}")
    header = f"{'embedder':22} {'landmarks':20} {'flip':4} {'set':27} {'AUC':>6} {'TAR@1e-3':>8} {'thr@F1':>6} " \
             f"{'F1':>5} {'same_med':>8} {'diff_med':>8}"
    print(header)
    for emb_label in args.embedders:
        backend, model = EMBEDDERS[emb_label]
        embedder = registry.create("face-embedder", backend, FaceEmbedderOptions(model=model, flip=False))
        for lm_label in args.landmarks:
            images, dets = found[lm_label]
            plain, flipped = embed_views(embedder, [images[i] for i in keep], [dets[i] for i in keep])
            for flip, vectors in (("off", plain), ("on", flipped)):
                per_set = {}
                for name in sets + ["pooled"]:
                    rows = [k for k, i in enumerate(keep) if name == "pooled" or photos[i].set == name]
                    ids = [photos[keep[k]].identity for k in rows]
                    dist, same = pair_distances(vectors[rows], ids)
                    if name == "pooled":  # pairs within a set only
                        set_of = np.array([photos[keep[k]].set for k in rows])
                        iu = np.triu_indices(len(rows), 1)
                        within = (set_of[:, None] == set_of[None])[iu]
                        dist, same = dist[within], same[within]
                    m = pair_metrics(dist, same)
                    if name != "pooled":
                        per_set[name] = (dist, same)
                    print(f"{emb_label:22} {lm_label:20} {flip:4} {name[:27]:27} {m['auc']:6.4f} {m['tar']:8.3f} "
                          f"{m['thr_f1']:6.3f} {m['f1']:5.3f} {m['same_med']:8.3f} {m['diff_med']:8.3f}", flush=True)
                    if args.dump and name != "pooled":
                        out = Path(args.dump)
                        out.mkdir(parents=True, exist_ok=True)
                        side = f"_side{int(args.face_side)}" if args.face_side else ""
                        np.savez_compressed(out / f"{emb_label}_{lm_label}_flip-{flip}{side}_{name}.npz",
                                            distance=dist.astype(np.float32), same=same)
                loso = leave_one_set_out(per_set)
                print(f"{emb_label:22} {lm_label:20} {flip:4} macro cut {macro_threshold(per_set):.3f}; leave-one-set-out "
                      f"(cut from the others -> F1 / own best F1): "
                      + ", ".join(f"{k[:12]} {c:.3f} -> {f:.3f}/{b:.3f}" for k, (c, f, b) in loso.items()), flush=True)
        if args.timing:
            i = keep[0]
            chips = np.concatenate([embedder.chips(images[i], dets[i])] * 32)
            print(f"# timing {emb_label}: {time_embedder(embedder, chips, False, args.repeats):.2f} ms/face flip off, "
                  f"{time_embedder(embedder, chips, True, args.repeats):.2f} ms/face flip on "
                  f"(batch 32, 1 thread, median of {args.repeats})", flush=True)


def timing_only(args) -> None:
    """ms/face of each embedder, flip off and on, batch 32, 1 thread, on 32 real bbt faces; timed
    round-robin (each round runs every embedder once) so load from other processes falls on all alike."""
    photos = labelled_photos(Path(args.faces), ["faceapi_bbt"])[:32]
    detector = make_detector("yunet")
    faces = [(p.image, find_face(detector, p.image)) for p in photos]
    calls = {}
    for emb_label in args.embedders:
        backend, model = EMBEDDERS[emb_label]
        for flip in (False, True):
            embedder = registry.create("face-embedder", backend, FaceEmbedderOptions(model=model, flip=flip))
            chips = np.concatenate([embedder.chips(img, d) for img, d in faces if d is not None])
            calls[emb_label, flip] = (lambda e=embedder, c=chips: e.embed_chips(c)), len(chips)
    for call, _ in calls.values():
        call()  # warm-up
    runs = {key: [] for key in calls}
    for _ in range(args.repeats):
        for key, (call, n) in calls.items():
            t0 = time.perf_counter()
            call()
            runs[key].append((time.perf_counter() - t0) * 1000 / n)
    for emb_label in args.embedders:
        off, on = (float(np.median(runs[emb_label, flip])) for flip in (False, True))
        print(f"{emb_label:22} {off:7.2f} ms/face flip off {on:7.2f} ms/face flip on  (batch 32, 1 thread, "
              f"median of {args.repeats}, round-robin)", flush=True)


if __name__ == "__main__":
    main()
