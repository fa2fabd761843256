"""dlib HOG frontal face detector (builtin, offline: the model ships in pip packages).

Landmarks come from dlib's 5-point shape predictor (two corners per eye + the base of the nose);
mouth corners are placed from the eyes and nose so ArcFace-style embedders can align these faces too.
Scores: dlib's HOG margin s (about -0.5..3, 0 = its default threshold) mapped to 1/(1+exp(-2s)).
"""

from __future__ import annotations

import numpy as np

from ..enhance.align import landmarks_from_eyes_nose
from ..errors import ModelError
from ..registry import resolve_model
from ..types import Detections
from .base import FaceDetector


class DlibHogDetector(FaceDetector):
    NAME = "dlib-hog"
    DEFAULT_MODEL = "dlib-5-landmarks"

    def __init__(self, options):
        super().__init__(options)
        import dlib

        self.dlib = dlib
        model = self._use(resolve_model(self.DEFAULT_MODEL, options.models_dir))
        try:
            self.predictor = dlib.shape_predictor(str(model.path))
        except RuntimeError as exc:
            raise ModelError(f"cannot load dlib landmark model {model.path}: {exc}") from None
        self.detector = dlib.get_frontal_face_detector()

    def _detect(self, image: np.ndarray) -> Detections:
        image, scale = self.downscaled(image)
        rgb = np.ascontiguousarray(image[..., ::-1])
        rects, scores, _ = self.detector.run(rgb, self.options.dlib_upsample, 0.0)
        if not rects:
            return Detections.empty()
        boxes = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float32)
        landmarks = np.stack([self._landmarks(rgb, r) for r in rects])
        dets = Detections(boxes, 1.0 / (1.0 + np.exp(-2.0 * np.asarray(scores))), landmarks)
        h, w = image.shape[:2]
        return dets.clipped(w, h).scaled(1.0 / scale)

    def _landmarks(self, rgb, rect) -> np.ndarray:
        shape = self.predictor(rgb, rect)
        p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], np.float32)
        eye_a, eye_b = p[0:2].mean(0), p[2:4].mean(0)
        left, right = (eye_a, eye_b) if eye_a[0] < eye_b[0] else (eye_b, eye_a)
        return landmarks_from_eyes_nose(left, right, p[4])
