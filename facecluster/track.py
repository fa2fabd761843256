"""Link face detections of consecutive sampled frames of one shot into tracks.

At 1 sampled frame per second faces move a lot between samples, so box overlap alone is weak
evidence: a detection joins a track when the embeddings agree, or when the boxes overlap well and the
embeddings do not clearly disagree. Assignment per frame is optimal (Hungarian), so two faces of one
frame never share a track. Tracks end at shot cuts and after `max_gap` samples without a match.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .assignment import min_cost_assignment
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

    def state(self) -> dict:
        """JSON-able state, so a resumed run links the next frames exactly as an uninterrupted one."""
        return {"shot": self.shot, "sample": self.sample, "next_id": self.next_id,
                "active": [{"id": t.id, "box": t.box.tolist(), "emb_sum": t.emb_sum.tolist(),
                            "last_sample": t.last_sample} for t in self.active]}

    def restore(self, state: dict) -> None:
        self.shot, self.sample, self.next_id = state["shot"], state["sample"], state["next_id"]
        self.active = [_Active(a["id"], np.asarray(a["box"], np.float32), np.asarray(a["emb_sum"], np.float32),
                               a["last_sample"]) for a in state["active"]]

    def _match(self, boxes, embeddings) -> np.ndarray:
        means = l2_normalize(np.stack([t.emb_sum for t in self.active]))
        dist = 1.0 - means @ l2_normalize(embeddings).T  # (tracks, detections)
        iou = iou_matrix(np.stack([t.box for t in self.active]), boxes)
        allowed = (dist < self.max_distance) | ((iou >= self.min_iou) & (dist < 1.5 * self.max_distance))
        cost = np.where(allowed, dist - 0.5 * iou, 1e6)
        rows, cols = min_cost_assignment(cost)
        ids = np.full(len(boxes), -1, np.int64)
        for r, c in zip(rows, cols):
            if allowed[r, c]:
                ids[c] = self.active[r].id
        return ids


def join_tracks(track_id: np.ndarray, frame_index: np.ndarray, is_face: np.ndarray,
                links: np.ndarray) -> np.ndarray:
    """Units: face tracks and body tracks joined through (face row, body row) association `links` (K, 2),
    never joining two tracks that hold faces in the same frame. Returns a unit id per row, 0..U-1 in order
    of first row."""
    tracks, track_of_row = np.unique(track_id, return_inverse=True)
    parent = np.arange(len(tracks))
    face_frames = [set() for _ in tracks]
    for t, f in zip(track_of_row[is_face].tolist(), frame_index[is_face].tolist()):
        face_frames[t].add(f)

    def root(t):
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for a, b in np.asarray(links, np.int64).reshape(-1, 2).tolist():
        ra, rb = root(track_of_row[a]), root(track_of_row[b])
        if ra != rb and not (face_frames[ra] & face_frames[rb]):
            if len(face_frames[ra]) < len(face_frames[rb]):
                ra, rb = rb, ra
            parent[rb] = ra
            face_frames[ra] |= face_frames[rb]
            face_frames[rb] = set()
    roots = np.array([root(t) for t in range(len(tracks))], np.int64)[track_of_row]
    _, first = np.unique(roots, return_index=True)
    order = np.full(len(tracks), -1, np.int64)
    order[roots[np.sort(first)]] = np.arange(len(first))
    return order[roots]
