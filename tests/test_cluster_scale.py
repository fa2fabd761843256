"""The scalable track clustering path: exact linkage over groups, agreement with the dense path,
cannot-link constraints, the noise rule, and 20k tracks without a T x T matrix."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from facecluster.cluster import cluster_tracks, constrained_average_linkage
from facecluster.cluster_scale import average_linkage_groups, cannot_link_pairs, cluster_tracks_scalable
from facecluster.types import l2_normalize


def mixture(n, ids, seed, spread=0.6, dim=128):
    """Identities as random unit centres; tracks = centre + noise (same-identity cosine distance ~0.25)."""
    rng = np.random.default_rng(seed)
    centers = l2_normalize(rng.normal(size=(ids, dim)))
    truth = np.r_[np.arange(ids), rng.integers(0, ids, n - ids)]
    emb = l2_normalize(centers[truth] + spread / np.sqrt(dim) * rng.normal(size=(n, dim)))
    return emb.astype(np.float32), truth, rng.integers(1, 8, n)


def co_occurrence(truth, seed, groups):
    """Cannot-link pairs between tracks of different identities seen "in the same frame"."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(groups):
        a, b = rng.choice(len(truth), 2, replace=False)
        if truth[a] != truth[b]:
            pairs.append((a, b))
    return np.array(pairs, np.int64).reshape(-1, 2)


def dense_cannot(pairs, n):
    c = np.zeros((n, n), bool)
    c[pairs[:, 0], pairs[:, 1]] = c[pairs[:, 1], pairs[:, 0]] = True
    return c


def as_scored(labels):
    return np.where(labels >= 0, labels, -1 - np.arange(len(labels)))  # noise = singletons


def test_group_linkage_is_exact_average_linkage():
    rng = np.random.default_rng(3)
    vec = rng.normal(size=(60, 8)) * 0.4 + l2_normalize(rng.normal(size=(4, 8)))[rng.integers(0, 4, 60)]
    dist = 1.0 - vec @ vec.T  # "distance vectors": not unit length, like mean track embeddings
    cannot = dense_cannot(co_occurrence(np.arange(60), 4, 15), 60)
    dense = constrained_average_linkage(dist, cannot, 0.8)
    groups = [set(np.flatnonzero(row).tolist()) for row in cannot]
    sparse = average_linkage_groups(vec, np.ones(60), groups, 0.8)
    assert adjusted_rand_score(dense, sparse) == 1.0
    assert len(set(sparse.tolist())) == len(set(dense.tolist())) < 60


def test_agrees_with_dense_path_on_small_mixture():
    emb, truth, sizes = mixture(600, 25, seed=0)
    pairs = co_occurrence(truth, 1, 300)
    dense = cluster_tracks(emb, dense_cannot(pairs, len(emb)), 0.66, sizes)
    scalable = cluster_tracks_scalable(emb, pairs, 0.66, sizes)
    assert adjusted_rand_score(as_scored(dense), as_scored(scalable)) >= 0.95
    assert adjusted_rand_score(truth, as_scored(scalable)) >= 0.95
    assert scalable.max() + 1 == len(set(truth.tolist()))


def test_distance_vectors_match_dense_distances():
    emb, truth, sizes = mixture(300, 10, seed=5)
    means = emb * np.random.default_rng(6).uniform(0.7, 1.0, (len(emb), 1))  # mean detection vectors
    no_cl = np.zeros((0, 2), np.int64)
    dense = cluster_tracks(emb, np.zeros((300, 300), bool), 0.66, sizes, distances=1.0 - means @ means.T)
    scalable = cluster_tracks_scalable(emb, no_cl, 0.66, sizes, distance_vectors=means)
    assert adjusted_rand_score(as_scored(dense), as_scored(scalable)) >= 0.95


def test_cannot_link_keeps_identical_faces_apart():
    e = np.tile(l2_normalize(np.random.default_rng(0).normal(size=(1, 16))), (4, 1))
    labels = cluster_tracks_scalable(e, [(0, 1)], 0.3, np.full(4, 3))
    assert labels[0] != labels[1] and labels.min() >= 0 and len(set(labels.tolist())) == 2
    # a dense bool matrix is accepted too
    dense = np.zeros((4, 4), bool)
    dense[2, 3] = True
    labels = cluster_tracks_scalable(e, dense, 0.3, np.full(4, 3))
    assert labels[2] != labels[3]
    assert cannot_link_pairs(dense, 4).tolist() == [[2, 3]]


def test_no_cannot_link_pair_ends_in_one_person():
    emb, truth, sizes = mixture(2000, 40, seed=2, spread=0.9)
    pairs = co_occurrence(truth, 3, 3000)
    labels = cluster_tracks_scalable(emb, pairs, 0.66, sizes)
    a, b = labels[pairs[:, 0]], labels[pairs[:, 1]]
    assert not np.any((a == b) & (a >= 0))


def test_labels_ordered_by_first_track_and_short_loners_are_noise():
    emb, truth, sizes = mixture(120, 4, seed=7)
    loner = l2_normalize(np.random.default_rng(8).normal(size=(2, 128))).astype(np.float32)
    emb = np.vstack([emb, loner])
    sizes = np.r_[sizes, 1, 5]
    labels = cluster_tracks_scalable(emb, np.zeros((0, 2)), 0.66, sizes, min_person_detections=2)
    assert labels[-2] == -1 and labels[-1] >= 0
    firsts = [np.flatnonzero(labels == p)[0] for p in range(labels.max() + 1)]
    assert firsts == sorted(firsts) and labels[0] == 0
    assert cluster_tracks_scalable(np.zeros((0, 8)), [], 0.5, np.zeros(0)).shape == (0,)


def test_20k_tracks():
    emb, truth, sizes = mixture(20_000, 400, seed=11)
    pairs = co_occurrence(truth, 12, 20_000)
    labels = cluster_tracks_scalable(emb, pairs, 0.66, sizes)
    assert adjusted_rand_score(truth, as_scored(labels)) >= 0.95
    a, b = labels[pairs[:, 0]], labels[pairs[:, 1]]
    assert not np.any((a == b) & (a >= 0))
    assert abs(labels.max() + 1 - 400) <= 20
