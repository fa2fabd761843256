"""SCRFD face detector (insightface family) on onnxruntime, with 5 keypoints.

The frame is scaled so its long side is the input size (640, or options.max_side when smaller), placed
top-left in an input whose sides are that rounded up to a multiple of 32 (a 16:9 frame -> 640x384, not a
640x640 square: 40 % less work) and normalised (RGB-127.5)/128. Never more than 640: SCRFD-500M stops
finding faces taller than ~450 px in its input (labelled photos rendered into 1280x720 frames, 359 faces:
a 600 px face is found 359/359 times at input 640, 299/359 at 960; a 700 px face 359 vs 4), while
scripts/bench_detectors.py shows what larger inputs would buy on small faces (24 px: 0 at 640, 0.69 at
960; 32 px: 0.54 / 0.92) and cost (640x384: 12-20 ms, 960x544: 27-59 ms a frame on one thread; YuNet
on a 1280x720 frame shrunk to 640 / 960: 15-29 / 38-79 ms).
Each output level (stride 8/16/32) has 2 anchors per grid cell; boxes are distances from the anchor
centre (left, top, right, bottom) and keypoints offsets, all in stride units.

Scores: SCRFD-500M scores true faces lower than YuNet (0.75-0.91 on the bbt stills and zidane.jpg, against
YuNet's 0.90-0.94) but gives no false positive above 0.3 there. insightface's own default is 0.5; the shared
detect_threshold default 0.6 keeps every face in those photos. Harder faces sit near the cut: of the 40
bbt 150 px face chips padded 50 px, 38/39/40 are found at 0.6/0.5/0.4 (black border) but only 24/31/33
with a replicated border. So 0.5 is the better SCRFD value when a miss costs more than a rare false hit.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import ModelError
from ..registry import resolve_model, session
from ..types import Detections
from .base import FaceDetector

STRIDES = (8, 16, 32)
ANCHORS = 2
NMS_IOU = 0.4


class ScrfdDetector(FaceDetector):
    NAME = "scrfd"
    DEFAULT_MODEL = "scrfd-500m"
    INPUT = 640

    def __init__(self, options):
        super().__init__(options)
        model = self._use(resolve_model(options.model or self.DEFAULT_MODEL, options.models_dir))
        self.input_side = min(options.max_side, self.INPUT) if options.max_side else self.INPUT
        self.session = session(model, "SCRFD model", options)
        self.input_name = self.session.get_inputs()[0].name
        self.path = model.path
        if len(self.session.get_outputs()) != 9:
            raise ModelError(f"{model.path} is not an SCRFD model with keypoints (expected 9 outputs, got "
                             f"{len(self.session.get_outputs())}); use scrfd_*_bnkps / *_kps files")
        self._centers: dict[tuple[int, int, int], np.ndarray] = {}

    def _anchor_centers(self, stride: int, height: int, width: int) -> np.ndarray:
        key = (stride, height, width)
        if key not in self._centers:
            ys, xs = np.mgrid[:height // stride, :width // stride]
            centers = (np.stack([xs, ys], -1).reshape(-1, 2) * stride).astype(np.float32)
            self._centers[key] = np.repeat(centers, ANCHORS, axis=0)
        return self._centers[key]

    def _levels(self, outputs: list) -> list:
        """(score, bbox, kps) per stride 8/16/32, told apart by shape (1/4/10 values per anchor, most anchors
        at stride 8) rather than output names or order, which differ between SCRFD exports."""
        by_width = {}
        for out in outputs:
            by_width.setdefault(out.shape[-1], []).append(out.reshape(-1, out.shape[-1]))
        if sorted(by_width) != [1, 4, 10] or any(len(v) != 3 for v in by_width.values()):
            raise ModelError(f"{self.path}: unexpected SCRFD outputs {[o.shape for o in outputs]}; "
                             f"use an insightface scrfd_*_bnkps / *_kps ONNX file")
        ordered = [sorted(by_width[k], key=len, reverse=True) for k in (1, 4, 10)]
        return list(zip(*ordered))

    def _detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        scale = self.input_side / max(h, w)
        resized = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))))
        ih, iw = (-(-side // 32) * 32 for side in resized.shape[:2])
        canvas = np.zeros((ih, iw, 3), np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        blob = cv2.dnn.blobFromImage(canvas, 1.0 / 128, (iw, ih), (127.5, 127.5, 127.5), swapRB=True)
        levels = self._levels(self.session.run(None, {self.input_name: blob}))
        boxes, scores, kps = [], [], []
        for stride, (score, bbox, kp) in zip(STRIDES, levels):
            score = score.reshape(-1)
            keep = np.flatnonzero(score >= self.options.threshold)
            if not len(keep):
                continue
            centers = self._anchor_centers(stride, ih, iw)[keep]
            dist = bbox.reshape(-1, 4)[keep] * stride
            boxes.append(np.c_[centers - dist[:, :2], centers + dist[:, 2:]])
            kps.append(centers[:, None, :] + kp.reshape(-1, 5, 2)[keep] * stride)
            scores.append(score[keep])
        if not boxes:
            return Detections.empty()
        boxes, scores, kps = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)
        xywh = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]
        keep = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.options.threshold, NMS_IOU),
                          np.int64).reshape(-1)
        dets = Detections(boxes[keep], scores[keep], kps[keep]).scaled(1.0 / scale)
        return dets.clipped(w, h)
