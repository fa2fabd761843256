"""YOLO person detector on onnxruntime (COCO class 0 = person).

Two ONNX output layouts exist in the wild and are told apart from the output's shape, so a user can
drop in any common export without naming its flavour:
- YOLOv8/YOLO11 (Ultralytics): [1, 4+classes, N], rows cx, cy, w, h (input pixels) then class scores;
  input RGB/255, letterbox centred, padded with 114.
- YOLOX (Megvii): [1, N, 5+classes], rows x, y, w, h, objectness, class scores; input BGR 0-255 (no
  normalisation), resized into the top-left corner, padded with 114. The official export leaves boxes as
  raw grid offsets (decoded here with strides 8/16/32); exports made with decode_in_inference already hold
  pixels. Which one is checked once at load on a blank image: raw offsets stay near 0, pixels do not.
A `.pt` file runs through the ultralytics backend (detect/ultralytics_yolo.py, the `[torch]` extra).
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import ModelError
from ..registry import BodyDetectorOptions, resolve_model, session
from ..types import Detections
from .base import Detector

log = logging.getLogger("facecluster")
STRIDES = (8, 16, 32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best first."""
    order = np.argsort(-scores)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = (np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])).clip(0)
        h = (np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])).clip(0)
        inter = w * h
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def yolox_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell origins (N, 2) and strides (N, 1) in YOLOX output order (stride 8 rows first, row-major)."""
    grids, strides = [], []
    for s in STRIDES:
        ys, xs = np.meshgrid(np.arange(height // s), np.arange(width // s), indexing="ij")
        grids.append(np.stack([xs, ys], -1).reshape(-1, 2))
        strides.append(np.full((grids[-1].shape[0], 1), s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)


class YoloPersonDetector(Detector):
    NAME = "yolo"
    KIND = "person"
    DEFAULT_MODEL = "yolox-nano"  # ~6x faster than yolov8n-int8 on 2 CPU cores, same persons on the test photos

    def __init__(self, options: BodyDetectorOptions):
        super().__init__(options)
        self.threshold = float(options.threshold)
        self.nms_iou = float(options.nms)
        resolved = resolve_model(options.model or self.DEFAULT_MODEL, options.models_dir)
        self.models.append(resolved)
        self._ultra = None
        if resolved.path.suffix == ".pt":
            from .ultralytics_yolo import UltralyticsBodyDetector

            self._ultra = UltralyticsBodyDetector(options)
            self.layout = "ultralytics"
            return
        self.session = session(resolved, "YOLO person detector (a YOLOv8/YOLO11 or YOLOX ONNX export)", options)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        h, w = inp.shape[2:4] if len(inp.shape) == 4 else (None, None)
        self.input_hw = (h if isinstance(h, int) else 640, w if isinstance(w, int) else 640)
        self.layout, self.decoded = self._detect_layout()
        log.debug("yolo %s: layout %s, input %s, decoded %s", resolved.name, self.layout, self.input_hw,
                  self.decoded)

    def _detect_layout(self) -> tuple[str, bool]:
        """('v8' | 'yolox', already_decoded) from one run on a blank grey image."""
        h, w = self.input_hw
        blank = np.full((1, 3, h, w), 114 / 255.0, np.float32)
        out = self.session.run(None, {self.input_name: blank})[0]
        if out.ndim != 3 or out.shape[0] != 1:
            raise ModelError(f"YOLO output has shape {out.shape}; expected [1, 4+classes, N] (YOLOv8/YOLO11) "
                             f"or [1, N, 5+classes] (YOLOX)")
        if out.shape[1] < out.shape[2]:
            return "v8", True
        n_cells = sum((h // s) * (w // s) for s in STRIDES)
        raw = out.shape[1] == n_cells and float(np.abs(out[0, :, :2]).mean()) < 4.0
        return "yolox", not raw

    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray, float, tuple[float, float]]:
        """Letterboxed NCHW input, scale and (left, top) padding used to map boxes back."""
        import cv2

        ih, iw = self.input_hw
        h, w = image.shape[:2]
        r = min(ih / h, iw / w)
        nw, nh = int(round(w * r)), int(round(h * r))
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((ih, iw, 3), 114, np.uint8)
        if self.layout == "v8":
            left, top = int(round((iw - nw) / 2 - 0.1)), int(round((ih - nh) / 2 - 0.1))
            canvas[top:top + nh, left:left + nw] = resized
            blob = canvas[:, :, ::-1].astype(np.float32) / 255.0
        else:
            left = top = 0
            canvas[:nh, :nw] = resized
            blob = canvas.astype(np.float32)
        return np.ascontiguousarray(blob.transpose(2, 0, 1)[None]), r, (left, top)

    def _decode(self, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model output -> person (cx, cy, w, h) in input pixels and their scores."""
        if self.layout == "v8":
            rows = out[0].T
            return rows[:, :4], rows[:, 4]
        rows = out[0]
        scores = rows[:, 4] * rows[:, 5]
        boxes = rows[:, :4].copy()
        if not self.decoded:
            grid, stride = yolox_grid(*self.input_hw)
            boxes[:, :2] = (boxes[:, :2] + grid) * stride
            boxes[:, 2:] = np.exp(np.minimum(boxes[:, 2:], 20.0)) * stride
        return boxes, scores

    def detect(self, image: np.ndarray) -> Detections:
        if self._ultra is not None:
            return self._ultra.detect(image)
        blob, r, (left, top) = self._prepare(image)
        out = self.session.run(None, {self.input_name: blob})[0]
        cxcywh, scores = self._decode(out)
        keep = scores >= self.threshold
        cxcywh, scores = cxcywh[keep], scores[keep]
        if not len(scores):
            return Detections.empty(with_landmarks=False)
        boxes = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], 1)
        boxes = (boxes - np.array([left, top, left, top], np.float32)) / r
        order = nms(boxes, scores, self.nms_iou)
        h, w = image.shape[:2]
        return Detections(boxes[order], scores[order], None).clipped(w, h)
