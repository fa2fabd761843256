"""Detector interface. A backend is a small class with a NAME that turns one BGR image into Detections."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import cv2
import numpy as np

from ..models import ResolvedModel
from ..types import Detections


class Detector(ABC):
    NAME: ClassVar[str]
    KIND: ClassVar[str] = "face"  # "face" or "person"
    DEFAULT_MODEL: ClassVar[str | None] = None

    def __init__(self, options):
        self.options = options
        self.models: list[ResolvedModel] = []  # files used, recorded in the run manifest

    def _use(self, model: ResolvedModel) -> ResolvedModel:
        """Record a model file (the backend's own first), once."""
        if all(m.path != model.path for m in self.models):
            self.models.insert(0, model)
        return model

    @abstractmethod
    def detect(self, image: np.ndarray) -> Detections:
        """BGR uint8 (H, W, 3) -> Detections in the image's pixels (faces carry 5 landmarks)."""


class FaceDetector(Detector):
    """Face detectors share the downscaling option and the optional landmark refinement."""

    def __init__(self, options):
        super().__init__(options)
        self.refiner = None
        if options.refine_landmarks:
            from .refine import LandmarkRefiner

            self.refiner = LandmarkRefiner(options, options.refine_landmarks)
            self.models.extend(self.refiner.models)

    def downscaled(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """The image shrunk so its long side is at most options.max_side (if set), and the scale."""
        side = self.options.max_side
        if not side or max(image.shape[:2]) <= side:
            return image, 1.0
        scale = side / max(image.shape[:2])
        return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), scale

    def detect(self, image: np.ndarray) -> Detections:
        dets = self._detect(image)
        if self.refiner is not None and len(dets):
            dets = self.refiner.refine(image, dets)
        return dets

    @abstractmethod
    def _detect(self, image: np.ndarray) -> Detections:
        """The backend's own detection (before refinement)."""
