"""facecluster.grouping.density: HDBSCAN without the hdbscan package, with the package's labels."""

from __future__ import annotations

import numpy as np
import pytest

from facecluster.grouping.density import hdbscan_labels


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_two_tight_groups_and_an_outlier():
    rng = np.random.default_rng(3)
    a, b, far = rng.normal(size=(3, 128))
    x = _unit(np.concatenate([a + 0.05 * rng.normal(size=(6, 128)), b + 0.05 * rng.normal(size=(5, 128)),
                              far[None]]))
    labels = hdbscan_labels(x, min_cluster_size=2, min_samples=1)
    assert labels[:6].tolist() == [labels[0]] * 6 and labels[6:11].tolist() == [labels[6]] * 5
    assert labels[0] != labels[6] and min(labels[0], labels[6]) >= 0
    assert labels[11] == -1
    assert sorted({int(v) for v in labels[:11]}) == [0, 1]


def test_tiny_inputs_are_noise_and_bad_sizes_raise():
    rng = np.random.default_rng(4)
    x = _unit(rng.normal(size=(8, 128)))
    assert hdbscan_labels(x[:1], 2, 1).tolist() == [-1]
    assert hdbscan_labels(x[:0], 2, 1).shape == (0,)
    with pytest.raises(ValueError, match="min_cluster_size"):
        hdbscan_labels(x, 1, 1)


def _cases(seed: int, count: int):
    rng = np.random.default_rng(seed)
    for trial in range(count):
        n = int(rng.integers(5, 300))
        dim = int(rng.choice([64, 128, 512]))  # the package's Prim's path: more than 60 dimensions
        k = int(rng.integers(1, 12))
        x = rng.normal(size=(k, dim))[rng.integers(0, k, n)] + rng.uniform(0.05, 1.0) * rng.normal(size=(n, dim))
        if trial % 3 == 0:
            x[rng.integers(0, n, n // 4)] = x[0]  # identical vectors: distance ties at 0
        if trial % 5 == 0:
            x = np.round(x, 1)  # coarse values: many equal distances
        mcs, ms = int(rng.integers(2, 6)), int(rng.integers(1, 6))
        if n > mcs + 1:
            yield _unit(x), mcs, min(ms, n - 1)


def test_labels_are_the_hdbscan_packages():
    """The same labels as hdbscan.HDBSCAN (euclidean, EOM) on random groups, with identical vectors and
    coarse values that make ties: Prim's order, single linkage, condensing, stability and EOM agree."""
    hdbscan = pytest.importorskip("hdbscan")
    checked = 0
    for x, mcs, ms in _cases(seed=11, count=120):
        want = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms, metric="euclidean",
                               cluster_selection_method="eom").fit_predict(x)
        got = hdbscan_labels(x, mcs, ms)
        assert got.tolist() == want.tolist(), (len(x), x.shape[1], mcs, ms)
        checked += 1
    assert checked > 100
