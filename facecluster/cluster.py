"""Group tracks into people.

Tracks, not frames, are clustered: every detection of a track is the same person (must-link), and
two tracks seen in the same frame are different people (cannot-link). Three steps:
1. HDBSCAN proposes groups from the density of track embeddings (no number of people needed).
2. Each proposed group is split until it holds no cannot-link pair and its members are within
   WITHIN_SLACK x the same-person distance (constrained average linkage).
3. Groups and noise tracks are merged by constrained average linkage while their mean cosine distance
   is under the embedder's calibrated same-person distance; this re-attaches tracks HDBSCAN called noise
   and joins people it split. Whatever is left alone with too little evidence is noise (-1).
"""

from __future__ import annotations

import heapq
import logging

import numpy as np

log = logging.getLogger("facecluster")
# HDBSCAN groups are density evidence, so their members may sit a little further apart than the
# same-person distance; more slack lets one dense cloud swallow two similar-looking people.
WITHIN_SLACK = 1.25


def cosine_distances(embeddings: np.ndarray) -> np.ndarray:
    e = np.asarray(embeddings, np.float64)
    return np.clip(1.0 - e @ e.T, 0.0, 2.0)


def constrained_average_linkage(dist: np.ndarray, cannot: np.ndarray, threshold: float,
                                sizes: np.ndarray | None = None) -> np.ndarray:
    """Agglomerate items (closest pair first, average linkage) while the distance is < threshold and
    the two groups hold no cannot-link pair. Returns a group label per item (0..G-1)."""
    n = len(dist)
    if n == 0:
        return np.zeros(0, np.int64)
    d = np.array(dist, np.float64, copy=True)
    c = np.array(cannot, bool, copy=True)
    size = np.ones(n) if sizes is None else np.asarray(sizes, np.float64).copy()
    alive = np.ones(n, bool)
    version = np.zeros(n, np.int64)
    members = [[i] for i in range(n)]
    iu, ju = np.triu_indices(n, 1)
    ok = (d[iu, ju] < threshold) & ~c[iu, ju]
    heap = [(d[i, j], i, j, 0, 0) for i, j in zip(iu[ok], ju[ok])]
    heapq.heapify(heap)
    while heap:
        dij, i, j, vi, vj = heapq.heappop(heap)
        if not (alive[i] and alive[j]) or version[i] != vi or version[j] != vj or c[i, j]:
            continue
        # merge j into i (Lance-Williams update for average linkage)
        d[i] = (size[i] * d[i] + size[j] * d[j]) / (size[i] + size[j])
        d[:, i] = d[i]
        c[i] |= c[j]
        c[:, i] = c[i]
        size[i] += size[j]
        alive[j] = False
        version[i] += 1
        members[i] += members[j]
        others = np.flatnonzero(alive & (d[i] < threshold) & ~c[i])
        for k in others[others != i]:
            a, b = (i, k) if i < k else (k, i)
            heapq.heappush(heap, (d[i, k], a, b, version[a], version[b]))
    labels = np.empty(n, np.int64)
    for g, i in enumerate(np.flatnonzero(alive)):
        labels[members[i]] = g
    return labels


def hdbscan_labels(embeddings: np.ndarray, min_cluster_size: int, min_samples: int) -> np.ndarray:
    """HDBSCAN on unit vectors (euclidean distance is monotonic in cosine distance); -1 = noise."""
    n = len(embeddings)
    if n < max(3, min_cluster_size + 1):
        return np.full(n, -1, np.int64)
    import hdbscan

    model = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min(min_samples, n - 1),
                            metric="euclidean", cluster_selection_method="eom")
    return model.fit_predict(np.asarray(embeddings, np.float64)).astype(np.int64)


def cluster_tracks(embeddings: np.ndarray, cannot_link: np.ndarray, threshold: float,
                   track_sizes: np.ndarray, min_cluster_size: int = 2, min_samples: int = 1,
                   min_person_detections: int = 2, distances: np.ndarray | None = None) -> np.ndarray:
    """Person label per track (0..P-1, ordered by first track) or -1 for noise.

    embeddings: (T, D) unit vectors of the tracks; cannot_link: (T, T) bool; threshold: cosine distance;
    track_sizes: detections per track; distances: optional (T, T) precomputed track distances (fusion).
    """
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, np.int64)
    dist = cosine_distances(embeddings) if distances is None else np.asarray(distances, np.float64)
    proposal = hdbscan_labels(embeddings, min_cluster_size, min_samples)
    groups = np.full(n, -1, np.int64)
    next_group = 0
    for label in np.unique(proposal[proposal >= 0]):
        idx = np.flatnonzero(proposal == label)
        sub = constrained_average_linkage(dist[np.ix_(idx, idx)], cannot_link[np.ix_(idx, idx)],
                                          WITHIN_SLACK * threshold)
        groups[idx] = sub + next_group
        next_group += sub.max() + 1
    noise = np.flatnonzero(groups < 0)
    groups[noise] = np.arange(next_group, next_group + len(noise))
    g = next_group + len(noise)
    member = np.zeros((n, g))
    member[np.arange(n), groups] = 1.0
    counts = member.sum(0)
    gdist = member.T @ dist @ member / np.outer(counts, counts)
    gcannot = (member.T @ cannot_link.astype(np.float64) @ member) > 0
    merged = constrained_average_linkage(gdist, gcannot, threshold, sizes=counts)[groups]
    labels = np.full(n, -1, np.int64)
    sizes = np.asarray(track_sizes)
    next_label = 0
    for group in sorted(np.unique(merged), key=lambda m: np.flatnonzero(merged == m)[0]):
        idx = np.flatnonzero(merged == group)
        if len(idx) == 1 and sizes[idx].sum() < min_person_detections:
            continue
        labels[idx] = next_label
        next_label += 1
    log.debug("clustering: %d tracks, %d hdbscan groups, %d people, %d noise tracks",
              n, len(np.unique(proposal[proposal >= 0])), next_label, int((labels < 0).sum()))
    return labels
