"""Scalable clustering backend: tens of thousands of units, no unit x unit matrix anywhere.

1. Leader pre-grouping on faces: units, most seen first, join the closest "leader" unit within
   LEADER_RADIUS of the cut whose group holds no unit they cannot-link with; otherwise they lead a new
   group. A group's members all lie within the radius of one unit, far tighter than a person: a group
   too many only costs time (step 2 merges it exactly). Clothing cannot move units this close apart
   (fusion only pulls), so the pre-grouping is the same with or without it.
2. Exact constrained average linkage over the groups (grouping.linkage): face distances from vector
   sums, clothing's pull as sparse corrections between groups whose faces are between PULL_FROM and the
   veto (computed from the groups' average face and clothing distances).
3. A person of one unit seen in fewer than min_person_detections sampled frames is noise (-1).
Unlike the dense backend there is no HDBSCAN density step (the O(U^2)-ish part); on separated identities
both agree (tests/test_grouping.py, scripts/bench_cluster_scale.py). clothing_window_s is not applied here.
"""

from __future__ import annotations

import numpy as np

from .base import ClusteringBackend, GroupingOptions
from .linkage import BLOCK_BYTES, close_pairs, sums_average_linkage
from .units import Units

LEADER_RADIUS = 0.6  # of the cut: smaller = more, tighter groups (safer, slower)
# clothing's pull is kept only between groups at least this far apart by face (x the cut), where it can
# decide a merge: closer ones merge on their faces anyway, and one person seen in thousands of units would
# give millions of pairs
PULL_FROM = 1.0


def leader_groups(emb: np.ndarray, order: np.ndarray, radius: float, partners: list[set], group: np.ndarray,
                  first_id: int = 0) -> int:
    """Step 1 for the items `order` (most important first) of unit vectors `emb`: writes group ids (from
    first_id) into `group` and returns the next free id. `partners[i]`: items i must not share a group with."""
    cut = 1.0 - radius  # cosine similarity a member needs to its leader
    leaders = np.zeros((min(len(order), 256), emb.shape[1]), np.float32)
    n_lead = 0
    batch = int(max(64, min(2048, BLOCK_BYTES // (4 * max(len(order), 1)))))
    for start in range(0, len(order), batch):
        idx = order[start:start + batch]
        x = emb[idx]
        n0 = n_lead
        sims = x @ leaders[:n0].T if n0 else np.zeros((len(idx), 0), np.float32)
        best = sims.argmax(1) if n0 else np.zeros(len(idx), np.int64)
        ok = (sims[np.arange(len(idx)), best] >= cut) if n0 else np.zeros(len(idx), bool)
        easy = ok & np.array([not partners[t] for t in idx.tolist()], bool)
        group[idx[easy]] = first_id + best[easy]
        for k in np.flatnonzero(~easy).tolist():
            t = int(idx[k])
            forbidden = {int(group[p]) - first_id for p in partners[t] if group[p] >= 0}
            if ok[k] and int(best[k]) not in forbidden:  # as for the easy ones: the best earlier leader
                group[t] = first_id + int(best[k])
                continue
            row = sims[k]
            if n_lead > n0:
                row = np.concatenate([row, x[k] @ leaders[n0:n_lead].T])
            cand = np.flatnonzero(row >= cut)
            chosen = next((c for c in cand[np.argsort(-row[cand], kind="stable")].tolist() if c not in forbidden), -1)
            if chosen < 0:
                if n_lead == len(leaders):
                    leaders = np.concatenate([leaders, np.zeros_like(leaders)])
                leaders[n_lead] = x[k]
                chosen, n_lead = n_lead, n_lead + 1
            group[t] = first_id + chosen
    return first_id + n_lead


def clothing_corrections(units: Units, face_units: np.ndarray, group: np.ndarray, sums: np.ndarray,
                         counts: np.ndarray, options: GroupingOptions) -> dict[tuple[int, int], float]:
    """Clothing's pull between leader groups, as sparse corrections for the exact linkage: for each pair
    of groups whose average face distance is under the veto, (fused - face) of the groups' average face
    and clothing distances, times their number of unit pairs. Working on groups (tight, by construction)
    rather than unit pairs keeps this near-linear: one person seen in thousands of units is a few hundred
    groups, not millions of unit pairs."""
    fusion = options.fusion
    if units.clothing_sum is None or not fusion.weight:
        return {}
    g = len(sums)
    dressed = units.has_clothing[face_units]
    c_sum = np.zeros((g, units.clothing_sum.shape[1]))
    np.add.at(c_sum, group[dressed], units.clothing_mean(face_units[dressed]))
    c_n = np.bincount(group[dressed], minlength=g).astype(np.float64)
    means = sums / np.maximum(counts, 1)[:, None]
    a, b, d = close_pairs(means, fusion.veto * fusion.face_cut)
    ok = (c_n[a] > 0) & (c_n[b] > 0) & (d >= PULL_FROM * fusion.face_cut)
    a, b, d = a[ok], b[ok], d[ok]
    if not len(a):
        return {}
    cm = c_sum / np.maximum(c_n, 1)[:, None]
    zc = fusion.clothing(1.0 - np.einsum("ij,ij->i", cm[a], cm[b]))
    zf = fusion.face(d)
    change = (fusion.fuse(zf, zc) - zf) * counts[a] * counts[b]
    use = change < 0
    return dict(zip(zip(a[use].tolist(), b[use].tolist()), change[use].tolist()))


class ScalableBackend(ClusteringBackend):
    NAME = "scalable"

    def cluster(self, units: Units, face_units: np.ndarray, cannot: list[set], options: GroupingOptions):
        fusion = options.fusion
        n = len(face_units)
        local = np.full(units.n, -1, np.int64)
        local[face_units] = np.arange(n)
        partners = [{int(local[v]) for v in cannot[u] if local[v] >= 0} for u in face_units.tolist()]
        fm = units.face_mean(face_units)
        emb = (fm / np.maximum(np.linalg.norm(fm, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        sizes = units.appearances[face_units]
        group = np.full(n, -1, np.int64)
        g = leader_groups(emb, np.lexsort((np.arange(n), -sizes)), LEADER_RADIUS * fusion.face_cut, partners, group)
        sums = np.zeros((g, fm.shape[1]))
        np.add.at(sums, group, fm)
        counts = np.bincount(group, minlength=g)
        group_cl: list[set] = [set() for _ in range(g)]
        for i, ps in enumerate(partners):
            for p in ps:
                group_cl[group[i]].add(int(group[p]))
        delta = clothing_corrections(units, face_units, group, sums, counts, options)
        merged = sums_average_linkage(sums, counts, fusion.face_cut, group_cl, 1.0, delta)[group]
        first = {}
        for t, m in enumerate(merged.tolist()):
            first.setdefault(m, t)
        members = np.bincount(merged, minlength=g)
        seen = np.bincount(merged, weights=sizes, minlength=g)
        person = np.full(g, -1, np.int64)
        next_label = 0
        for m in sorted(first, key=first.get):
            if members[m] > 1 or seen[m] >= options.min_person_detections:
                person[m] = next_label
                next_label += 1
        return person[merged]
