"""Face detector cost and recall per input size: what a fixed detection size buys and costs.

For YuNet (input = the frame shrunk to --max-side) and SCRFD (input long side = max_side, short side
rounded up to 32), with and without landmark refinement:
- ms per frame at 640x360 (a frame of short_hamilton_clip.mp4) and 1280x720 (zidane.jpg), one thread,
  median of --repeats runs (the machine is shared: read the numbers as a guide);
- faces found on the labelled photos of ../shared/media (bbt1-5: 23 faces, zidane: 2, bus: 4 people);
- recall on a synthetic 1280x720 frame holding the 40 bbt face crops at 16-64 px (known boxes, IoU >= 0.3).

    FACECLUSTER_MODELS=../shared/models python scripts/bench_detectors.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("FACECLUSTER_MODELS", str(ROOT / ".." / "shared" / "models"))
sys.path.insert(0, str(ROOT))

from facecluster import registry  # noqa: E402
from facecluster.registry import FaceDetectorOptions  # noqa: E402
from facecluster.types import iou_matrix  # noqa: E402

MEDIA = ROOT / ".." / "shared" / "media"
PHOTOS = {"bbt1.jpg": 4, "bbt2.jpg": 3, "bbt3.jpg": 5, "bbt4.jpg": 6, "bbt5.jpg": 5}
SMALL_SIDES = (16, 20, 24, 32, 48, 64)


def video_frame(size=(640, 360)) -> np.ndarray:
    import av

    with av.open(str(MEDIA / "videos" / "short_hamilton_clip.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == 60:
                return cv2.resize(frame.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_AREA)
    raise RuntimeError("short clip")


def small_faces_frame(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1280x720 frame of the bbt face crops at several sizes on a textured grey background: (frame, boxes
    of the faces, their sides). A crop's face covers about its middle 70 %, so the box is that."""
    rng = np.random.default_rng(seed)
    frame = cv2.GaussianBlur(rng.integers(60, 190, (720, 1280, 3), dtype=np.uint8), (0, 0), 6)
    crops = sorted((MEDIA / "faces" / "faceapi_bbt").glob("*/*.png"))
    boxes, sides = [], []
    x, y, row_h = 10, 10, 0
    for k, path in enumerate(crops * 2):
        side = SMALL_SIDES[k % len(SMALL_SIDES)]
        crop_side = int(round(side / 0.7))
        if x + crop_side > 1270:
            x, y, row_h = 10, y + row_h + 12, 0
        if y + crop_side > 710:
            break
        img = cv2.resize(cv2.imread(str(path)), (crop_side, crop_side), interpolation=cv2.INTER_AREA)
        frame[y:y + crop_side, x:x + crop_side] = img
        m = (crop_side - side) / 2
        boxes.append([x + m, y + m * 0.6, x + m + side, y + m * 0.6 + side])
        sides.append(side)
        x += crop_side + 12
        row_h = max(row_h, crop_side)
    return frame, np.array(boxes, np.float32), np.array(sides)


def interleaved_ms(calls: dict, repeats: int) -> dict:
    """Median ms of each call, timed round-robin (each round runs every call once), so that load from other
    processes on a shared machine falls on all of them alike."""
    for call in calls.values():
        call()  # warm-up
    runs: dict = {key: [] for key in calls}
    for _ in range(repeats):
        for key, call in calls.items():
            t0 = time.perf_counter()
            call()
            runs[key].append((time.perf_counter() - t0) * 1000)
    return {key: float(np.median(r)) for key, r in runs.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threshold", type=float, default=0.6)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    frames = {"640x360": video_frame(), "1280x720": cv2.imread(str(MEDIA / "photos" / "zidane.jpg"))}
    photos = {n: cv2.imread(str(MEDIA / "faces" / "faceapi_bbt" / n)) for n in PHOTOS}
    synth, truth, sides = small_faces_frame()
    configs = [("yunet", s, "") for s in (0, 960, 640, 480, 320)] + \
              [("yunet", s, "scrfd") for s in (960, 640)] + [("yunet", 640, "yunet")] + \
              [("scrfd", s, "") for s in (1280, 960, 640, 480, 320)]
    detectors = {}
    for c in configs:
        det = registry.create("face-detector", c[0], FaceDetectorOptions(threshold=args.threshold, max_side=c[1],
                                                                         refine_landmarks=c[2]))
        if c[0] == "scrfd":
            det.input_side = c[1]  # beyond the backend's 640 cap, to show what larger inputs would do
        detectors[c] = det
    ms = interleaved_ms({(c, k): (lambda d=d, img=img: d.detect(img))
                         for c, d in detectors.items() for k, img in frames.items()}, args.repeats)
    print(f"{'detector':8} {'size':>5} {'refine':6} {'ms 640x360':>10} {'ms 1280x720':>11} {'bbt faces':>9} "
          f"{'zidane':>6} {'bus':>3} " + " ".join(f"{s:>4}px" for s in SMALL_SIDES) + "  false+")
    bus_image = cv2.imread(str(MEDIA / "photos" / "bus.jpg"))
    for (name, side, refine), det in detectors.items():
        bbt = sum(min(len(det.detect(img)), PHOTOS[n]) for n, img in photos.items())
        zidane = len(det.detect(frames["1280x720"]))
        bus = len(det.detect(bus_image))
        found = det.detect(synth)
        iou = iou_matrix(truth, found.boxes) if len(found) else np.zeros((len(truth), 0))
        hit = iou.max(1) >= 0.3 if iou.size else np.zeros(len(truth), bool)
        false = int((iou.max(0) < 0.3).sum()) if iou.size else 0
        recall = " ".join(f"{hit[sides == s].mean():6.2f}" for s in SMALL_SIDES)
        print(f"{name:8} {side or 'full':>5} {refine or 'no':6} {ms[(name, side, refine), '640x360']:10.1f} "
              f"{ms[(name, side, refine), '1280x720']:11.1f} {bbt:>5}/{sum(PHOTOS.values())} {zidane:6d} {bus:3d} "
              f"{recall}  {false}", flush=True)
    # landmark refinement alone, per face (bbt4.jpg: 6 faces)
    from facecluster.detect.refine import BACKENDS, LandmarkRefiner

    image = photos["bbt4.jpg"]
    faces = registry.create("face-detector", "yunet", FaceDetectorOptions(threshold=args.threshold)).detect(image)
    refiners = {b: LandmarkRefiner(FaceDetectorOptions(threshold=args.threshold), b) for b in BACKENDS}
    cost = interleaved_ms({b: (lambda r=r: r.refine(image, faces)) for b, r in refiners.items()}, args.repeats)
    for b, r in refiners.items():
        print(f"refine-{b} (face sides {r.face_sides}): {cost[b] / len(faces):.1f} ms per face", flush=True)


if __name__ == "__main__":
    main()
