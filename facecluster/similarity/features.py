"""Local features: ORB or SIFT keypoints, matched with a brute-force matcher (cross-check) or FLANN
(LSH for ORB, KD-trees for SIFT) with Lowe's ratio test, then verified by a RANSAC homography.

Images are converted to grayscale and scaled so the long side is at most WORK_SIDE (640) pixels and, for
small crops, at least MIN_SIDE (256; bicubic upscaling).
Encoding: (keypoint xy (N, 2) float32, descriptors (N, D)). Score = RANSAC inliers / min(N_a, N_b), clipped
to 1; fewer than MIN_INLIERS inliers (RANSAC finds a few on any random matches) scores 0. Missing keypoints,
too few matches or a failed homography are results with a reason, not exceptions.
RANSAC: ransac="usac" (default) is OpenCV's USAC_DEFAULT (RANSAC with SPRT early stopping and local
optimisation; deterministic, ~50x faster than cv2.RANSAC's fixed 2000 iterations on unrelated pairs, same
inlier counts within a few); ransac="classic" is cv2.RANSAC, seeded for reproducible scores.
"""

from __future__ import annotations

import numpy as np

from .base import Comparator, NoEncoding, Score, missing
from .io import as_image, gray

WORK_SIDE = 640
MIN_SIDE = 256
N_FEATURES = 500
RATIO = 0.75
MIN_INLIERS = 8
RANSAC_PX = 5.0


class FeatureComparator(Comparator):
    DESCRIPTION = "local keypoints + matching + RANSAC homography"

    def __init__(self, detector: str = "orb", matcher: str = "bf", ransac: str = "usac", **options):
        super().__init__(**options)
        self.detector, self.matcher, self.ransac = detector, matcher, ransac
        self._det = self._match = None

    def _detector(self):
        import cv2

        if self._det is None:
            self._det = cv2.ORB_create(N_FEATURES) if self.detector == "orb" else cv2.SIFT_create(N_FEATURES)
        return self._det

    def cache_key(self) -> str:
        return f"{self.detector}{N_FEATURES}-v{self.VERSION}"  # shared by both matchers

    def encode(self, image):
        import cv2

        g = gray(as_image(image, max_side=WORK_SIDE))
        if 16 <= max(g.shape) < MIN_SIDE:  # small crops: upscale so the detector's border/pyramid fit
            f = MIN_SIDE / max(g.shape)
            g = cv2.resize(g, (round(g.shape[1] * f), round(g.shape[0] * f)), interpolation=cv2.INTER_CUBIC)
        if min(g.shape) < 16:
            return NoEncoding(f"image too small for keypoints ({g.shape[1]}x{g.shape[0]})")
        kps, desc = self._detector().detectAndCompute(g, None)
        if desc is None or len(kps) == 0:
            return NoEncoding("no keypoints")
        return np.float32([k.pt for k in kps]), desc

    def _matcher(self):
        import cv2

        if self._match is None:
            binary = self.detector == "orb"
            if self.matcher == "bf":
                self._match = cv2.BFMatcher(cv2.NORM_HAMMING if binary else cv2.NORM_L2, crossCheck=True)
            elif binary:  # FLANN_INDEX_LSH
                self._match = cv2.FlannBasedMatcher(dict(algorithm=6, table_number=6, key_size=12,
                                                         multi_probe_level=1), dict(checks=50))
            else:  # FLANN_INDEX_KDTREE
                self._match = cv2.FlannBasedMatcher(dict(algorithm=1, trees=4), dict(checks=50))
        return self._match

    def _good_matches(self, da, db) -> list:
        import cv2

        if self.matcher == "bf":
            return list(self._matcher().match(da, db))
        try:
            pairs = self._matcher().knnMatch(da, db, k=2)
        except cv2.error:
            return []
        return [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]

    def compare(self, enc_a, enc_b) -> Score:
        import cv2

        gone = missing(enc_a, enc_b)
        if gone is not None:
            return gone
        (pa, da), (pb, db) = enc_a, enc_b
        n = min(len(pa), len(pb))
        matches = self._good_matches(da, db) if min(len(da), len(db)) >= 2 else []
        if len(matches) < MIN_INLIERS:
            return Score(0.0, f"only {len(matches)} matches of {n} keypoints")
        src = pa[[m.queryIdx for m in matches]].reshape(-1, 1, 2)
        dst = pb[[m.trainIdx for m in matches]].reshape(-1, 1, 2)
        cv2.setRNGSeed(0)  # classic RANSAC samples from OpenCV's RNG: seed it so scores are reproducible
        method = cv2.USAC_DEFAULT if self.ransac == "usac" else cv2.RANSAC
        homography, mask = cv2.findHomography(src, dst, method, RANSAC_PX)
        if homography is None or mask is None:
            return Score(0.0, f"no homography from {len(matches)} matches")
        inliers = int(mask.sum())
        why = f"{inliers} inliers / {len(matches)} matches / {n} keypoints"
        if inliers < MIN_INLIERS:
            return Score(0.0, "too few inliers: " + why)
        return Score(inliers / n, why)
