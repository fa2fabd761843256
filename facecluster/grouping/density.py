"""HDBSCAN (Campello, Moulavi & Sander 2013) for what grouping asks of it: euclidean distance between unit
vectors, excess-of-mass cluster selection, no single cluster, labels only.

The steps and their tie rules follow the hdbscan package's path for vectors of more than 60 dimensions
(core distances, Prim's minimum spanning tree of mutual reachability, single linkage, condensed tree,
stability, EOM), so the labels are the package's (tests/test_density.py compares them on random vectors
with ties). It lives here because importing the package (scikit-learn, scipy.stats) took 1-2 s holding the
GIL in every run and every `recluster`, more than the clustering itself.
"""

from __future__ import annotations

import numpy as np

_BLOCK = 512  # rows symmetrised or partitioned at once
_SAME = 1e-12  # squared distances below this are rounding between identical vectors


def hdbscan_labels(vectors: np.ndarray, min_cluster_size: int, min_samples: int) -> np.ndarray:
    """Cluster label per row (0..K-1 in order of the condensed tree's cluster ids), -1 for noise."""
    x = np.ascontiguousarray(vectors, np.float64)
    n = len(x)
    if min_cluster_size < 2 or min_samples < 1:
        raise ValueError("min_cluster_size must be at least 2 and min_samples at least 1")
    if n < 2:
        return np.full(n, -1, np.int64)
    k = min(n - 1, min_samples)  # as the package: at most every other point
    dist = _distance_matrix(x)
    core = np.empty(n)
    for start in range(0, n, _BLOCK):
        core[start:start + _BLOCK] = np.partition(dist[start:start + _BLOCK], k, axis=1)[:, k]
    edges = _spanning_tree(dist, core)
    del dist
    edges = edges[np.argsort(edges[:, 2])]
    tree = _condense(_single_linkage(edges), min_cluster_size)
    return _labels(tree, n)


def _distance_matrix(x: np.ndarray) -> np.ndarray:
    """(n, n) euclidean distances, exactly symmetric, 0 on the diagonal and between identical vectors.
    One matrix serves the core distances and the spanning tree: the ties HDBSCAN's rules resolve (a core
    distance is one of the point's distances) stay exact ties, as in the package."""
    n = len(x)
    d = x @ x.T
    squares = d.diagonal().copy()
    for start in range(0, n, _BLOCK):
        rows = slice(start, min(start + _BLOCK, n))
        block = d[rows, rows]
        d[rows, rows] = np.triu(block) + np.triu(block, 1).T
        d[rows.stop:, rows] = d[rows, rows.stop:].T  # the lower triangle mirrors the upper one
        d[rows] *= -2.0
        d[rows] += squares[rows, None] + squares[None, :]  # (s_i + s_j) first: symmetric
    d[d < _SAME] = 0.0
    np.fill_diagonal(d, 0.0)
    return np.sqrt(d, out=d)


def _spanning_tree(dist: np.ndarray, core: np.ndarray) -> np.ndarray:
    """(n-1, 3) edges (from, to, mutual reachability) in the order Prim's method adds them from point 0;
    a candidate distance is replaced only by a strictly smaller one, the first of equal candidates wins."""
    n = len(dist)
    best = np.full(n, np.inf)
    source = np.zeros(n, np.int64)
    outside = np.ones(n, bool)
    edges = np.empty((n - 1, 3))
    current = 0
    for i in range(n - 1):
        outside[current] = False
        reach = np.maximum(np.maximum(dist[current], core), core[current])
        better = outside & (reach < best)
        best[better] = reach[better]
        source[better] = current
        nxt = int(np.argmin(np.where(outside, best, np.inf)))
        edges[i] = (source[nxt], nxt, best[nxt])
        current = nxt
    return edges


def _single_linkage(edges: np.ndarray) -> np.ndarray:
    """scipy-style linkage (a, b, height, size) from edges sorted by height; merged clusters get ids n, n+1..."""
    n = len(edges) + 1
    parent = np.arange(2 * n - 1)
    size = np.ones(2 * n - 1, np.int64)
    out = np.empty((n - 1, 4))

    def find(a: int) -> int:
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return root

    for i, (a, b, h) in enumerate(edges.tolist()):
        ra, rb = find(int(a)), find(int(b))
        out[i] = (ra, rb, h, size[ra] + size[rb])
        parent[ra] = parent[rb] = n + i
        size[n + i] = size[ra] + size[rb]
    return out


def _below(linkage: np.ndarray, node: int, n: int) -> list[int]:
    """Breadth-first: the node and every node under it."""
    out, level = [], [node]
    while level:
        out.extend(level)
        level = [int(c) for m in level if m >= n for c in linkage[m - n, :2]]
    return out


def _condense(linkage: np.ndarray, min_size: int) -> list[tuple[int, int, float, int]]:
    """Condensed tree rows (parent cluster, child cluster or point, lambda = 1 / height, child size): a split
    with both sides of min_size or more makes two clusters, smaller sides fall out as points."""
    n = len(linkage) + 1
    root = 2 * n - 2
    relabel = {root: n}
    next_label = n + 1
    done = np.zeros(2 * n - 1, bool)
    rows: list[tuple[int, int, float, int]] = []

    def count(c: int) -> int:
        return int(linkage[c - n, 3]) if c >= n else 1

    def fall_out(parent: int, side: int, lam: float) -> None:
        for m in _below(linkage, side, n):
            if m < n:
                rows.append((parent, m, lam, 1))
            done[m] = True

    for node in _below(linkage, root, n):
        if done[node] or node < n:
            continue
        left, right, height = int(linkage[node - n, 0]), int(linkage[node - n, 1]), linkage[node - n, 2]
        lam = 1.0 / height if height > 0.0 else np.inf
        here = relabel[node]
        big_left, big_right = count(left) >= min_size, count(right) >= min_size
        if big_left and big_right:
            for side in (left, right):
                relabel[side] = next_label
                rows.append((here, next_label, lam, count(side)))
                next_label += 1
        elif not big_left and not big_right:
            fall_out(here, left, lam)
            fall_out(here, right, lam)
        elif not big_left:
            relabel[right] = here
            fall_out(here, left, lam)
        else:
            relabel[left] = here
            fall_out(here, right, lam)
    return rows


def _stability(rows, root: int, last: int) -> np.ndarray:
    """Excess of mass per cluster id root..last: sum over its rows of (lambda - its birth lambda) x size,
    added in row order."""
    birth = {root: 0.0}
    for _, child, lam, _ in rows:
        if child >= root:
            birth[child] = min(birth.get(child, np.inf), lam)
    out = np.zeros(last - root + 1)
    for parent, _, lam, size in rows:
        out[parent - root] += (lam - birth[parent]) * size
    return out


def _labels(rows, n: int) -> np.ndarray:
    labels = np.full(n, -1, np.int64)
    if not rows:
        return labels
    root = n
    last = max(r[0] for r in rows)
    stability = _stability(rows, root, last).tolist()
    children: dict[int, list[int]] = {}
    parent_of: dict[int, int] = {}
    for parent, child, _, size in rows:
        parent_of[child] = parent
        if size > 1:
            children.setdefault(parent, []).append(child)
    chosen = {c: True for c in range(last, root, -1)}
    for node in range(last, root, -1):  # children have larger ids: bottom-up
        # the package sums the children's stability in single precision
        subtree = np.float32(0.0)
        for c in children.get(node, []):
            subtree = np.float32(float(subtree) + stability[c - root])
        if float(subtree) > stability[node - root]:
            chosen[node] = False
            stability[node - root] = float(subtree)
        else:
            for below in _cluster_descendants(children, node):
                chosen[below] = False
    clusters = sorted(c for c, keep in chosen.items() if keep)
    number = {c: i for i, c in enumerate(clusters)}
    for point in range(n):
        c = parent_of[point]
        while c not in number and c != root:
            c = parent_of[c]
        labels[point] = number.get(c, -1)
    return labels


def _cluster_descendants(children: dict[int, list[int]], node: int) -> list[int]:
    out, level = [], list(children.get(node, []))
    while level:
        out.extend(level)
        level = [c for m in level for c in children.get(m, [])]
    return out
