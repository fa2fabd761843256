"""Perceptual hashes (imagehash): average hash at 8x8 / 16x16, perceptual (DCT), difference and wavelet hash.

Encoding: the hash bits as a flat bool array (64 or 256 bits). Score = 1 - Hamming distance / bits, so
identical hashes give 1.0 and a random pair about 0.5. Search packs the bits (numpy.packbits) and counts
XOR bits with numpy, so a folder of thousands is scored in milliseconds.
"""

from __future__ import annotations

import numpy as np

from .base import BitsComparator
from .io import as_image


class HashComparator(BitsComparator):
    DESCRIPTION = "imagehash bits, Hamming distance"

    def __init__(self, kind: str = "phash", size: int = 8, **options):
        super().__init__(**options)
        self.kind, self.size = kind, size

    def cache_key(self) -> str:
        return f"{self.kind}{self.size}-v{self.VERSION}"

    def encode(self, image) -> np.ndarray:
        import imagehash
        from PIL import Image

        bgr = as_image(image)
        pil = Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))
        fn = {"ahash": imagehash.average_hash, "phash": imagehash.phash, "dhash": imagehash.dhash,
              "whash": imagehash.whash}[self.kind]
        return np.asarray(fn(pil, hash_size=self.size).hash, bool).ravel()
