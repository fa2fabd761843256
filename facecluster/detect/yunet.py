"""YuNet face detector (cv2.FaceDetectorYN): fast on CPU, boxes + 5 landmarks in ArcFace order
(image-left eye first; checked on zidane.jpg and the bbt stills).

Scores: true faces in the test photos score 0.90-0.94; at the shared default detect_threshold 0.6 a
blurred background patch in zidane.jpg (1280x720) passes at 0.61, so 0.7 is the cleaner cut for YuNet.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import ModelError
from ..models import resolve
from ..types import Detections
from .base import Detector


class YuNetDetector(Detector):
    NAME = "yunet"
    DEFAULT_MODEL = "yunet"

    def __init__(self, config):
        super().__init__(config)
        model = resolve(config.face_detector_model or self.DEFAULT_MODEL, config.models_dir)
        self.models = [model]
        # OpenCV 5 warns on every create that its new graph engine ignores targets: noise for users
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            self.net = cv2.FaceDetectorYN.create(str(model.path), "", (320, 320), config.detect_threshold, 0.3, 5000)
        except cv2.error as exc:
            raise ModelError(f"cannot load YuNet model {model.path}: {exc.msg.strip()}") from None
        self.size = (320, 320)

    def detect(self, image: np.ndarray) -> Detections:
        full_h, full_w = image.shape[:2]
        image, scale = self.downscaled(image)
        h, w = image.shape[:2]
        if (w, h) != self.size:
            self.net.setInputSize((w, h))
            self.size = (w, h)
        _, faces = self.net.detect(image)
        if faces is None or len(faces) == 0:
            return Detections.empty()
        boxes = np.c_[faces[:, :2], faces[:, :2] + faces[:, 2:4]]
        dets = Detections(boxes, faces[:, 14], faces[:, 4:14].reshape(-1, 5, 2))
        return dets.scaled(1.0 / scale).clipped(full_w, full_h)
