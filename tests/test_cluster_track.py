"""Tracker and clustering constraints on hand-made data (grouping's dense and scalable backends)."""

from __future__ import annotations

import numpy as np
import pytest

from facecluster.grouping import Fusion, GroupingOptions, group
from facecluster.grouping.linkage import constrained_average_linkage
from facecluster.track import Tracker
from facecluster.types import Detections, iou_matrix, l2_normalize

from .conftest import make_units

BACKENDS = ["dense", "scalable"]


def _unit(rng, n, d=16):
    return l2_normalize(rng.normal(size=(n, d)))


def options(cut: float, backend: str, min_person_detections: int = 2) -> GroupingOptions:
    return GroupingOptions(Fusion(cut, 1.0, 0.0), min_person_detections=min_person_detections, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cannot_link_keeps_identical_faces_of_one_frame_apart(backend):
    e = np.tile(_unit(np.random.default_rng(0), 1), (4, 1))
    labels = group(make_units(e, cannot=[(0, 1)]), options(0.3, backend)).unit_person
    assert labels[0] != labels[1] and labels.min() >= 0
    assert len(set(labels.tolist())) == 2  # the other two join one of them


@pytest.mark.parametrize("backend", BACKENDS)
def test_clusters_recovered_and_short_loners_are_noise(backend):
    rng = np.random.default_rng(1)
    centers = _unit(rng, 5, 64)
    truth = np.repeat(np.arange(5), 6)
    e = l2_normalize(centers[truth] + 0.05 * rng.normal(size=(30, 64)))
    e = np.vstack([e, _unit(rng, 1, 64)])  # a stranger seen once
    units = make_units(e, appearances=np.r_[np.full(30, 4), 1])
    labels = group(units, options(0.3, backend)).unit_person
    assert labels[-1] == -1
    assert len(set(labels[:30].tolist())) == 5 and labels[:30].min() >= 0
    for k in range(5):
        assert len(set(labels[:30][truth == k].tolist())) == 1


def test_average_linkage_respects_threshold():
    d = np.array([[0, 0.1, 0.9], [0.1, 0, 0.8], [0.9, 0.8, 0]])
    assert constrained_average_linkage(d, np.zeros((3, 3), bool), 0.5).tolist() == [0, 0, 1]
    cannot = np.zeros((3, 3), bool)
    cannot[0, 1] = cannot[1, 0] = True
    assert len(set(constrained_average_linkage(d, cannot, 0.5).tolist())) == 3


def test_tracker_links_by_embedding_and_splits_at_shots():
    rng = np.random.default_rng(2)
    a, b = _unit(rng, 2)
    t = Tracker(max_distance=0.3)
    ids0 = t.update(0, np.array([[0, 0, 10, 10], [50, 50, 60, 60]]), np.stack([a, b]), [0, 1])
    ids1 = t.update(0, np.array([[52, 50, 62, 60], [200, 0, 210, 10]]), np.stack([b, a]), [2, 3])
    assert ids1.tolist() == [ids0[1], ids0[0]]  # b stayed close, a moved far but kept its face
    ids2 = t.update(1, np.array([[52, 50, 62, 60]]), b[None], [4])
    assert ids2[0] not in ids0  # new shot, new track


def test_detections_shape_checks_and_masks():
    d = Detections(np.array([[0, 0, 10, 10], [5, 5, 20, 20]]), [0.9, 0.4], np.zeros((2, 5, 2)))
    assert len(d[d.scores > 0.5]) == 1
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        Detections(np.zeros((2, 4)), [1.0])
    assert np.isclose(iou_matrix([[0, 0, 10, 10]], [[5, 0, 15, 10]])[0, 0], 1 / 3)


@pytest.mark.parametrize("seed", range(6))
def test_min_cost_assignment_finds_scipys_optimum(seed):
    """The tracker's own assignment (no scipy.optimize import at the first frames) reaches the optimum of
    scipy's linear_sum_assignment on random, tied and gated (1e6) matrices of every shape."""
    from scipy.optimize import linear_sum_assignment

    from facecluster.assignment import min_cost_assignment

    rng = np.random.default_rng(seed)
    for trial in range(300):
        n, m = (int(x) for x in rng.integers(0, 9, 2))
        cost = rng.integers(0, 4, (n, m)).astype(float) if trial % 2 else rng.random((n, m))
        if trial % 3 == 0:
            cost[rng.random((n, m)) < 0.5] = 1e6
        rows, cols = min_cost_assignment(cost)
        ref_rows, ref_cols = linear_sum_assignment(cost)
        assert len(rows) == len(ref_rows) == min(n, m)
        assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
        assert np.all(np.diff(rows) > 0)
        assert cost[rows, cols].sum() == pytest.approx(cost[ref_rows, ref_cols].sum())
        if trial % 2 == 0 and trial % 3:  # continuous costs: one optimum, the same pairs
            assert np.array_equal(rows, ref_rows) and np.array_equal(cols, ref_cols)


def test_min_cost_assignment_refuses_what_it_cannot_solve():
    from facecluster.assignment import min_cost_assignment

    with pytest.raises(ValueError, match="finite"):
        min_cost_assignment(np.array([[0.0, np.inf]]))
    with pytest.raises(ValueError, match="2-D"):
        min_cost_assignment(np.zeros(3))
    assert [len(x) for x in min_cost_assignment(np.zeros((0, 4)))] == [0, 0]
