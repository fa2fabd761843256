"""Interlaced pictures (broadcast 576i/1080i, tape transfers) repaired where they are combed.

An interlaced picture holds two fields taken 1/50 s (or 1/60 s) apart on alternate lines; wherever
something moved between them, a face shows as teeth of alternating lines ("combing"), which detectors and
embedders were never trained on. Only sampled frames are repaired, so a cheap spatial method is enough:
a line of the second field is replaced by the mean of the first field's lines above and below it where it
is combed, i.e. brighter (or darker) than both of them by more than COMB_LEVEL (the classic comb test; an
edge or a gradient lies between its neighbours and is left alone), and kept where the picture is still,
so static detail keeps its full vertical resolution.

Measured with scripts/bench_interlace.py (50 frames/s synthetic episodes woven into 25 frames/s interlaced
x264; fast profile; BCubed F off -> repaired): chosen on faceapi_bbt and yywbxgl_video_faces against
rebuilding every line of the second field ("bob": mean F 0.848, this repair 0.911, nothing 0.891), then on
glint_celebs22 and face_recognition_examples face detection recall 0.958 -> 0.992 and 0.992 -> 1.000 where
it changed, F 0.799 -> 0.830, 0.993 -> 1.000, 0.901 -> 0.894 and 1.000 -> 1.000. 13 ms a 720p frame.
"""

from __future__ import annotations

import cv2
import numpy as np

COMB_LEVEL = 10  # grey levels (0-255) by which a line must stick out of both neighbours to count as combed


def comb_mask(image: np.ndarray, level: int = COMB_LEVEL) -> np.ndarray:
    """(H, W) bool: pixels of the odd lines (the second field) that are combed (level < 0: every one)."""
    if level < 0:
        mask = np.zeros(image.shape[:2], bool)
        mask[1:-1:2] = True
        return mask
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.int16) if image.ndim == 3 else image.astype(np.int16)
    mask = np.zeros(grey.shape, bool)
    if grey.shape[0] < 3:
        return mask
    mid = grey[1:-1:2]
    above, below = grey[0:-2:2], grey[2::2][: len(mid)]
    up, down = mid - above, mid - below
    combed = (up.astype(np.int32) * down > level * level)
    # a tooth is a few pixels wide; widen by one pixel so its edges go too
    combed = cv2.dilate(combed.astype(np.uint8), np.ones((1, 3), np.uint8)).astype(bool)
    mask[1:-1:2] = combed
    return mask


def deinterlace(image: np.ndarray, level: int = COMB_LEVEL) -> tuple[np.ndarray, float]:
    """The picture with its combed pixels interpolated from the first field, and the share of pixels replaced."""
    mask = comb_mask(image, level)
    if not mask.any():
        return image, 0.0
    out = image.copy()
    rows = np.arange(1, image.shape[0] - 1, 2)
    mean = ((image[rows - 1].astype(np.uint16) + image[rows + 1]) // 2).astype(image.dtype)
    sub = out[rows]
    pick = mask[rows]
    sub[pick] = mean[pick]
    out[rows] = sub
    return out, float(mask.mean())
