"""Data carried between stages: shape-checked parallel numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detections:
    """N detections in one image, boxes in that image's pixels.

    boxes: (N, 4) float32 x1, y1, x2, y2; scores: (N,) float32;
    landmarks: (N, 5, 2) float32 (eyes, nose, mouth corners, in the subject's right-eye-first
    order used by ArcFace templates) or None when the detector gives none.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None = None

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        n = len(self.boxes)
        if len(self.scores) != n:
            raise ValueError(f"Detections: {n} boxes but {len(self.scores)} scores")
        if self.landmarks is not None:
            self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
            if self.landmarks.shape != (n, 5, 2):
                raise ValueError(
                    f"Detections: landmarks must have shape ({n}, 5, 2), got {self.landmarks.shape}"
                )

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index) -> "Detections":
        """Select with a boolean mask, an index array or a slice."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        lm = None if self.landmarks is None else self.landmarks[index]
        return Detections(self.boxes[index], self.scores[index], lm)

    @classmethod
    def empty(cls, with_landmarks: bool = True) -> "Detections":
        lm = np.zeros((0, 5, 2), np.float32) if with_landmarks else None
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), lm)

    @property
    def widths(self) -> np.ndarray:
        return self.boxes[:, 2] - self.boxes[:, 0]

    @property
    def heights(self) -> np.ndarray:
        return self.boxes[:, 3] - self.boxes[:, 1]

    def scaled(self, factor: float, offset=(0.0, 0.0)) -> "Detections":
        """Coordinates mapped by p * factor + offset (e.g. back from a resized image)."""
        off = np.asarray(offset, np.float32)
        boxes = self.boxes * factor + np.tile(off, 2)
        lm = None if self.landmarks is None else self.landmarks * factor + off
        return Detections(boxes, self.scores.copy(), lm)

    def clipped(self, width: int, height: int) -> "Detections":
        boxes = self.boxes.copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        return Detections(boxes, self.scores.copy(), self.landmarks)


@dataclass
class Frame:
    """One sampled video frame. `index` counts decoded frames from 0; `time_s` is the stream time."""

    index: int
    time_s: float
    shot: int
    image: np.ndarray  # BGR uint8 (H, W, 3)


@dataclass
class Track:
    """Detections of one face linked across consecutive sampled frames of one shot."""

    id: int
    shot: int
    detection_ids: list[int] = field(default_factory=list)
    frame_indices: list[int] = field(default_factory=list)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N,4) and (M,4) x1y1x2y2 boxes."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)
