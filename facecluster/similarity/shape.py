"""Shape: foreground silhouette by GrabCut, its largest outer contour, compared with Hu-moment matchShapes.

Seed (seed="auto", default): the box of the largest person from the "yolo" detector backend, else the largest
face from "yunet" widened to head and shoulders (x +-1 face width, from 0.5 face height above the face to the
image bottom). GrabCut (3 iterations, RNG seeded) then runs on a crop around that box (+25% context each side)
scaled to WORK_SIDE (160) pixels, initialised with the box. No detector installed, nothing found, or no
foreground from the box -> GrabCut on the whole image initialised with the image minus a 6% border.
seed="border" always uses the border rectangle.
Encoding: the largest contour (N, 1, 2) int32. Score = exp(-d / D_SCALE) with d = cv2.matchShapes(...,
CONTOURS_MATCH_I1) (0 = same Hu moments; invariant to translation, scale, rotation and mirroring up to
the sign of the 7th moment). No foreground / image too small -> NoEncoding with the reason.
"""

from __future__ import annotations

import logging

import numpy as np

from .base import Comparator, NoEncoding, Score, missing
from .io import as_image

log = logging.getLogger("facecluster")

WORK_SIDE = 160
CONTEXT = 0.25
BORDER = 0.06
D_SCALE = 0.5


class ShapeComparator(Comparator):
    DESCRIPTION = "GrabCut silhouette, Hu-moment matchShapes"

    def __init__(self, seed: str = "auto", **options):
        super().__init__(**options)
        self.seed = seed
        self._detectors = None

    def cache_key(self) -> str:
        return f"shape-v{self.VERSION}-{self.seed}-" + "+".join(n for n, _ in self._get_detectors())

    def _get_detectors(self) -> list:
        if self._detectors is None:
            self._detectors = []
            if self.seed == "auto":
                from .. import registry
                from ..config import Config
                from ..errors import FaceclusterError

                config = Config(models_dir=self.options.get("models_dir") or "")
                for name, kind in (("yolo", "body-detector"), ("yunet", "face-detector")):
                    try:
                        self._detectors.append((name, registry.create(kind, name, registry.options_for(kind, config))))
                    except (FaceclusterError, ImportError, AttributeError) as exc:
                        log.debug("shape: no %s seed detector: %s", name, exc)
        return self._detectors

    def seed_box(self, image: np.ndarray) -> tuple[tuple[float, float, float, float] | None, str]:
        """(x1, y1, x2, y2) of the largest person (or face widened to head and shoulders), or None."""
        h, w = image.shape[:2]
        for name, det in self._get_detectors():
            try:
                found = det.detect(image)
            except Exception as exc:  # a seed is optional: fall back to the border
                log.debug("shape: %s failed: %s", name, exc)
                continue
            if len(found):
                x1, y1, x2, y2 = (float(v) for v in found.boxes[int(np.argmax(found.widths * found.heights))])
                if getattr(det, "KIND", "face") == "face":
                    bw, bh = x2 - x1, y2 - y1
                    x1, x2, y1, y2 = x1 - bw, x2 + bw, y1 - 0.5 * bh, h
                x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)
                if min(x2 - x1, y2 - y1) >= 8:
                    return (x1, y1, x2, y2), name
        return None, "border"

    def _grabcut(self, image: np.ndarray, box) -> np.ndarray | str:
        """Largest foreground contour (in WORK_SIDE pixels of the crop around box) or a reason string."""
        import cv2

        h, w = image.shape[:2]
        if box is None:
            crop, inner = image, None
        else:  # crop around the box with CONTEXT margin so GrabCut has background to learn from
            x1, y1, x2, y2 = box
            mx, my = CONTEXT * (x2 - x1), CONTEXT * (y2 - y1)
            cx1, cy1 = int(max(0, x1 - mx)), int(max(0, y1 - my))
            crop = image[cy1:int(min(h, y2 + my)), cx1:int(min(w, x2 + mx))]
            inner = (x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1)
        f = WORK_SIDE / max(crop.shape[:2])
        small = cv2.resize(crop, (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f))),
                           interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        if inner is None:
            bx, by = max(1, round(sw * BORDER)), max(1, round(sh * BORDER))
            rect = (bx, by, sw - 2 * bx, sh - 2 * by)
        else:
            x1, y1 = max(1, int(inner[0] * f)), max(1, int(inner[1] * f))
            rect = (x1, y1, max(2, min(sw - 1, int(inner[2] * f)) - x1), max(2, min(sh - 1, int(inner[3] * f)) - y1))
        mask = np.zeros((sh, sw), np.uint8)
        cv2.setRNGSeed(0)  # GrabCut's GMM initialisation (k-means) uses OpenCV's RNG: seed it for repeatability
        try:
            cv2.grabCut(small, mask, rect, np.zeros((1, 65)), np.zeros((1, 65)), 3, cv2.GC_INIT_WITH_RECT)
        except cv2.error as exc:
            return f"GrabCut failed ({str(exc).strip().splitlines()[-1][:80]})"
        fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
        contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        largest = max(contours, key=cv2.contourArea) if contours else None
        if largest is None or cv2.contourArea(largest) < 0.01 * sh * sw:
            return "no foreground found"
        return largest.astype(np.int32)

    def encode(self, image):
        img = as_image(image)
        if min(img.shape[:2]) < 16:
            return NoEncoding(f"image too small for GrabCut ({img.shape[1]}x{img.shape[0]})")
        box, source = self.seed_box(img)
        result = self._grabcut(img, box)
        if isinstance(result, str) and box is not None:  # the detector seed failed: try the border
            result, source = self._grabcut(img, None), "border"
        return NoEncoding(f"{result} (seed: {source})") if isinstance(result, str) else result

    def compare(self, enc_a, enc_b) -> Score:
        import cv2

        gone = missing(enc_a, enc_b)
        if gone is not None:
            return gone
        d = cv2.matchShapes(enc_a, enc_b, cv2.CONTOURS_MATCH_I1, 0.0)
        return Score(np.exp(-d / D_SCALE), f"matchShapes I1 {d:.4f}")
