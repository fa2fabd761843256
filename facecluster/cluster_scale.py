"""Track clustering for many tracks (T in the tens of thousands): no T x T matrix anywhere.

Why: cluster.cluster_tracks holds several dense T x T matrices (distances, cannot-link, the group
membership products) and runs HDBSCAN, so memory grows as T^2 and time faster (measured on 128-d tracks:
0.6 GB / 13 s at 5k, 1.9 GB / 37 s at 10k; 20k would need ~12 GB; scripts/bench_cluster_scale.py).
This path keeps memory O(T * D + pairs) and gives the same kind of answer:

1. Leader pre-grouping: tracks, largest first, join the closest "leader" track within LEADER_RADIUS x
   the same-person distance (cosine) whose group holds no track they cannot-link with; otherwise they
   lead a new group. Similarities come from numpy matrix products in batches. A group's members all
   lie within the radius of one track, so a group is far tighter than a person; a group too many only
   costs time (step 2 merges it exactly), a wrong member would cost quality, hence the small radius.
2. Exact constrained average linkage over the groups. For unit vectors the mean cosine distance over
   all track pairs of two groups is 1 - (S_a / n_a) . (S_b / n_b) with S the sum of the groups' vectors,
   so group distances are exact from G sums and never need a matrix. Every pair of groups under the
   threshold is found once by blocked products; after a merge only the union of the two groups'
   under-threshold neighbours can be under it (an average-linkage distance to a union is a weighted
   mean of the distances to its parts), so the neighbour lists stay complete and the result is the
   same as dense constrained average linkage over those groups, at the same threshold.
3. Labels as in cluster_tracks: persons 0..P-1 in order of their first track; a person made of one
   track with fewer than min_person_detections detections is noise (-1).

Unlike the dense path there is no HDBSCAN density step (it is the O(T^2)-ish part); on well-separated
identities both paths agree (tests/test_cluster_scale.py, scripts/bench_cluster_scale.py).
"""

from __future__ import annotations

import heapq
import logging

import numpy as np

log = logging.getLogger("facecluster")

# leader radius as a fraction of the same-person distance: smaller = more, tighter groups (safer, slower)
LEADER_RADIUS = 0.6
BLOCK_BYTES = 64 << 20  # size of one block of the similarity products


def cannot_link_pairs(cannot_link, n: int) -> np.ndarray:
    """(K, 2) int64 index pairs from a list of pairs or a dense (n, n) bool matrix."""
    c = np.asarray(cannot_link)
    if c.dtype == bool and c.shape == (n, n) and n != 2:
        c = np.argwhere(np.triu(c | c.T, 1))
    c = c.reshape(-1, 2).astype(np.int64)
    if len(c) and (c.min() < 0 or c.max() >= n):
        raise ValueError(f"cannot-link pairs must index the {n} tracks")
    return c[c[:, 0] != c[:, 1]]


def _partners(pairs: np.ndarray, n: int) -> list[np.ndarray]:
    both = np.concatenate([pairs, pairs[:, ::-1]]) if len(pairs) else np.zeros((0, 2), np.int64)
    both = both[np.lexsort((both[:, 1], both[:, 0]))]
    bounds = np.searchsorted(both[:, 0], np.arange(n + 1))
    return [both[bounds[i]:bounds[i + 1], 1] for i in range(n)]


def leader_groups(emb: np.ndarray, order: np.ndarray, radius: float, partners: list[np.ndarray],
                  group: np.ndarray, first_id: int) -> int:
    """Step 1 for the tracks `order` (largest first): writes their group ids (from first_id) into
    `group` and returns the next free id."""
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
        easy = ok & np.array([len(partners[t]) == 0 for t in idx.tolist()], bool)
        group[idx[easy]] = first_id + best[easy]
        for k in np.flatnonzero(~easy):
            t = idx[k]
            forbidden = set((group[partners[t]] - first_id).tolist())
            row = sims[k]
            if n_lead > n0:
                row = np.concatenate([row, x[k] @ leaders[n0:n_lead].T])
            cand = np.flatnonzero(row >= cut)
            chosen = -1
            for c in cand[np.argsort(-row[cand], kind="stable")].tolist():
                if c not in forbidden:
                    chosen = c
                    break
            if chosen < 0:
                if n_lead == len(leaders):
                    leaders = np.concatenate([leaders, np.zeros_like(leaders)])
                leaders[n_lead] = x[k]
                chosen, n_lead = n_lead, n_lead + 1
            group[t] = first_id + chosen
    return first_id + n_lead


def _close_pairs(means: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All group pairs a < b with 1 - means[a] . means[b] < threshold: blocked float32 products screen
    (with a margin), float64 products of the survivors decide."""
    g = len(means)
    m32 = means.astype(np.float32)
    rows = int(max(16, BLOCK_BYTES // (4 * max(g, 1))))
    out_a, out_b, out_d = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for s in range(0, g, rows):
        sim = m32[s:s + rows] @ m32[s:].T  # only columns >= s: each pair once
        a, b = np.nonzero(sim > 1.0 - threshold - 1e-4)
        a, b = a[b > a] + s, b[b > a] + s
        d = np.concatenate([1.0 - np.einsum("ij,ij->i", means[a[c:c + 32768]], means[b[c:c + 32768]])
                            for c in range(0, len(a), 32768)] or [np.zeros(0)])
        out_a.append(a[d < threshold])
        out_b.append(b[d < threshold])
        out_d.append(d[d < threshold])
    return np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_d)


def average_linkage_groups(sums: np.ndarray, counts: np.ndarray, group_cl: list[set], threshold: float) -> np.ndarray:
    """Exact constrained average linkage over groups given by vector sums: step 2. Returns a merged
    label per group (index of the surviving group).

    The heap holds about one entry per group, its nearest allowed neighbour (a lower bound once that
    neighbour has changed; such entries are recomputed when popped), not one per close pair: with
    hundreds of close pairs per group a pair heap spends most of its time in heappop."""
    g = len(sums)
    sums, counts = np.array(sums, np.float64), np.asarray(counts, np.float64).copy()
    means = sums / counts[:, None]
    a, b, d = _close_pairs(means, threshold)
    ok = np.array([j not in group_cl[i] for i, j in zip(a.tolist(), b.tolist())], bool).reshape(-1)
    a, b, d = a[ok], b[ok], d[ok]
    nb: list[set] = [set() for _ in range(g)]
    for i, j in zip(a.tolist(), b.tolist()):
        nb[i].add(j)
        nb[j].add(i)
    alive = np.ones(g, bool)
    version = np.zeros(g, np.int64)
    best = np.full(g, np.inf)  # distance of each group's latest heap entry
    src, dst, dd = np.r_[a, b], np.r_[b, a], np.r_[d, d]
    first = np.lexsort((dd, src))
    first = first[np.r_[True, src[first][1:] != src[first][:-1]]] if len(first) else first
    heap = [(float(dd[e]), int(src[e]), int(dst[e]), 0, 0) for e in first]
    best[src[first]] = dd[first]
    heapq.heapify(heap)
    parent = np.arange(g)
    cl = [set(x) for x in group_cl]

    def push_nearest(k: int) -> None:
        best[k] = np.inf
        if nb[k]:
            ks = np.fromiter(nb[k], np.int64, len(nb[k]))
            dk = 1.0 - means[ks] @ means[k]
            m = int(dk.argmin())
            best[k] = dk[m]
            heapq.heappush(heap, (float(dk[m]), k, int(ks[m]), int(version[ks[m]]), int(version[k])))

    while heap:
        _, i, j, vj, vi = heapq.heappop(heap)
        if not alive[i] or version[i] != vi:
            continue  # i changed since: its newer entry is in the heap
        if not alive[j] or version[j] != vj or j in cl[i]:
            push_nearest(i)  # stale neighbour: find i's current nearest
            continue
        if len(nb[j]) > len(nb[i]):
            i, j = j, i  # keep the group with more neighbours: fewer set updates
        sums[i] += sums[j]
        counts[i] += counts[j]
        means[i] = sums[i] / counts[i]
        alive[j], parent[j] = False, i
        version[i] += 1
        for k in cl[j]:
            cl[k].discard(j)
            cl[k].add(i)
        cl[i] |= cl[j]
        cand = (nb[i] | nb[j]) - {i, j}
        for k in nb[j]:
            nb[k].discard(j)
        nb[j] = set()
        blocked = cand & cl[i]
        for k in blocked:
            nb[k].discard(i)
        ks = np.fromiter(cand - blocked, np.int64)
        dk = 1.0 - means[ks] @ means[i] if len(ks) else np.zeros(0)
        close = dk < threshold
        for k in ks[~close].tolist():
            nb[k].discard(i)
        nb[i] = set(ks[close].tolist())
        for k, dist in zip(ks[close].tolist(), dk[close].tolist()):
            nb[k].add(i)
            if dist < best[k]:  # the merged group is k's new nearest
                best[k] = dist
                heapq.heappush(heap, (dist, k, i, int(version[i]), int(version[k])))
        push_nearest(i)
    while True:  # path compression: every group points at its surviving root
        up = parent[parent]
        if np.array_equal(up, parent):
            return parent
        parent = up


def cluster_tracks_scalable(embeddings: np.ndarray, cannot_link, threshold: float, track_sizes: np.ndarray,
                            min_cluster_size: int = 2, min_samples: int = 1, min_person_detections: int = 2,
                            distance_vectors: np.ndarray | None = None,
                            leader_radius: float = LEADER_RADIUS) -> np.ndarray:
    """Person label per track (0..P-1 by first track) or -1 for noise, like cluster.cluster_tracks.

    embeddings: (T, D) unit vectors; cannot_link: (K, 2) track index pairs (a dense (T, T) bool matrix
    is accepted too); threshold: same-person cosine distance; track_sizes: detections per track;
    distance_vectors: optional (T, D) vectors whose 1 - a.b is the track distance (e.g. the unnormalised
    mean detection embeddings, as pipeline.assign_people uses), default the embeddings.
    min_cluster_size / min_samples are accepted for signature compatibility (no HDBSCAN step here).
    """
    emb = np.asarray(embeddings, np.float32)
    n = len(emb)
    if n == 0:
        return np.zeros(0, np.int64)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    vec = emb if distance_vectors is None else np.asarray(distance_vectors, np.float32)
    sizes = np.asarray(track_sizes, np.int64)
    pairs = cannot_link_pairs(cannot_link, n)
    partners = _partners(pairs, n)
    group = np.full(n, -1, np.int64)
    g = leader_groups(emb, np.lexsort((np.arange(n), -sizes)), leader_radius * threshold, partners, group, 0)
    sums = np.zeros((g, vec.shape[1]), np.float64)
    np.add.at(sums, group, vec.astype(np.float64))
    counts = np.bincount(group, minlength=g)
    group_cl: list[set] = [set() for _ in range(g)]
    for a, b in zip(group[pairs[:, 0]].tolist(), group[pairs[:, 1]].tolist()):
        group_cl[a].add(b)
        group_cl[b].add(a)
    merged = average_linkage_groups(sums, counts, group_cl, threshold)[group]
    first = {}
    for t, m in enumerate(merged.tolist()):
        first.setdefault(m, t)
    person = np.full(g, -1, np.int64)
    members = np.bincount(merged, minlength=g)
    detections = np.bincount(merged, weights=sizes, minlength=g)
    next_label = 0
    for m in sorted(first, key=first.get):
        if members[m] > 1 or detections[m] >= min_person_detections:
            person[m] = next_label
            next_label += 1
    labels = person[merged]
    log.debug("scalable clustering: %d tracks, %d leader groups, %d people, %d noise tracks",
              n, g, next_label, int((labels < 0).sum()))
    return labels
