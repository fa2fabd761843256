"""Comparator interface; the methods themselves are registered in facecluster.registry (kind "comparator");
METHODS lists those whose packages are installed (nothing heavy is imported until a comparator is created).

A comparator turns one image into an *encoding* (`encode`) and two encodings into a `Score`, a float in
[0, 1] (1 = same) that may carry a `reason` ("no keypoints in image A"). A method that cannot encode an
image returns `NoEncoding(reason)`; comparing it gives Score(0.0, reason), never an exception.
Comparators whose encodings stack into one array also give a vectorised `compare_many` used by search.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from .. import registry as _registry


class Score(float):
    """A similarity in [0, 1] that can say why it is what it is."""

    def __new__(cls, value: float, reason: str = ""):
        obj = super().__new__(cls, min(1.0, max(0.0, float(value))) if value == value else 0.0)
        obj.reason = reason
        return obj

    def __repr__(self) -> str:
        return f"Score({float(self):.4f}{', ' + repr(self.reason) if self.reason else ''})"


class NoEncoding:
    """Stands for an image a method cannot describe (no keypoints, no face, no foreground...)."""

    def __init__(self, reason: str):
        self.reason = reason

    def __repr__(self) -> str:
        return f"NoEncoding({self.reason!r})"


def missing(enc_a, enc_b) -> Score | None:
    """Score(0, reason) when either encoding is a NoEncoding, else None."""
    for side, enc in (("A", enc_a), ("B", enc_b)):
        if isinstance(enc, NoEncoding):
            return Score(0.0, f"image {side}: {enc.reason}")
    return None


class Comparator(ABC):
    NAME: ClassVar[str] = ""  # the registry name; set by create()
    DESCRIPTION: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1  # bump when encodings change, so caches are rebuilt

    def __init__(self, **options):
        self.options = options

    @abstractmethod
    def encode(self, image) -> Any:
        """An image (path or BGR/gray/RGBA array, see io.as_image) -> encoding or NoEncoding."""

    @abstractmethod
    def compare(self, enc_a, enc_b) -> Score:
        """Two encodings -> Score in [0, 1]."""

    def similarity(self, a, b) -> Score:
        return self.compare(self.encode(a), self.encode(b))

    def cache_key(self) -> str:
        """Identifies the encodings this comparator makes (family, version, model file...); methods whose
        encodings are the same (e.g. the four histogram metrics) share one key and so one search cache."""
        return f"{self.NAME or type(self).__name__}-v{self.VERSION}"

    # search support: stack the encodings of a folder once, then score a query against all of them
    def stack(self, encodings: list) -> Any:
        return list(encodings)

    def compare_many(self, query, stacked) -> np.ndarray:
        """Scores of one query encoding against stacked encodings (default: a loop over compare)."""
        return np.array([float(self.compare(query, e)) for e in stacked], dtype=np.float64)


class BitsComparator(Comparator):
    """Encodings are 1-D boolean bit arrays; score = 1 - Hamming distance / number of bits."""

    def compare(self, enc_a, enc_b) -> Score:
        a, b = np.asarray(enc_a, bool).ravel(), np.asarray(enc_b, bool).ravel()
        return Score(1.0 - np.count_nonzero(a != b) / a.size, f"hamming {np.count_nonzero(a != b)}/{a.size}")

    def stack(self, encodings):
        return np.packbits(np.asarray(encodings, bool).reshape(len(encodings), -1), axis=1)

    def compare_many(self, query, stacked) -> np.ndarray:
        q = np.packbits(np.asarray(query, bool).ravel())
        nbits = np.asarray(query).size
        return 1.0 - popcount(np.bitwise_xor(stacked, q)).sum(axis=1) / nbits


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x) if hasattr(np, "bitwise_count") else _POPCOUNT[x]


class VectorComparator(Comparator):
    """Encodings are L2-normalised float32 vectors; score = cosine clipped to [0, 1] (negative = unrelated)."""

    def compare(self, enc_a, enc_b) -> Score:
        gone = missing(enc_a, enc_b)
        if gone is not None:
            return gone
        cos = float(np.dot(np.asarray(enc_a, np.float32), np.asarray(enc_b, np.float32)))
        return Score(cos, f"cosine {cos:.3f}")

    def stack(self, encodings):
        return np.stack([np.asarray(e, np.float32) for e in encodings]) if encodings else np.zeros((0, 0))

    def compare_many(self, query, stacked) -> np.ndarray:
        return np.clip(stacked @ np.asarray(query, np.float32), 0.0, 1.0).astype(np.float64)


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float32).ravel()
    return v / max(float(np.linalg.norm(v)), 1e-12)


# The comparators are the "comparator" kind of the one backend registry (facecluster.registry): names,
# modules, packages and pip names live there. _ALL / METHODS keep their old shapes for existing callers.
_ALL: dict[str, Any] = dict(_registry.REGISTRY["comparator"])
METHODS: dict[str, Any] = {name: entry for name, entry in _ALL.items() if not _registry.missing_packages(entry)}


def create(name: str, **options) -> Comparator:
    """A comparator by method name; options: models_dir, ae_model, face_detector, face_embedder, ..."""
    return _registry.create("comparator", name, options)
