"""Minimum-cost assignment of rows to columns (the Hungarian method with potentials, shortest augmenting
paths), for the tracker's small matrices (tracks x faces of one frame).

Why not scipy.optimize.linear_sum_assignment: importing scipy.optimize takes 0.6 s and holds the GIL, which
stalled every thread of a run at its first frames (a resumed run paid it again). Same optimum as scipy's
(tests/test_cluster_track.py compares them on random and tied matrices).
"""

from __future__ import annotations

import numpy as np


def min_cost_assignment(cost) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of a minimum-cost matching that assigns every row (or every column, whichever are
    fewer), rows ascending, like scipy.optimize.linear_sum_assignment."""
    cost = np.asarray(cost, np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a 2-D matrix, got shape {cost.shape}")
    transposed = cost.shape[0] > cost.shape[1]
    a = cost.T if transposed else cost
    n, m = a.shape
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not np.isfinite(a).all():
        raise ValueError("cost must be finite")
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, np.int64)  # owner[j]: 1-based row matched to column j (column 0: the row being added)
    way = np.zeros(m + 1, np.int64)
    for row in range(1, n + 1):
        owner[0], j0 = row, 0
        slack = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, bool)
        while True:
            used[j0] = True
            i0 = owner[j0]
            free = np.flatnonzero(~used[1:]) + 1
            reduced = a[i0 - 1, free - 1] - u[i0] - v[free]
            better = reduced < slack[free]
            slack[free[better]] = reduced[better]
            way[free[better]] = j0
            j1 = int(free[np.argmin(slack[free])])
            delta = slack[j1]
            done = np.flatnonzero(used)
            u[owner[done]] += delta
            v[done] -= delta
            slack[free] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    cols = np.flatnonzero(owner[1:])
    rows = owner[1:][cols] - 1
    if transposed:
        rows, cols = cols, rows
    order = np.argsort(rows, kind="stable")
    return rows[order].astype(np.int64), cols[order].astype(np.int64)
