"""Dense clustering backend: every pairwise distance in a matrix (up to a few thousand units).

1. HDBSCAN proposes groups from the density of the units' face vectors (no number of people needed).
2. Each proposed group is split until it holds no cannot-link pair and its members are within
   WITHIN_SLACK of each other (constrained average linkage on fused distances).
3. Groups and noise units are merged by constrained average linkage while their mean fused distance is
   under 1 (the same-person cut); this re-attaches units HDBSCAN called noise and joins people it split.
A person of one unit seen in fewer than min_person_detections sampled frames is noise (-1).
"""

from __future__ import annotations

import numpy as np

from . import density
from .base import ClusteringBackend, GroupingOptions
from .linkage import constrained_average_linkage
from .units import Units

# HDBSCAN groups are density evidence, so their members may sit a little further apart than the
# same-person cut; more slack lets one dense cloud swallow two similar-looking people.
WITHIN_SLACK = 1.25


def hdbscan_labels(vectors: np.ndarray, min_cluster_size: int, min_samples: int) -> np.ndarray:
    """HDBSCAN on unit vectors (euclidean distance is monotonic in cosine distance); -1 = noise."""
    n = len(vectors)
    if n < max(3, min_cluster_size + 1):
        return np.full(n, -1, np.int64)
    return density.hdbscan_labels(vectors, min_cluster_size, min_samples)


def fused_matrix(units: Units, idx: np.ndarray, options: GroupingOptions) -> np.ndarray:
    """(n, n) fused relative distances between the units `idx` (all with a face)."""
    fusion = options.fusion
    fm = units.face_mean(idx)
    z = fusion.face(np.clip(1.0 - fm @ fm.T, 0.0, 2.0))
    if units.clothing_sum is None or not fusion.weight:
        return z
    has = units.has_clothing[idx]
    cm = units.clothing_mean(idx)
    zc = fusion.clothing(np.clip(1.0 - cm @ cm.T, 0.0, 2.0))
    ok = has[:, None] & has[None, :]
    if options.clothing_window_s:
        first, last = units.first_s[idx], units.last_s[idx]
        gap = np.maximum(first[:, None] - last[None, :], first[None, :] - last[:, None])
        ok &= gap <= options.clothing_window_s
    return fusion.fuse(z, np.where(ok, zc, np.nan))


def label_people(merged: np.ndarray, sizes: np.ndarray, min_person_detections: int) -> np.ndarray:
    """Merged group per item -> labels 0..L-1 in order of first item; lone items with too little evidence
    are noise."""
    labels = np.full(len(merged), -1, np.int64)
    next_label = 0
    for g in sorted(np.unique(merged), key=lambda m: np.flatnonzero(merged == m)[0]):
        idx = np.flatnonzero(merged == g)
        if len(idx) == 1 and sizes[idx].sum() < min_person_detections:
            continue
        labels[idx] = next_label
        next_label += 1
    return labels


class DenseBackend(ClusteringBackend):
    NAME = "dense"

    def cluster(self, units: Units, face_units: np.ndarray, cannot: list[set], options: GroupingOptions):
        n = len(face_units)
        local = {int(u): i for i, u in enumerate(face_units)}
        cl = np.zeros((n, n), bool)
        for i, u in enumerate(face_units.tolist()):
            for v in cannot[u]:
                j = local.get(v)
                if j is not None:
                    cl[i, j] = cl[j, i] = True
        fm = units.face_mean(face_units)
        vectors = fm / np.maximum(np.linalg.norm(fm, axis=1, keepdims=True), 1e-12)
        # HDBSCAN's distance matrix is freed before the fused one is made: one n x n matrix at a time
        proposal = hdbscan_labels(vectors, options.min_cluster_size, options.min_samples)
        dist = fused_matrix(units, face_units, options)
        groups = np.full(n, -1, np.int64)
        next_group = 0
        for label in np.unique(proposal[proposal >= 0]):
            idx = np.flatnonzero(proposal == label)
            sub = constrained_average_linkage(dist[np.ix_(idx, idx)], cl[np.ix_(idx, idx)], WITHIN_SLACK)
            groups[idx] = sub + next_group
            next_group += sub.max() + 1
        noise = np.flatnonzero(groups < 0)
        groups[noise] = np.arange(next_group, next_group + len(noise))
        g = next_group + len(noise)
        member = np.zeros((n, g))
        member[np.arange(n), groups] = 1.0
        counts = member.sum(0)
        gdist = member.T @ dist @ member / np.outer(counts, counts)
        gcannot = (member.T @ cl.astype(np.float64) @ member) > 0
        merged = constrained_average_linkage(gdist, gcannot, 1.0, sizes=counts)[groups]
        return label_people(merged, units.appearances[face_units], options.min_person_detections)
