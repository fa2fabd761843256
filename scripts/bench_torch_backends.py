"""Speed of the torch backends (the [torch] extra) beside facecluster's ONNX backends, on the same images.

ms per image, median of --repeats runs after --warmup runs, on bus.jpg (810x1080), zidane.jpg (1280x720) and
a 1280x720 video frame (faceapi_test_video.mp4, its 3rd frame, upscaled), with what each found:
- bodies: ultralytics running yolov8n_int8.onnx, ultralytics running a yolov8n .pt built from yolov8n.yaml
  (untrained: .pt weights cannot be downloaded here; same network and cost as yolov8n.pt, finds nothing) at
  640, and facecluster's yolo backend (onnxruntime) with yolox-nano and yolov8n-int8;
- faces: MTCNN (facenet-pytorch) at full size and with max_side 640, YuNet and SCRFD-500M.
One thread per model (torch.set_num_threads(1), onnxruntime intra_op 1) and the process pinned to one CPU
(--cores 1), because ultralytics makes its own onnxruntime session with the default thread count. Prints a
markdown table for BENCHMARKS.md with the load average before and after (the machine is shared).

    FACECLUSTER_MODELS=../shared/models python scripts/bench_torch_backends.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("FACECLUSTER_MODELS", str(ROOT / ".." / "shared" / "models"))
sys.path.insert(0, str(ROOT))

from facecluster import registry  # noqa: E402
from facecluster.registry import BodyDetectorOptions, FaceDetectorOptions  # noqa: E402

MEDIA = ROOT / ".." / "shared" / "media"


def video_frame(size=(1280, 720)) -> np.ndarray:
    import av

    with av.open(str(MEDIA / "videos" / "faceapi_test_video.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == 2:
                return cv2.resize(frame.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_LINEAR)
    raise RuntimeError("faceapi_test_video.mp4 has fewer than 3 frames")


def images() -> dict[str, np.ndarray]:
    return {"bus.jpg 810x1080": cv2.imread(str(MEDIA / "photos" / "bus.jpg")),
            "zidane.jpg 1280x720": cv2.imread(str(MEDIA / "photos" / "zidane.jpg")),
            "video frame 1280x720": video_frame()}


def backends(untrained_pt: Path) -> list[tuple[str, str, callable]]:
    """(group, label, factory): built one at a time so only one model is in memory."""
    def body(name, model, threshold=0.4):
        return lambda: registry.create("body-detector", name, BodyDetectorOptions(model=model, threshold=threshold,
                                                                                  device="cpu"))

    def face(name, threshold, **extra):
        return lambda: registry.create("face-detector", name, FaceDetectorOptions(threshold=threshold, device="cpu",
                                                                                  **extra))
    return [
        ("bodies", "ultralytics, yolov8n_int8.onnx (640)", body("ultralytics", "yolov8n-int8")),
        ("bodies", "ultralytics, yolov8n .pt from yaml (640, untrained)", body("ultralytics", str(untrained_pt))),
        ("bodies", "yolo (onnxruntime), yolox-nano (416)", body("yolo", "yolox-nano")),
        ("bodies", "yolo (onnxruntime), yolov8n-int8 (640)", body("yolo", "yolov8n-int8")),
        ("faces", "mtcnn (facenet-pytorch), full size", face("mtcnn", 0.6)),
        ("faces", "mtcnn (facenet-pytorch), max_side 640", face("mtcnn", 0.6, max_side=640)),
        ("faces", "yunet", face("yunet", 0.7)),
        ("faces", "scrfd (scrfd-500m, 640)", face("scrfd", 0.6)),
    ]


def timed(detector, image, warmup: int, repeats: int) -> tuple[float, int]:
    for _ in range(warmup):
        found = detector.detect(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        found = detector.detect(image)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="CPUs the process may use (0 = no pinning)")
    args = parser.parse_args()
    if args.cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.cores])
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="ultralytics-"))
    import torch

    torch.set_num_threads(1)
    from facecluster.torch_extra import import_ultralytics

    load_before = os.getloadavg()
    pics = images()
    with tempfile.TemporaryDirectory() as tmp:
        untrained = Path(tmp) / "yolov8n-untrained.pt"
        import_ultralytics().YOLO("yolov8n.yaml").save(untrained)
        rows = []
        for group, label, make in backends(untrained):
            start = time.perf_counter()
            detector = make()
            load_s = time.perf_counter() - start
            cells = [timed(detector, image, args.warmup, args.repeats) for image in pics.values()]
            rows.append((group, label, load_s, cells))
            print(f"  {label}: " + ", ".join(f"{ms:.0f} ms ({n})" for ms, n in cells), file=sys.stderr, flush=True)
            del detector
    load_after = os.getloadavg()

    import onnxruntime
    import ultralytics

    print(f"\nms per image (median of {args.repeats} after {args.warmup} warm-up runs; in brackets: bodies or faces "
          f"found), {args.cores or 'all'} CPU(s), 1 thread per model; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"ultralytics {ultralytics.__version__}; load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after\n")
    print("| finds | backend, model | " + " | ".join(pics) + " | load s |")
    print("|---|---|" + "---:|" * (len(pics) + 1))
    for group, label, load_s, cells in rows:
        print(f"| {group} | {label} | " + " | ".join(f"{ms:.0f} ({n})" for ms, n in cells) + f" | {load_s:.1f} |")


if __name__ == "__main__":
    main()
