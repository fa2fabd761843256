"""Constrained average linkage, two ways: on a dense distance matrix (small problems), and exactly from
vector sums plus sparse corrections (large problems, no item x item matrix).

Why sums are exact: for vectors a, b the relative distance of two items is (1 - a.b) / cut, so the mean
over all item pairs of two groups is (n_i n_k - S_i.S_k) / (cut n_i n_k) with S the groups' vector sums.
Fusion (clothing pulling two faces closer) only lowers some pairs' distances; those pairs' differences are
kept as sparse corrections (delta) that add up when groups merge, so group distances stay exact. After a
merge only the union of the two groups' under-threshold neighbours can be under the threshold (an
average-linkage distance to a union is a weighted mean of the distances to its parts), so neighbour sets
stay complete.
"""

from __future__ import annotations

import heapq

import numpy as np

BLOCK_BYTES = 64 << 20  # size of one block of the similarity products


def constrained_average_linkage(dist: np.ndarray, cannot: np.ndarray, threshold: float,
                                sizes: np.ndarray | None = None) -> np.ndarray:
    """Agglomerate items (closest pair first, average linkage) while the distance is < threshold and the
    two groups hold no cannot-link pair. Dense (n, n) inputs. Returns a group label per item (0..G-1)."""
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
    heap = [(d[i, j], i, j, 0, 0) for i, j in zip(iu[ok].tolist(), ju[ok].tolist())]
    heapq.heapify(heap)
    while heap:
        _, i, j, vi, vj = heapq.heappop(heap)
        if not (alive[i] and alive[j]) or version[i] != vi or version[j] != vj or c[i, j]:
            continue
        d[i] = (size[i] * d[i] + size[j] * d[j]) / (size[i] + size[j])  # Lance-Williams, average linkage
        d[:, i] = d[i]
        c[i] |= c[j]
        c[:, i] = c[i]
        size[i] += size[j]
        alive[j] = False
        version[i] += 1
        members[i] += members[j]
        others = np.flatnonzero(alive & (d[i] < threshold) & ~c[i])
        for k in others[others != i].tolist():
            a, b = (i, k) if i < k else (k, i)
            heapq.heappush(heap, (d[i, k], a, b, version[a], version[b]))
    labels = np.empty(n, np.int64)
    for g, i in enumerate(np.flatnonzero(alive)):
        labels[members[i]] = g
    return labels


def close_pairs(means: np.ndarray, max_cosine_distance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs a < b with 1 - means[a].means[b] < max_cosine_distance: blocked float32 products screen
    (with a margin), float64 products of the survivors decide. Returns (a, b, cosine distance)."""
    g = len(means)
    m32 = means.astype(np.float32)
    rows = int(max(16, BLOCK_BYTES // (4 * max(g, 1))))
    out_a, out_b, out_d = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for s in range(0, g, rows):
        sim = m32[s:s + rows] @ m32[s:].T  # only columns >= s: each pair once
        a, b = np.nonzero(sim > 1.0 - max_cosine_distance - 1e-4)
        a, b = a[b > a] + s, b[b > a] + s
        d = np.concatenate([1.0 - np.einsum("ij,ij->i", means[a[c:c + 32768]], means[b[c:c + 32768]])
                            for c in range(0, len(a), 32768)] or [np.zeros(0)])
        keep = d < max_cosine_distance
        out_a.append(a[keep])
        out_b.append(b[keep])
        out_d.append(d[keep])
    return np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_d)


def sums_average_linkage(sums: np.ndarray, counts: np.ndarray, cut: float, cannot: list[set],
                         threshold: float = 1.0, delta: dict[tuple[int, int], float] | None = None) -> np.ndarray:
    """Exact constrained average linkage over groups given by vector sums (see module doc).

    sums (G, D) / counts (G,): each group's sum of item vectors and number of items; cut: the cosine
    distance that is relative distance 1; cannot: per group, the groups it must never join; delta: sparse
    corrections {(a, b): summed (fused - plain) relative distance over item pairs of a and b}.
    Returns, per group, the index of the group it ended in (a root)."""
    g = len(sums)
    sums, counts = np.array(sums, np.float64), np.asarray(counts, np.float64).copy()
    means = sums / np.maximum(counts, 1e-12)[:, None]
    corr: list[dict[int, float]] = [dict() for _ in range(g)]
    for (a, b), v in (delta or {}).items():
        if a != b:
            corr[a][b] = corr[a].get(b, 0.0) + v
            corr[b][a] = corr[b].get(a, 0.0) + v

    def dist(k: int, others: np.ndarray) -> np.ndarray:
        if not len(others):
            return np.zeros(0)
        nn = counts[others] * counts[k]
        plain = (nn - sums[others] @ sums[k]) / cut
        if corr[k]:
            keys = np.fromiter(corr[k].keys(), np.int64, len(corr[k]))
            values = np.fromiter(corr[k].values(), np.float64, len(corr[k]))
            order = np.argsort(keys)
            keys, values = keys[order], values[order]
            pos = np.minimum(np.searchsorted(keys, others), len(keys) - 1)
            hit = keys[pos] == others
            plain[hit] += values[pos[hit]]
        return plain / nn

    a, b, _ = close_pairs(means, cut * threshold)
    extra = [(i, j) for i in range(g) for j in corr[i] if i < j]
    if extra:
        ea, eb = np.array(extra, np.int64).T
        a, b = np.r_[a, ea], np.r_[b, eb]
    nb: list[set] = [set() for _ in range(g)]
    cl = [set(x) for x in cannot]
    for i, j in zip(a.tolist(), b.tolist()):
        if j not in cl[i]:
            nb[i].add(j)
            nb[j].add(i)
    alive = np.ones(g, bool)
    version = np.zeros(g, np.int64)
    best = np.full(g, np.inf)  # distance of each group's latest heap entry
    parent = np.arange(g)
    heap: list = []

    def push_nearest(k: int) -> None:
        best[k] = np.inf
        if nb[k]:
            ks = np.fromiter(nb[k], np.int64, len(nb[k]))
            dk = dist(k, ks)
            m = int(dk.argmin())
            if dk[m] < threshold:
                best[k] = dk[m]
                heapq.heappush(heap, (float(dk[m]), k, int(ks[m]), int(version[ks[m]]), int(version[k])))

    for k in range(g):
        push_nearest(k)
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
        for k, v in corr[j].items():
            if k != i:
                corr[i][k] = corr[i].get(k, 0.0) + v
                corr[k][i] = corr[i][k]
            corr[k].pop(j, None)
        corr[i].pop(j, None)
        corr[j] = {}
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
        dk = dist(i, ks)
        close = dk < threshold
        for k in ks[~close].tolist():
            nb[k].discard(i)
        nb[i] = set(ks[close].tolist())
        for k, d in zip(ks[close].tolist(), dk[close].tolist()):
            nb[k].add(i)
            if d < best[k]:  # the merged group is k's new nearest
                best[k] = d
                heapq.heappush(heap, (d, k, i, int(version[i]), int(version[k])))
        push_nearest(i)
    while True:  # path compression: every group points at its surviving root
        up = parent[parent]
        if np.array_equal(up, parent):
            return parent
        parent = up


def pair_sets(pairs: np.ndarray, n: int) -> list[set]:
    """Cannot-link (K, 2) pairs -> per item, the set of items it must not join."""
    out: list[set] = [set() for _ in range(n)]
    for a, b in np.asarray(pairs, np.int64).reshape(-1, 2).tolist():
        if a != b:
            out[a].add(b)
            out[b].add(a)
    return out
