"""Units whose faces are all small (a face under `reliable_face` pixels, upscaled or not, embeds poorly)
do not shape the people: the clustering backend groups the units with a reliable face, then each weak
unit joins the person it is closest to (fused face + clothing distance averaged over that person's
units, under the cut, never across a cannot-link), and the rest are grouped among themselves and become
a person only when seen often enough (else they stay unassigned: a tiny face that matches nobody is
better left out than allowed to merge two people)."""

from __future__ import annotations

import numpy as np

from .faceless import EVIDENCE
from .linkage import sums_average_linkage
from .units import Units


def weak_units(units: Units, reliable_face: float) -> np.ndarray:
    if not reliable_face or units.face_side is None:
        return np.zeros(units.n, bool)
    return units.has_face & (units.face_side < reliable_face)


def attach_weak(units: Units, labels: np.ndarray, weak: np.ndarray, cannot: list[set], options) -> int:
    """Fill `labels` of the weak units in place; returns how many joined a person."""
    idx = np.flatnonzero(weak)
    if not len(idx):
        return 0
    fusion = options.fusion
    people = np.unique(labels[labels >= 0])
    strong = np.flatnonzero((labels >= 0) & units.has_face & ~weak)
    owner = np.searchsorted(people, labels[strong]) if len(people) else np.zeros(0, np.int64)
    f_sum = np.zeros((len(people), units.face_sum.shape[1]))
    np.add.at(f_sum, owner, units.face_mean(strong))
    f_n = np.bincount(owner, minlength=len(people)).astype(np.float64)
    clothed = units.clothing_sum is not None and fusion.weight
    if clothed:
        dressed = strong[units.has_clothing[strong]]
        c_owner = np.searchsorted(people, labels[dressed])
        c_sum = np.zeros((len(people), units.clothing_sum.shape[1]))
        np.add.at(c_sum, c_owner, units.clothing_mean(dressed))
        c_n = np.bincount(c_owner, minlength=len(people)).astype(np.float64)
    joined, left = 0, []
    for u in idx.tolist():
        z = np.full(len(people), np.inf)
        ok = f_n > 0
        if ok.any():
            zf = fusion.face((f_n[ok] - f_sum[ok] @ units.face_mean([u])[0]) / f_n[ok])
            zc = np.full(ok.sum(), np.nan)
            if clothed and units.has_clothing[u]:
                has = c_n[ok] > 0
                zc[has] = fusion.clothing((c_n[ok][has] - c_sum[ok][has] @ units.clothing_mean([u])[0]) / c_n[ok][has])
            z[ok] = fusion.fuse(zf, zc)
        blocked = {int(labels[v]) for v in cannot[u] if labels[v] >= 0}
        if blocked:
            z[np.isin(people, sorted(blocked))] = np.inf
        best = int(np.argmin(z)) if len(z) else -1
        if best >= 0 and z[best] < 1.0:
            labels[u] = people[best]
            joined += 1
        else:
            left.append(u)
    if left:
        left = np.asarray(left)
        local = {u: i for i, u in enumerate(left.tolist())}
        cl = [{local[v] for v in cannot[u] if v in local} for u in left.tolist()]
        roots = sums_average_linkage(units.face_mean(left), np.ones(len(left)), fusion.face_cut, cl, 1.0)
        next_label = int(labels.max(initial=-1)) + 1
        for r in np.unique(roots):
            members = left[roots == r]
            if units.appearances[members].sum() >= EVIDENCE * options.min_person_detections:
                labels[members] = next_label
                next_label += 1
    return joined
