"""Inner-product search over the library's unit-length face prototypes.

Measured at 100k stored faces, one query, one thread (scripts/bench_archive.py index/search, load ~2-3 on
the shared 2-core machine): a flat numpy scan takes ~3 ms at 128-d (MobileFaceNet, SFace, dlib) but ~18 ms
(p95 26) at 512-d (EdgeFace), the bytes of the matrix being the cost; faiss's 8-bit scalar quantizer scans
a quarter of them (~8-11 ms at 512-d; its codes add a quarter of the vectors' memory) and its candidates are
re-ranked with the float vectors, so the similarities that decide a name stay exact. HNSW answers in
under 1 ms but took 18-50 s to build 100k faces in memory (every batch task opens the library) and is
approximate (recall@10 0.96-0.98); sqlite-vec's scan took 26-99 ms and needs a Python whose sqlite3 can load extensions.
faiss comes with the optional `library` extra; without it numpy scans the float vectors (exact, slower at
512-d; the best person agreed on 199 of 200 queries at 100k faces).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


class NumpyIndex:
    NAME = "numpy"

    def __init__(self, dim: int):
        self.dim = dim
        self.vectors = np.zeros((0, dim), np.float32)

    def __len__(self) -> int:
        return len(self.vectors)

    def add(self, vectors: np.ndarray) -> None:
        self.vectors = np.concatenate([self.vectors, np.asarray(vectors, np.float32).reshape(-1, self.dim)])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(Q, k) similarities (descending) and row numbers of the k closest stored vectors (-1 past the end)."""
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        n = len(self.vectors)
        k_eff = min(k, n)
        sims = np.full((len(q), k), -np.inf, np.float32)
        rows = np.full((len(q), k), -1, np.int64)
        if not k_eff or not len(q):
            return sims, rows
        scores = q @ self.vectors.T
        top = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff] if k_eff < n else \
            np.tile(np.arange(n), (len(q), 1))
        part = np.take_along_axis(scores, top, 1)
        order = np.argsort(-part, axis=1, kind="stable")
        sims[:, :k_eff] = np.take_along_axis(part, order, 1)
        rows[:, :k_eff] = np.take_along_axis(top, order, 1)
        return sims, rows


class FaissIndex:
    """faiss 8-bit scalar quantizer (a quarter of the float bytes scanned per query), then the candidates
    re-ranked with the float vectors, so every similarity returned is exact."""

    NAME = "faiss-sq8"

    def __init__(self, dim: int):
        import faiss

        self.faiss = faiss
        self.dim = dim
        self.vectors = np.zeros((0, dim), np.float32)
        self.index = None

    def __len__(self) -> int:
        return len(self.vectors)

    def add(self, vectors: np.ndarray) -> None:
        v = np.ascontiguousarray(np.asarray(vectors, np.float32).reshape(-1, self.dim))
        self.vectors = v if not len(self.vectors) else np.concatenate([self.vectors, v])
        faiss = self.faiss
        self.index = faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        if len(self.vectors):  # the quantizer's ranges come from all vectors: rebuilt on every add
            self.index.train(self.vectors)
            self.index.add(self.vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(np.asarray(queries, np.float32).reshape(-1, self.dim))
        sims = np.full((len(q), k), -np.inf, np.float32)
        rows = np.full((len(q), k), -1, np.int64)
        if not len(q) or not len(self):
            return sims, rows
        depth = min(len(self), max(k + 32, 4 * k))
        _, found = self.index.search(q, depth)
        exact = np.einsum("qd,qkd->qk", q, self.vectors[np.maximum(found, 0)])
        exact = np.where(found < 0, -np.inf, exact)
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        n = order.shape[1]
        sims[:, :n] = np.take_along_axis(exact, order, 1)
        rows[:, :n] = np.where(np.isfinite(sims[:, :n]), np.take_along_axis(found, order, 1), -1)
        return sims, rows


INDEXES = {"faiss": FaissIndex, "numpy": NumpyIndex}
_said = False


def make_index(dim: int, kind: str = "auto"):
    """A flat index: faiss when importable ("auto"), else numpy."""
    global _said
    if kind == "auto":
        try:
            import faiss  # noqa: F401

            kind = "faiss"
        except ImportError:
            if not _said:
                log.info("faiss is not installed; the people library searches with numpy (exact; pip install "
                         "'facecluster[library]' for faster search of large 512-d libraries)")
                _said = True
            kind = "numpy"
    if kind not in INDEXES:
        from ..errors import unknown_name

        raise unknown_name("library index", kind, list(INDEXES) + ["auto"])
    return INDEXES[kind](dim)
