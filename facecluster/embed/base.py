"""Embedder interfaces. Both work in two phases so that the faces (or bodies) of several frames are
embedded in ONE model call: a cheap per-image step that cuts and aligns (`chips` / `crops`), then one
batched step (`embed_chips` / `embed_crops`). `embed(image, detections)` does both for one image."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from ..errors import ConfigError
from ..models import ResolvedModel
from ..types import Detections, l2_normalize

# Rows per model call. On one CPU thread, batches beyond 8 are no faster (SFace on onnxruntime 43 ms a face at 8
# and at 32, on OpenCV's dnn 21 ms at both; EdgeFace-XS 4.1 vs 5.6 ms) while the activations grow with the
# batch: SFace on onnxruntime held 250 MB at 8, 565 MB at 32, 995 MB at 64 (peak RSS of the whole process), so
# a run's memory does not depend on how many faces a frame holds.
MAX_BATCH = 8


class FaceEmbedder(ABC):
    NAME: ClassVar[str]
    DIM: ClassVar[int]
    # cosine distance (1 - cos) below which two embeddings are usually the same person; calibrated per model
    SAME_PERSON_DISTANCE: ClassVar[float]
    # whether averaging with the mirrored face measurably helps this model (scripts/calibrate_embedders.py);
    # used when the flip option is left to the embedder (None)
    FLIP_HELPS: ClassVar[bool] = False
    DEFAULT_MODEL: ClassVar[str | None] = None
    CHIP_SIZE: ClassVar[int] = 112

    def __init__(self, options):
        self.options = options
        self.models: list[ResolvedModel] = []

    @property
    def flip(self) -> bool:
        return self.FLIP_HELPS if self.options.flip is None else bool(self.options.flip)

    def chips(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """BGR image + its faces -> (N, S, S, 3) uint8 BGR aligned face chips (S = CHIP_SIZE)."""
        if len(detections) == 0:
            return np.zeros((0, self.CHIP_SIZE, self.CHIP_SIZE, 3), np.uint8)
        if detections.landmarks is None:
            raise ConfigError(f"the {self.NAME} embedder needs 5 face landmarks; use a face detector that gives "
                              f"them (yunet, scrfd, dlib-hog)")
        from ..enhance.align import align_faces

        return align_faces(image, detections.landmarks, self.CHIP_SIZE)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) chips (of any number of images) -> (N, DIM) float32 unit rows; with flip, each row
        is the mean of the face and its mirror image, computed in the same model call."""
        n = len(chips)
        if n == 0:
            return np.zeros((0, self.DIM), np.float32)
        out = np.zeros((n, self.DIM), np.float32)
        step = max(1, MAX_BATCH // 2) if self.flip else MAX_BATCH
        for start in range(0, n, step):
            part = chips[start:start + step]
            if self.flip:
                both = l2_normalize(self._vectors(np.concatenate([part, part[:, :, ::-1]])))
                out[start:start + len(part)] = both[:len(part)] + both[len(part):]
            else:
                out[start:start + len(part)] = self._vectors(part)
        return l2_normalize(out)

    def embed(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """BGR image + its detections -> (N, DIM) float32, rows L2-normalised."""
        return self.embed_chips(self.chips(image, detections))

    @abstractmethod
    def _vectors(self, chips: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) BGR chips -> (N, DIM) raw model outputs, in as few model calls as the model allows."""


class ClothingEmbedder(ABC):
    """What a person wears as a vector compared by cosine like face embeddings.

    `crops(image, boxes)` -> (prepared, ok): `ok` (N,) says which boxes had enough pixels to describe;
    `prepared` holds the model inputs of those boxes only (ok.sum() rows, stackable with np.concatenate
    across frames); `embed_crops(prepared)` -> (ok.sum(), DIM) unit rows. `embed(image, detections)` gives
    (N, DIM) with all-zero rows for the boxes that were not ok (cosine 0 with everything: such a row never
    pulls two people together; test `np.any(row)`)."""

    NAME: ClassVar[str]
    DIM: ClassVar[int]
    SAME_PERSON_DISTANCE: ClassVar[float]
    WHOLE_BODY: ClassVar[bool] = False  # True: give it body boxes; False: torso regions
    DEFAULT_MODEL: ClassVar[str | None] = None

    def __init__(self, options):
        self.options = options
        self.models: list[ResolvedModel] = []

    @property
    def WHOLE_PERSON(self) -> bool:  # the older name
        return self.WHOLE_BODY

    @abstractmethod
    def crops(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """BGR image + (N, 4) boxes -> (prepared inputs of the ok boxes, (N,) bool ok)."""

    @abstractmethod
    def embed_crops(self, prepared: np.ndarray) -> np.ndarray:
        """Prepared inputs (of any number of images) -> (M, DIM) float32 unit rows."""

    def embed(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        prepared, ok = self.crops(image, detections.boxes)
        out = np.zeros((len(ok), self.DIM), np.float32)
        if ok.any():
            out[ok] = self.embed_crops(prepared)
        return out


# the interface's old name, kept for code written against it
Embedder = FaceEmbedder
