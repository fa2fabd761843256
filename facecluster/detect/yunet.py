"""YuNet face detector (opencv_zoo's face_detection_yunet_2023mar): boxes + 5 landmarks in ArcFace order
(image-left eye first; checked on zidane.jpg and the bbt stills).

It runs on onnxruntime with the model's input size made dynamic (onnx.py fix "dynamic-size"), decoded the way
cv2.FaceDetectorYN decodes it (the frame padded to multiples of 32, score = sqrt(cls * obj), boxes and
landmarks from the anchor grid of strides 8/16/32, NMS at 0.3). Why not cv2.FaceDetectorYN: the same
detections (test_detectors) in 30 ms on a 1280x720 frame against 69 ms, one thread.

Scores: true faces in the test photos score 0.90-0.94; at the shared default detect_threshold 0.6 a
blurred background patch in zidane.jpg (1280x720) passes at 0.61, so 0.7 is the cleaner cut for YuNet.
Its landmarks are noisier than SCRFD's, most of all on faces of a few dozen pixels in its input; the
landmark refinement option (refine.py) fixes that.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from ..registry import resolve_model, session
from ..types import Detections
from .base import FaceDetector

STRIDES = (8, 16, 32)
NMS_IOU = 0.3
TOP_K = 5000


class YuNet:
    """One YuNet model on onnxruntime: BGR image of any size -> Detections."""

    def __init__(self, model, threshold: float, options):
        self.session = session(replace(model, load_fix="dynamic-size"), "YuNet face detector", options)
        self.input_name = self.session.get_inputs()[0].name
        self.threshold = float(threshold)

    def __call__(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :h, :w] = image.transpose(2, 0, 1)
        return self._decode(self.session.run(None, {self.input_name: blob}), ph, pw)

    def _decode(self, out: list, ph: int, pw: int) -> Detections:
        n = len(STRIDES)
        boxes, scores, marks = [], [], []
        for i, stride in enumerate(STRIDES):
            cols = pw // stride
            score = np.sqrt(np.clip(out[i].reshape(-1), 0, 1) * np.clip(out[i + n].reshape(-1), 0, 1))
            keep = np.flatnonzero(score >= self.threshold)
            if not len(keep):
                continue
            cell = np.stack([keep % cols, keep // cols], axis=1).astype(np.float32)
            box = out[i + 2 * n].reshape(-1, 4)[keep]
            centre = (cell + box[:, :2]) * stride
            size = np.exp(box[:, 2:]) * stride
            boxes.append(np.concatenate([centre - size / 2, size], axis=1))
            scores.append(score[keep])
            marks.append((out[i + 3 * n].reshape(-1, 5, 2)[keep] + cell[:, None]) * stride)
        if not boxes:
            return Detections.empty()
        xywh, score, landmarks = np.concatenate(boxes), np.concatenate(scores), np.concatenate(marks)
        # NMS on whole-pixel rectangles, as cv2.FaceDetectorYN does
        kept = np.asarray(cv2.dnn.NMSBoxes(xywh.astype(np.int32).tolist(), score.tolist(), self.threshold,
                                           NMS_IOU, top_k=TOP_K), np.int64).reshape(-1)
        xywh = xywh[kept]
        return Detections(np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], score[kept], landmarks[kept])


class YuNetDetector(FaceDetector):
    NAME = "yunet"
    DEFAULT_MODEL = "yunet"

    def __init__(self, options):
        super().__init__(options)
        model = self._use(resolve_model(options.model or self.DEFAULT_MODEL, options.models_dir))
        self.net = YuNet(model, options.threshold, options)

    def _detect(self, image: np.ndarray) -> Detections:
        full_h, full_w = image.shape[:2]
        small, scale = self.downscaled(image)
        dets = self.net(small)
        return dets.scaled(1.0 / scale).clipped(full_w, full_h) if len(dets) else dets
