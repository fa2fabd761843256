"""Units without a face (bodies seen from behind, or with faces too small to embed) join people by
clothing, the only evidence they carry; the same for both clustering backends, from vector sums only.

1. Faceless units are grouped among themselves (exact average linkage on clothing, never across a
   cannot-link pair): one person's back view over a shot becomes one group.
2. Each group joins the person whose clothing is closest on average, if that is under STRICTNESS of the
   clothing cut (outfits of different people can look alike to a colour histogram; a face is stronger
   evidence, so clothing alone must be clearly closer), the person is seen within clothing_window_s (when
   set) and no unit of the group shares a frame with that person.
3. A group that joins nobody is a person of its own if it was seen in at least EVIDENCE x
   min_person_detections sampled frames (partial and duplicate body boxes are common); otherwise noise.
"""

from __future__ import annotations

import numpy as np

from .linkage import sums_average_linkage
from .units import Units

STRICTNESS = 0.6
EVIDENCE = 2


def attach_faceless(units: Units, labels: np.ndarray, cannot: list[set], options) -> int:
    """Fill `labels` (-1 where unset) of faceless units in place; returns how many joined a person."""
    if units.clothing_sum is None:
        return 0
    faceless = np.flatnonzero(~units.has_face & units.has_clothing)
    if not len(faceless):
        return 0
    local = np.full(units.n, -1, np.int64)
    local[faceless] = np.arange(len(faceless))
    cl = [{int(local[v]) for v in cannot[u] if local[v] >= 0} for u in faceless.tolist()]
    cm = units.clothing_mean(faceless)
    roots = sums_average_linkage(cm, np.ones(len(faceless)), options.fusion.clothing_cut, cl, 1.0)
    _, group = np.unique(roots, return_inverse=True)
    n_groups = int(group.max()) + 1
    g_sum = np.zeros((n_groups, cm.shape[1]))
    np.add.at(g_sum, group, cm)
    g_count = np.bincount(group, minlength=n_groups).astype(np.float64)

    people = np.unique(labels[labels >= 0])
    dressed = np.flatnonzero((labels >= 0) & units.has_clothing)
    p_index = np.searchsorted(people, labels[dressed]) if len(people) else np.zeros(0, np.int64)
    p_sum = np.zeros((len(people), cm.shape[1]))
    np.add.at(p_sum, p_index, units.clothing_mean(dressed))
    p_count = np.bincount(p_index, minlength=len(people)).astype(np.float64)
    p_first = np.full(len(people), np.inf)
    p_last = np.full(len(people), -np.inf)
    owned = np.flatnonzero(labels >= 0)
    owner = np.searchsorted(people, labels[owned]) if len(people) else np.zeros(0, np.int64)
    np.minimum.at(p_first, owner, units.first_s[owned])
    np.maximum.at(p_last, owner, units.last_s[owned])

    attached = 0
    next_label = int(labels.max(initial=-1)) + 1
    window = options.clothing_window_s
    limit = STRICTNESS * options.fusion.clothing_cut
    for gi in range(n_groups):
        members = faceless[group == gi]
        dist = np.full(len(people), np.inf)
        ok = p_count > 0
        if ok.any():
            nn = g_count[gi] * p_count[ok]
            dist[ok] = (nn - p_sum[ok] @ g_sum[gi]) / nn
        conflict = {int(labels[v]) for u in members.tolist() for v in cannot[u] if labels[v] >= 0}
        if conflict:
            dist[np.isin(people, sorted(conflict))] = np.inf  # a conflict may be a faceless group made above
        if window:
            first, last = units.first_s[members].min(), units.last_s[members].max()
            gap = np.maximum(first - p_last, p_first - last)
            dist[gap > window] = np.inf
        best = int(np.argmin(dist)) if len(dist) else -1
        if best >= 0 and dist[best] < limit:
            labels[members] = people[best]
            attached += len(members)
        elif units.appearances[members].sum() >= EVIDENCE * options.min_person_detections:
            labels[members] = next_label
            next_label += 1
    return attached
