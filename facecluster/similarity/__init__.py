"""Still-image similarity: one comparator interface over hashing, histogram, local-feature, pixel, shape and
learned methods, plus cached, vectorised folder search. Heavy libraries load only when a method is used.

    from facecluster.similarity import create
    create("phash").similarity("a.jpg", "b.jpg")   # Score in [0, 1], with .reason
"""

from .base import METHODS, Comparator, NoEncoding, Score, create

__all__ = ["METHODS", "Comparator", "NoEncoding", "Score", "create"]
