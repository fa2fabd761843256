"""Landmarks that do not depend on the scale a face was detected at.

Why: detectors see the frame at one scale (YuNet on a frame shrunk to detect_max_side, SCRFD at its input
size), so a close-up fills much of their input and a distant face covers a few pixels of it, and the 5
landmarks they give for it are noisier than at a comfortable size; a misaligned face is a worse
embedding for every embedder. The refiner cuts a square window around each detected face from the
FULL-resolution frame, scaled so the face box is `face_side` pixels, detects again in that window and
takes the landmarks of the face found there (mapped back to the frame); with several sides it averages
the landmarks found at each. Box and score stay the detector's; a face not found again keeps its
original landmarks. Each side is one fixed input size, so each detector net is set up once.

Measured with scripts/calibrate_embedders.py: 1076 labelled faces (4 sets) as photos ("natural") and
rendered into 1280x720 frames with the face 48 / 200 / 600 px tall, detected at detect_max_side 960;
EdgeFace-XS and MobileFaceNet embeddings, flip off; pooled within-set AUC / TAR at 0.1 % FAR:
    EdgeFace-XS       natural        48 px          200 px         600 px
    yunet             0.9954 0.851   0.9958 0.850   0.9961 0.851   0.9973 0.887
    + refine yunet    0.9959 0.877   0.9975 0.920   0.9961 0.875   0.9970 0.874
    + refine scrfd    0.9973 0.886   0.9978 0.919   0.9956 0.883   0.9973 0.890
    scrfd detector    0.9975 0.892   0.9973 0.920   0.9970 0.886   0.9976 0.889 (misses 17 % at input 960)
    MobileFaceNet
    yunet             0.9897 0.804   0.9900 0.776   0.9916 0.805   0.9933 0.842
    + refine yunet    0.9932 0.827   0.9938 0.844   0.9920 0.828   0.9935 0.835
    + refine scrfd    0.9950 0.854   0.9948 0.849   0.9934 0.849   0.9947 0.859
    scrfd detector    0.9956 0.876   0.9937 0.837   0.9945 0.855   0.9957 0.875
(48 px: the 703 faces every source found; 600 px: the 898 the SCRFD detector found.) YuNet's landmarks
fail most on small faces, not close-ups. Refining with SCRFD is the best or near it at every size, for
2.7-3.7 ms a face (one 192x192 SCRFD run, one thread); with YuNet it needs two sizes (96 and 160: one
size alone was worse than no refinement at some sizes), costs 10-16 ms a face and loses a little on
close-ups, but its weights are MIT where SCRFD's are non-commercial. Window sides 1.5-3 face sides and SCRFD face sides 64-160
measured within 0.001 AUC of each other.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from ..types import Detections, iou_matrix

# refiner backend -> face sides (px) in the window; window = WINDOW face sides
DEFAULTS = {"scrfd": (96,), "yunet": (96, 160)}
BACKENDS = tuple(DEFAULTS)
WINDOW = 2.0        # window side in face-box sides: the whole head plus the context detectors expect
MIN_IOU = 0.4       # the face found in the window must overlap the original box this much


class LandmarkRefiner:
    def __init__(self, options, backend: str = "scrfd", face_sides: tuple[int, ...] | None = None,
                 window: float = WINDOW):
        if backend not in BACKENDS:
            from ..errors import unknown_name

            raise unknown_name("landmark refiner", backend, BACKENDS)
        self.face_sides = tuple(face_sides or DEFAULTS[backend])
        self.window = window
        self.detectors = []
        for side in self.face_sides:
            size = int(round(side * window))
            # runs on windows of one size, trusts that a face is there (lower threshold), never recurses
            sub = replace(options, model="", max_side=size if backend == "scrfd" else 0,
                          threshold=min(options.threshold, 0.3), refine_landmarks="")
            if backend == "scrfd":
                from .scrfd import ScrfdDetector

                self.detectors.append((side, size, ScrfdDetector(sub)))
            else:
                from .yunet import YuNetDetector

                self.detectors.append((side, size, YuNetDetector(sub)))
        self.models = list(self.detectors[0][2].models)

    @staticmethod
    def windows(dets: Detections, face_side: float, size: int) -> np.ndarray:
        """(N, 2, 3) affine maps from the frame to each face's window (face box long side -> face_side)."""
        scale = face_side / np.maximum(np.maximum(dets.widths, dets.heights), 1.0)
        cx = (dets.boxes[:, 0] + dets.boxes[:, 2]) / 2
        cy = (dets.boxes[:, 1] + dets.boxes[:, 3]) / 2
        m = np.zeros((len(dets), 2, 3), np.float32)
        m[:, 0, 0] = m[:, 1, 1] = scale
        m[:, 0, 2] = size / 2 - cx * scale
        m[:, 1, 2] = size / 2 - cy * scale
        return m

    def refine(self, image: np.ndarray, dets: Detections) -> Detections:
        if not len(dets):
            return dets
        total = np.zeros((len(dets), 5, 2), np.float32)
        count = np.zeros(len(dets), np.int32)
        for side, size, detector in self.detectors:
            for i, m in enumerate(self.windows(dets, side, size)):
                interp = cv2.INTER_AREA if m[0, 0] < 1 else cv2.INTER_LINEAR
                crop = cv2.warpAffine(image, m, (size, size), flags=interp, borderMode=cv2.BORDER_CONSTANT)
                again = detector._detect(crop)
                if not len(again):
                    continue
                expected = dets.boxes[i:i + 1] * m[0, 0] + np.tile(m[:, 2], 2)
                iou = iou_matrix(expected, again.boxes)[0]
                best = int(np.argmax(iou))
                if iou[best] >= MIN_IOU:
                    total[i] += (again.landmarks[best] - m[:, 2]) / m[0, 0]
                    count[i] += 1
        found = count > 0
        if dets.landmarks is None:
            if not found.all():
                return dets  # nothing to fall back on for the faces not found again
            landmarks = total / count[:, None, None]
        else:
            landmarks = dets.landmarks.copy()
            landmarks[found] = total[found] / count[found, None, None]
        return Detections(dets.boxes, dets.scores, landmarks)
