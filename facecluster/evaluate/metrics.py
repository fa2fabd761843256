"""Clustering and detection metrics with known answers, shared by `facecluster eval` and the benchmarks.

Why these: BCubed and pairwise P/R/F say how well detections were grouped (BCubed weighs every detection
equally, pairwise weighs big clusters more), NMI is the usual single-number summary in face-clustering
papers, WCP (weighted clustering purity = sum over predicted clusters of their majority-identity count,
over all items) is what video face-clustering papers report, and the people count is what users see.

Noise: a predicted label of -1 (NOISE) means "not assigned to any person". Every noise item is treated
as its own singleton cluster, so noise never merges different identities (it costs recall, not
precision). Singletons are trivially pure, so WCP and precision reward dropping items: read them
together with recall and `noise_fraction`. Truth labels have no noise.

Box matching: per frame, truth and predicted boxes are matched one-to-one by IoU with the Hungarian
algorithm (maximum total IoU); a pair counts only when its IoU >= the threshold (0.5 default, as in
PASCAL VOC). Matched pairs give (true identity, predicted person) for the clustering metrics;
unmatched truth counts against detection recall, unmatched predictions against precision.
"""

from __future__ import annotations

from typing import Hashable, Iterable, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..types import iou_matrix

NOISE = -1


def _prf(p: float, r: float) -> dict:
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"precision": float(p), "recall": float(r), "f": float(f)}


def _codes(truth: Sequence[Hashable], pred: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for truth and prediction; each noise prediction gets a fresh singleton code."""
    if len(truth) != len(pred):
        raise ValueError(f"truth has {len(truth)} labels but prediction has {len(pred)}")
    t_codes = {t: i for i, t in enumerate(dict.fromkeys(truth))}
    p_codes: dict = {}
    p = np.empty(len(pred), np.int64)
    fresh = 0
    for i, label in enumerate(pred):
        if label == NOISE:
            p[i] = -1 - fresh  # negative codes: one singleton per noise item
            fresh += 1
        else:
            p[i] = p_codes.setdefault(label, len(p_codes))
    return np.array([t_codes[t] for t in truth], np.int64), p


def _contingency(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Counts n_ij of items with truth i and prediction j (dense; fine for up to ~10k clusters)."""
    _, ti = np.unique(t, return_inverse=True)
    _, pi = np.unique(p, return_inverse=True)
    table = np.zeros((ti.max() + 1, pi.max() + 1), np.int64)
    np.add.at(table, (ti, pi), 1)
    return table


def bcubed(truth: Sequence[Hashable], pred: Sequence[Hashable]) -> dict:
    """BCubed precision/recall/F (Amigo et al. 2009): per item, the share of its predicted cluster with
    its identity (precision) and the share of its identity in its predicted cluster (recall), averaged."""
    if len(truth) == 0:
        return _prf(1.0, 1.0) | {"n": 0}
    n = _contingency(*_codes(truth, pred)).astype(float)
    p = ((n ** 2) / n.sum(axis=0)[None, :]).sum() / n.sum()
    r = ((n ** 2) / n.sum(axis=1)[:, None]).sum() / n.sum()
    return _prf(p, r) | {"n": int(n.sum())}


def pairwise(truth: Sequence[Hashable], pred: Sequence[Hashable]) -> dict:
    """Pairwise P/R/F over unordered item pairs: precision = same-person pairs that are same-identity over
    same-person pairs. With no predicted pairs precision is 1 (nothing wrongly merged); with no true
    pairs recall is 1 (nothing to find)."""
    if len(truth) == 0:
        return _prf(1.0, 1.0) | {"n": 0}
    n = _contingency(*_codes(truth, pred)).astype(float)
    pairs = lambda x: (x * (x - 1) / 2).sum()  # noqa: E731
    tp, pred_pairs, true_pairs = pairs(n), pairs(n.sum(axis=0)), pairs(n.sum(axis=1))
    p = tp / pred_pairs if pred_pairs else 1.0
    r = tp / true_pairs if true_pairs else 1.0
    return _prf(p, r) | {"n": int(n.sum())}


def nmi(truth: Sequence[Hashable], pred: Sequence[Hashable]) -> float:
    """Normalized mutual information, arithmetic-mean normalisation (sklearn's default): I / ((H_t+H_p)/2).
    Both partitions trivial (one cluster each) gives 1.0; one trivial and the other not gives 0.0."""
    if len(truth) == 0:
        return 1.0
    n = _contingency(*_codes(truth, pred)).astype(float)
    total = n.sum()
    pt, pp = n.sum(axis=1) / total, n.sum(axis=0) / total
    ht, hp = -(pt * np.log(pt)).sum(), -(pp * np.log(pp)).sum()
    nz = n > 0
    pij = n[nz] / total
    mi = (pij * (np.log(pij) - np.log(np.outer(pt, pp)[nz]))).sum()
    if ht == 0 and hp == 0:
        return 1.0
    if ht == 0 or hp == 0:
        return 0.0
    return float(np.clip(mi / ((ht + hp) / 2), 0.0, 1.0))


def wcp(truth: Sequence[Hashable], pred: Sequence[Hashable]) -> float:
    """Weighted clustering purity: sum over predicted clusters of the count of their majority identity,
    divided by the number of items (each cluster's purity weighted by its size)."""
    if len(truth) == 0:
        return 1.0
    n = _contingency(*_codes(truth, pred))
    return float(n.max(axis=0).sum() / n.sum())


def people_count(pred: Iterable[Hashable]) -> int:
    """Number of distinct predicted people, noise excluded."""
    return len({p for p in pred if p != NOISE})


def clustering_report(truth: Sequence[Hashable], pred: Sequence[Hashable]) -> dict:
    """All clustering metrics for matched (identity, person) labels in one dict."""
    noise = sum(1 for p in pred if p == NOISE)
    return {"items": len(truth), "bcubed": bcubed(truth, pred), "pairwise": pairwise(truth, pred),
            "nmi": nmi(truth, pred), "wcp": wcp(truth, pred),
            "noise_fraction": noise / len(pred) if len(pred) else 0.0,
            "true_people": len(set(truth)), "predicted_people": people_count(pred)}


def match_boxes(truth_boxes, pred_boxes, iou: float = 0.5) -> list[tuple[int, int, float]]:
    """One-to-one matches (truth index, prediction index, IoU) with IoU >= `iou`, maximising total IoU."""
    t = np.asarray(truth_boxes, np.float32).reshape(-1, 4)
    p = np.asarray(pred_boxes, np.float32).reshape(-1, 4)
    if len(t) == 0 or len(p) == 0:
        return []
    m = iou_matrix(t, p)
    rows, cols = linear_sum_assignment(np.where(m >= iou, m, 0.0), maximize=True)
    return [(int(r), int(c), float(m[r, c])) for r, c in zip(rows, cols) if m[r, c] >= iou]


def match_frames(truth: Mapping[int, Sequence[tuple[Hashable, Sequence[float]]]],
                 pred: Mapping[int, Sequence[tuple[Hashable, Sequence[float]]]],
                 frames: Iterable[int] | None = None, iou: float = 0.5) -> dict:
    """Match per frame. truth/pred map frame index -> [(label, box)], label = identity / person id.

    Only `frames` are compared (default: the frames that have predictions, i.e. the sampled ones).
    Returns detection counts, recall, precision, mean IoU of matches, the matched label pairs
    `pairs` = [(identity, person)] and `matches` = [(frame, truth index, prediction index, IoU)],
    both in frame order.
    """
    frames = sorted(set(pred) if frames is None else set(frames))
    n_true = n_pred = 0
    pairs, matches = [], []
    for f in frames:
        t, p = truth.get(f, ()), pred.get(f, ())
        n_true, n_pred = n_true + len(t), n_pred + len(p)
        for i, j, v in match_boxes([b for _, b in t], [b for _, b in p], iou):
            pairs.append((t[i][0], p[j][0]))
            matches.append((f, i, j, v))
    tp = len(matches)
    return {"frames": len(frames), "true": n_true, "predicted": n_pred, "matched": tp,
            "recall": tp / n_true if n_true else 1.0, "precision": tp / n_pred if n_pred else 1.0,
            "mean_iou": float(np.mean([m[3] for m in matches])) if matches else 0.0,
            "pairs": pairs, "matches": matches}
