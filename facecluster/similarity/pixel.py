"""Pixel comparisons: MSE and SSIM.

Common size: both images are converted to grayscale and resized with INTER_AREA to SIZE x SIZE (64 x 64),
ignoring the aspect ratio, so any two images can be compared; intensities are scaled to [0, 1].
- mse:  score = 1 - RMSE (root mean squared difference), so identical = 1, black vs white = 0.
- ssim: mean structural similarity (Wang et al. 2004: Gaussian window sigma 1.5 truncated at 5 pixels and
        renormalised at the borders, C1 = 0.01^2, C2 = 0.03^2), clipped to [0, 1].
Both are vectorised over a stacked folder (the Gaussian filter is a matrix product G @ X @ G.T).
"""

from __future__ import annotations

import numpy as np

from .base import Comparator, Score
from .io import as_image, gray

SIZE = 64
C1, C2 = 0.01 ** 2, 0.03 ** 2


def _small(image) -> np.ndarray:
    import cv2

    return cv2.resize(gray(as_image(image)), (SIZE, SIZE), interpolation=cv2.INTER_AREA)


class _SmallGray(Comparator):
    """Encoding shared by mse and ssim (one cache for both): the image as SIZE x SIZE grayscale."""

    def cache_key(self) -> str:
        return f"gray{SIZE}-v{self.VERSION}"

    def encode(self, image) -> np.ndarray:
        return _small(image)


class MseComparator(_SmallGray):
    DESCRIPTION = f"grayscale {SIZE}x{SIZE}, 1 - RMSE"

    def compare(self, enc_a, enc_b) -> Score:
        d = (np.float32(enc_a) - np.float32(enc_b)) / 255.0
        mse = float((d * d).mean())
        return Score(1.0 - np.sqrt(mse), f"mse {mse:.4f}")

    def stack(self, encodings):
        return np.float32(encodings).reshape(len(encodings), -1) / 255.0

    def compare_many(self, query, stacked) -> np.ndarray:
        mse = ((stacked - np.float32(query).ravel() / 255.0) ** 2).mean(axis=1)
        return np.clip(1.0 - np.sqrt(mse), 0.0, 1.0).astype(np.float64)


def _gauss_matrix(n: int = SIZE, sigma: float = 1.5, radius: int = 5) -> np.ndarray:
    idx = np.arange(n)
    g = np.exp(-((idx[:, None] - idx[None, :]) ** 2) / (2 * sigma ** 2))
    g[np.abs(idx[:, None] - idx[None, :]) > radius] = 0.0
    return (g / g.sum(axis=1, keepdims=True)).astype(np.float32)


_G = _gauss_matrix()


def _blur(x: np.ndarray) -> np.ndarray:
    return _G @ x @ _G.T


def _moments(x: np.ndarray):
    mu = _blur(x)
    return mu, _blur(x * x) - mu * mu


def _ssim_map(x, mu_x, var_x, y, mu_y, var_y) -> np.ndarray:
    cov = _blur(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + C1) * (2 * cov + C2)
    den = (mu_x ** 2 + mu_y ** 2 + C1) * (var_x + var_y + C2)
    return num / den


class SsimComparator(_SmallGray):
    DESCRIPTION = f"grayscale {SIZE}x{SIZE}, mean SSIM"

    def compare(self, enc_a, enc_b) -> Score:
        a, b = np.float32(enc_a) / 255.0, np.float32(enc_b) / 255.0
        value = float(_ssim_map(a, *_moments(a), b, *_moments(b)).mean())
        return Score(value, f"ssim {value:.3f}")

    def stack(self, encodings):
        x = np.float32(encodings).reshape(len(encodings), SIZE, SIZE) / 255.0
        return (x, *_moments(x))

    def compare_many(self, query, stacked) -> np.ndarray:
        q = np.float32(query) / 255.0
        values = _ssim_map(*stacked, q, *_moments(q)).mean(axis=(1, 2))
        return np.clip(values, 0.0, 1.0).astype(np.float64)
