"""HSV hue-saturation colour histograms (30 hue x 32 saturation bins, value ignored so brightness changes
matter less), L1-normalised (sum 1), compared with one of OpenCV's `compareHist` metrics.

Mapping of each metric to a similarity in [0, 1] (a, b = the two normalised histograms):
- correl: Pearson correlation r in [-1, 1]        -> max(r, 0)   (uncorrelated or anti-correlated = 0)
- chisqr: symmetric chi-square (HISTCMP_CHISQR_ALT) d = 2 * sum (a-b)^2 / (a+b), in [0, 4] -> 1 - d / 4
          (OpenCV's plain HISTCMP_CHISQR is asymmetric and unbounded, so the symmetric variant is used)
- intersect: sum min(a, b), already in [0, 1]     -> as is
- bhattacharyya: Hellinger distance d in [0, 1]    -> 1 - d
`compare_many` evaluates the same formulas with numpy over a stacked folder (checked against compareHist).
"""

from __future__ import annotations

import numpy as np

from .base import Comparator, Score
from .io import as_image

BINS = (30, 32)
METRICS = ("correl", "chisqr", "intersect", "bhattacharyya")


class HistogramComparator(Comparator):
    DESCRIPTION = "HSV hue-saturation histogram"

    def __init__(self, metric: str = "correl", **options):
        super().__init__(**options)
        if metric not in METRICS:
            raise ValueError(metric)
        self.metric = metric

    def cache_key(self) -> str:
        return f"hsv-hist{BINS[0]}x{BINS[1]}-v{self.VERSION}"  # shared by the four metrics

    def encode(self, image) -> np.ndarray:
        import cv2

        hsv = cv2.cvtColor(as_image(image, max_side=512), cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, list(BINS), [0, 180, 0, 256]).astype(np.float32).ravel()
        return hist / max(float(hist.sum()), 1e-12)

    def compare(self, enc_a, enc_b) -> Score:
        import cv2

        flag = {"correl": cv2.HISTCMP_CORREL, "chisqr": cv2.HISTCMP_CHISQR_ALT,
                "intersect": cv2.HISTCMP_INTERSECT, "bhattacharyya": cv2.HISTCMP_BHATTACHARYYA}[self.metric]
        raw = cv2.compareHist(np.float32(enc_a), np.float32(enc_b), flag)
        return Score(self._map(raw), f"{self.metric} {raw:.3f}")

    def _map(self, raw):
        if self.metric == "chisqr":
            return 1.0 - np.asarray(raw) / 4.0
        if self.metric == "bhattacharyya":
            return 1.0 - np.asarray(raw)
        return np.asarray(raw)

    def stack(self, encodings):
        return np.stack(encodings).astype(np.float64) if encodings else np.zeros((0, BINS[0] * BINS[1]))

    def compare_many(self, query, stacked) -> np.ndarray:
        q, h = np.asarray(query, np.float64), stacked
        if self.metric == "correl":
            qc, hc = q - q.mean(), h - h.mean(axis=1, keepdims=True)
            den = np.sqrt((qc ** 2).sum() * (hc ** 2).sum(axis=1))
            raw = np.where(den > 0, hc @ qc / np.maximum(den, 1e-300), 1.0)
        elif self.metric == "intersect":
            raw = np.minimum(h, q).sum(axis=1)
        elif self.metric == "chisqr":
            s = h + q
            raw = 2.0 * np.divide((h - q) ** 2, s, out=np.zeros_like(s), where=s > 0).sum(axis=1)
        else:
            bc = np.sqrt(h * q).sum(axis=1) / np.sqrt(np.maximum(q.sum() * h.sum(axis=1), 1e-300))
            raw = np.sqrt(np.clip(1.0 - bc, 0.0, None))
        return np.clip(self._map(raw), 0.0, 1.0)
