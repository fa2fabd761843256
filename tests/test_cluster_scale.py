"""The scalable clustering backend: exact linkage over vector sums, agreement with the dense backend,
cannot-link constraints, the noise rule, numbering, 20k units without a unit x unit matrix, and the
automatic switch to it for large runs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from facecluster.grouping import Fusion, GroupingOptions, group
from facecluster.grouping import base as grouping_base
from facecluster.grouping.linkage import constrained_average_linkage, pair_sets, sums_average_linkage
from facecluster.types import l2_normalize

from .conftest import make_units

CUT = 0.66


def mixture(n, ids, seed, spread=0.6, dim=128):
    """Identities as random unit centres; units = centre + noise (same-identity cosine distance ~0.25)."""
    rng = np.random.default_rng(seed)
    centers = l2_normalize(rng.normal(size=(ids, dim)))
    truth = np.r_[np.arange(ids), rng.integers(0, ids, n - ids)]
    emb = l2_normalize(centers[truth] + spread / np.sqrt(dim) * rng.normal(size=(n, dim)))
    return emb.astype(np.float32), truth, rng.integers(1, 8, n)


def co_occurrence(truth, seed, groups):
    """Cannot-link pairs between units of different identities seen "in the same frame"."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(groups):
        a, b = rng.choice(len(truth), 2, replace=False)
        if truth[a] != truth[b]:
            pairs.append((a, b))
    return np.array(pairs, np.int64).reshape(-1, 2)


def people(emb, sizes, pairs, backend, min_person_detections=2):
    units = make_units(emb, appearances=sizes, cannot=pairs)
    options = GroupingOptions(Fusion(CUT, 1.0, 0.0), min_person_detections=min_person_detections, backend=backend)
    return group(units, options).unit_person


def as_scored(labels):
    return np.where(labels >= 0, labels, -1 - np.arange(len(labels)))  # noise = singletons


def test_sums_linkage_is_exact_average_linkage():
    rng = np.random.default_rng(3)
    vec = rng.normal(size=(60, 8)) * 0.4 + l2_normalize(rng.normal(size=(4, 8)))[rng.integers(0, 4, 60)]
    dist = 1.0 - vec @ vec.T  # "mean vectors": not unit length, like the mean of a unit's faces
    pairs = co_occurrence(np.arange(60), 4, 15)
    cannot = np.zeros((60, 60), bool)
    cannot[pairs[:, 0], pairs[:, 1]] = cannot[pairs[:, 1], pairs[:, 0]] = True
    dense = constrained_average_linkage(dist, cannot, 0.8)
    sparse = sums_average_linkage(vec, np.ones(60), 1.0, pair_sets(pairs, 60), 0.8)
    assert adjusted_rand_score(dense, sparse) == 1.0
    assert len(set(sparse.tolist())) == len(set(dense.tolist())) < 60
    assert not np.any(sparse[pairs[:, 0]] == sparse[pairs[:, 1]])


def test_agrees_with_dense_backend_on_small_mixture():
    emb, truth, sizes = mixture(600, 25, seed=0)
    pairs = co_occurrence(truth, 1, 300)
    dense = people(emb, sizes, pairs, "dense")
    scalable = people(emb, sizes, pairs, "scalable")
    assert adjusted_rand_score(as_scored(dense), as_scored(scalable)) >= 0.95
    assert adjusted_rand_score(truth, as_scored(scalable)) >= 0.95
    assert scalable.max() + 1 == len(set(truth.tolist()))


def test_mean_vectors_shorter_than_one_agree_with_dense():
    emb, truth, sizes = mixture(300, 10, seed=5)
    means = emb * np.random.default_rng(6).uniform(0.7, 1.0, (len(emb), 1))  # means of faces that differ a bit
    dense = people(means, sizes, [], "dense")
    scalable = people(means, sizes, [], "scalable")
    assert adjusted_rand_score(as_scored(dense), as_scored(scalable)) >= 0.95


def test_cannot_link_keeps_identical_faces_apart():
    e = np.tile(l2_normalize(np.random.default_rng(0).normal(size=(1, 16))), (4, 1))
    labels = people(e, np.full(4, 3), [(0, 1)], "scalable")
    assert labels[0] != labels[1] and labels.min() >= 0 and len(set(labels.tolist())) == 2
    labels = people(e, np.full(4, 3), [(2, 3), (0, 1)], "scalable")
    assert labels[2] != labels[3] and labels[0] != labels[1]


def test_no_cannot_link_pair_ends_in_one_person():
    emb, truth, sizes = mixture(2000, 40, seed=2, spread=0.9)
    pairs = co_occurrence(truth, 3, 3000)
    labels = people(emb, sizes, pairs, "scalable")
    a, b = labels[pairs[:, 0]], labels[pairs[:, 1]]
    assert not np.any((a == b) & (a >= 0))


@pytest.mark.parametrize("backend", ["dense", "scalable"])
def test_people_numbered_by_first_appearance_and_short_loners_are_noise(backend):
    emb, truth, sizes = mixture(120, 4, seed=7)
    loner = l2_normalize(np.random.default_rng(8).normal(size=(2, 128))).astype(np.float32)
    emb = np.vstack([emb, loner])
    sizes = np.r_[sizes, 1, 5]
    labels = people(emb, sizes, [], backend)
    assert labels[-2] == -1 and labels[-1] >= 0  # seen once: noise; seen 5 times: a person
    firsts = [np.flatnonzero(labels == p)[0] for p in range(labels.max() + 1)]
    assert firsts == sorted(firsts) and labels[0] == 0
    assert people(np.zeros((0, 8)), np.zeros(0, int), [], backend).shape == (0,)


def test_large_runs_switch_to_the_scalable_backend(monkeypatch):
    emb, truth, sizes = mixture(200, 8, seed=9)
    units = make_units(emb, appearances=sizes)
    options = GroupingOptions(Fusion(CUT, 1.0, 0.0))
    assert group(units, options).backend == "dense"
    monkeypatch.setattr(grouping_base, "LARGE_UNITS", 100)
    grouping = group(units, options)
    assert grouping.backend == "scalable" and adjusted_rand_score(truth, as_scored(grouping.unit_person)) >= 0.95


def test_20k_units():
    emb, truth, sizes = mixture(20_000, 400, seed=11)
    pairs = co_occurrence(truth, 12, 20_000)
    labels = people(emb, sizes, pairs, "scalable")
    assert adjusted_rand_score(truth, as_scored(labels)) >= 0.95
    a, b = labels[pairs[:, 0]], labels[pairs[:, 1]]
    assert not np.any((a == b) & (a >= 0))
    assert abs(labels.max() + 1 - 400) <= 20
