"""SCRFD face detector (insightface family) on onnxruntime, with 5 keypoints.

The frame is letterboxed into a 640x640 input (top-left, scale kept) and normalised (RGB-127.5)/128.
Each output level (stride 8/16/32) has 2 anchors per grid cell; boxes are distances from the anchor
centre (left, top, right, bottom) and keypoints offsets, all in stride units.
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
        names = [o.name for o in self.session.get_outputs()]
        if len(names) != 9:
            raise ModelError(f"{model.path} is not an SCRFD model with keypoints (expected 9 outputs, got {len(names)})")
        # outputs come grouped as scores, boxes, keypoints, each for strides 8, 16, 32
        self.order = [(names[i], names[i + 3], names[i + 6]) for i in range(3)]
        self._centers: dict[tuple[int, int], np.ndarray] = {}

    def _anchor_centers(self, stride: int, size: int) -> np.ndarray:
        key = (stride, size)
        if key not in self._centers:
            n = size // stride
            ys, xs = np.mgrid[:n, :n]
            centers = (np.stack([xs, ys], -1).reshape(-1, 2) * stride).astype(np.float32)
            self._centers[key] = np.repeat(centers, ANCHORS, axis=0)
        return self._centers[key]

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        scale = self.INPUT / max(h, w)
        resized = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))))
        canvas = np.zeros((self.INPUT, self.INPUT, 3), np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        blob = cv2.dnn.blobFromImage(canvas, 1.0 / 128, (self.INPUT, self.INPUT), (127.5, 127.5, 127.5), swapRB=True)
        outputs = dict(zip([o.name for o in self.session.get_outputs()],
                           self.session.run(None, {self.input_name: blob})))
        boxes, scores, kps = [], [], []
        for stride, (s_name, b_name, k_name) in zip(STRIDES, self.order):
            score = outputs[s_name].reshape(-1)
            keep = np.flatnonzero(score >= self.config.detect_threshold)
            if not len(keep):
                continue
            centers = self._anchor_centers(stride, self.INPUT)[keep]
            dist = outputs[b_name].reshape(-1, 4)[keep] * stride
            boxes.append(np.c_[centers - dist[:, :2], centers + dist[:, 2:]])
            kps.append(centers[:, None, :] + outputs[k_name].reshape(-1, 5, 2)[keep] * stride)
            scores.append(score[keep])
        if not boxes:
            return Detections.empty()
        boxes, scores, kps = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)
        xywh = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]
        keep = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.config.detect_threshold, NMS_IOU),
                          np.int64).reshape(-1)
        dets = Detections(boxes[keep], scores[keep], kps[keep]).scaled(1.0 / scale)
        return dets.clipped(w, h)
