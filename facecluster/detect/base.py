"""Detector interface. A backend is a small class with a NAME that turns one BGR image into Detections."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

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

    @abstractmethod
    def detect(self, image: np.ndarray) -> Detections:
        """BGR uint8 (H, W, 3) -> Detections in the image's pixels (faces carry 5 landmarks)."""
