"""Detector interface. A backend is a small class with a NAME that turns one BGR image into Detections."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import cv2
import numpy as np

from ..config import Config
from ..models import ResolvedModel
from ..types import Detections


class Detector(ABC):
    NAME: ClassVar[str]
    KIND: ClassVar[str] = "face"  # "face" or "person"
    DEFAULT_MODEL: ClassVar[str | None] = None

    def __init__(self, config: Config):
        self.config = config
        self.models: list[ResolvedModel] = []  # files used, recorded in the run manifest

    def downscaled(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """The image shrunk so its long side is at most config.detect_max_side (if set), and the scale."""
        side = self.config.detect_max_side
        if not side or max(image.shape[:2]) <= side:
            return image, 1.0
        scale = side / max(image.shape[:2])
        return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), scale

    @abstractmethod
    def detect(self, image: np.ndarray) -> Detections:
        """BGR uint8 (H, W, 3) -> Detections in the image's pixels (faces carry 5 landmarks)."""
