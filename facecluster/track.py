"""Link face detections of consecutive sampled frames of one shot into tracks.

At 1 sampled frame per second faces move a lot between samples, so box overlap alone is weak
evidence: a detection joins a track when the embeddings agree, or when the boxes overlap well and the
embeddings do not clearly disagree. Assignment per frame is optimal (Hungarian), so two faces of one
frame never share a track. Tracks end at shot cuts and after `max_gap` samples without a match.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from .types import iou_matrix, l2_normalize


@dataclass
class _Active:
    id: int
    box: np.ndarray
    emb_sum: np.ndarray
    last_sample: int
    detection_ids: list[int] = field(default_factory=list)


class Tracker:
    def __init__(self, max_distance: float, min_iou: float = 0.2, max_gap: int = 2):
        self.max_distance = max_distance
        self.min_iou = min_iou
        self.max_gap = max_gap
        self.active: list[_Active] = []
        self.shot: int | None = None
        self.sample = -1
        self.next_id = 0

    def update(self, shot: int, boxes: np.ndarray, embeddings: np.ndarray, detection_ids) -> np.ndarray:
        """Assign track ids to the detections of the next sampled frame; returns (N,) ids."""
        self.sample += 1
        if shot != self.shot:
            self.active, self.shot = [], shot
        self.active = [t for t in self.active if self.sample - t.last_sample <= self.max_gap]
        ids = np.full(len(boxes), -1, np.int64)
        if self.active and len(boxes):
            ids = self._match(boxes, embeddings)
        for i in np.flatnonzero(ids < 0):
            track = _Active(self.next_id, boxes[i], np.zeros_like(embeddings[i]), self.sample)
            self.active.append(track)
            self.next_id += 1
            ids[i] = track.id
        by_id = {t.id: t for t in self.active}
        for i, tid in enumerate(ids):
            track = by_id[tid]
            track.box, track.last_sample = boxes[i], self.sample
            track.emb_sum = track.emb_sum + embeddings[i]
            track.detection_ids.append(int(detection_ids[i]))
        return ids

    def _match(self, boxes, embeddings) -> np.ndarray:
        means = l2_normalize(np.stack([t.emb_sum for t in self.active]))
        dist = 1.0 - means @ l2_normalize(embeddings).T  # (tracks, detections)
        iou = iou_matrix(np.stack([t.box for t in self.active]), boxes)
        allowed = (dist < self.max_distance) | ((iou >= self.min_iou) & (dist < 1.5 * self.max_distance))
        cost = np.where(allowed, dist - 0.5 * iou, 1e6)
        rows, cols = linear_sum_assignment(cost)
        ids = np.full(len(boxes), -1, np.int64)
        for r, c in zip(rows, cols):
            if allowed[r, c]:
                ids[c] = self.active[r].id
        return ids
