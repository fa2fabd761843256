"""SCRFD face detector (insightface family) on onnxruntime, with 5 keypoints.

The frame is letterboxed into a 640x640 input (top-left, scale kept) and normalised (RGB-127.5)/128.
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
from ..models import resolve
from ..onnx import load_session
from ..types import Detections
from .base import Detector

STRIDES = (8, 16, 32)
ANCHORS = 2
NMS_IOU = 0.4


class ScrfdDetector(Detector):
    NAME = "scrfd"
    DEFAULT_MODEL = "scrfd-500m"
    INPUT = 640

    def __init__(self, config):
        super().__init__(config)
        model = resolve(config.face_detector_model or self.DEFAULT_MODEL, config.models_dir)
        self.models = [model]
        self.session = load_session(model, "SCRFD model")
        self.input_name = self.session.get_inputs()[0].name
        self.path = model.path
        if len(self.session.get_outputs()) != 9:
            raise ModelError(f"{model.path} is not an SCRFD model with keypoints (expected 9 outputs, got "
                             f"{len(self.session.get_outputs())}); use scrfd_*_bnkps / *_kps files")
        self._centers: dict[tuple[int, int], np.ndarray] = {}

    def _anchor_centers(self, stride: int, size: int) -> np.ndarray:
        key = (stride, size)
        if key not in self._centers:
            n = size // stride
            ys, xs = np.mgrid[:n, :n]
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

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        scale = self.INPUT / max(h, w)
        resized = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))))
        canvas = np.zeros((self.INPUT, self.INPUT, 3), np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        blob = cv2.dnn.blobFromImage(canvas, 1.0 / 128, (self.INPUT, self.INPUT), (127.5, 127.5, 127.5), swapRB=True)
        levels = self._levels(self.session.run(None, {self.input_name: blob}))
        boxes, scores, kps = [], [], []
        for stride, (score, bbox, kp) in zip(STRIDES, levels):
            score = score.reshape(-1)
            keep = np.flatnonzero(score >= self.config.detect_threshold)
            if not len(keep):
                continue
            centers = self._anchor_centers(stride, self.INPUT)[keep]
            dist = bbox.reshape(-1, 4)[keep] * stride
            boxes.append(np.c_[centers - dist[:, :2], centers + dist[:, 2:]])
            kps.append(centers[:, None, :] + kp.reshape(-1, 5, 2)[keep] * stride)
            scores.append(score[keep])
        if not boxes:
            return Detections.empty()
        boxes, scores, kps = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)
        xywh = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]
        keep = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.config.detect_threshold, NMS_IOU),
                          np.int64).reshape(-1)
        dets = Detections(boxes[keep], scores[keep], kps[keep]).scaled(1.0 / scale)
        return dets.clipped(w, h)
