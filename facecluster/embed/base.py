"""Embedder interface: faces (or clothing regions) of one image -> L2-normalised vectors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from ..config import Config
from ..models import ResolvedModel
from ..types import Detections


class Embedder(ABC):
    NAME: ClassVar[str]
    DIM: ClassVar[int]
    # cosine distance (1 - cos) below which two embeddings are usually the same person; calibrated per model
    SAME_PERSON_DISTANCE: ClassVar[float]
    DEFAULT_MODEL: ClassVar[str | None] = None

    def __init__(self, config: Config):
        self.config = config
        self.models: list[ResolvedModel] = []

    @abstractmethod
    def embed(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """BGR image + its detections -> (N, DIM) float32, rows L2-normalised."""
