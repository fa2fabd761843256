"""YuNet face detector (cv2.FaceDetectorYN): fast on CPU, boxes + 5 landmarks in ArcFace order
(image-left eye first; checked on zidane.jpg and the bbt stills).

Scores: true faces in the test photos score 0.90-0.94; at the shared default detect_threshold 0.6 a
blurred background patch in zidane.jpg (1280x720) passes at 0.61, so 0.7 is the cleaner cut for YuNet.
Its landmarks are noisier than SCRFD's, most of all on faces of a few dozen pixels in its input; the
landmark refinement option (refine.py) fixes that.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import ModelError
from ..registry import resolve_model
from ..types import Detections
from .base import FaceDetector


def yunet_net(path, threshold: float, size=(320, 320)):
    # OpenCV 5 warns on every create that its new graph engine ignores targets: noise for users
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        return cv2.FaceDetectorYN.create(str(path), "", size, threshold, 0.3, 5000)
    except cv2.error as exc:
        raise ModelError(f"cannot load YuNet model {path}: {exc.msg.strip()}") from None


def yunet_detections(net, image: np.ndarray, size: list) -> Detections:
    """Run a FaceDetectorYN on a whole image (size: a one-item list caching the net's input size)."""
    h, w = image.shape[:2]
    if (w, h) != size[0]:
        net.setInputSize((w, h))
        size[0] = (w, h)
    _, faces = net.detect(image)
    if faces is None or len(faces) == 0:
        return Detections.empty()
    boxes = np.c_[faces[:, :2], faces[:, :2] + faces[:, 2:4]]
    return Detections(boxes, faces[:, 14], faces[:, 4:14].reshape(-1, 5, 2))


class YuNetDetector(FaceDetector):
    NAME = "yunet"
    DEFAULT_MODEL = "yunet"

    def __init__(self, options):
        super().__init__(options)
        model = self._use(resolve_model(options.model or self.DEFAULT_MODEL, options.models_dir))
        self.net = yunet_net(model.path, options.threshold)
        self._size = [(320, 320)]

    def _detect(self, image: np.ndarray) -> Detections:
        full_h, full_w = image.shape[:2]
        small, scale = self.downscaled(image)
        dets = yunet_detections(self.net, small, self._size)
        return dets.scaled(1.0 / scale).clipped(full_w, full_h) if len(dets) else dets
