"""dlib ResNet 128-d face embedder (builtin, offline). Runs dlib's own 5-point predictor on each box,
so it works behind any face detector, and embeds dlib's 150x150 aligned face chips in one batch.

Cost: ~75-120 ms per face on this machine whatever the batching (dlib-bin has no BLAS), with the GIL held;
it dominates the builtin profile's run time. A run computes the descriptors in helper processes (one per
frame worker, embed/helpers.py): the builtin profile on the 2-minute clip took 27-29 s instead of 44.

Boxes from YuNet/SCRFD give the same vectors as dlib's own HOG boxes (median cosine distance 0.002, max
0.02 over 178 faces), so the predictor-on-any-box design holds.

SAME_PERSON_DISTANCE (cosine distance) measured by scripts/calibrate_embedders.py (YuNet boxes) on the
labelled photos of ../shared/media/faces, pairs within each set:

    photo set (faces)            thr@maxF1  F1     EER    same med  diff med
    all pooled (216)             0.048      0.888  0.102  0.022     0.090
    face_recognition_ex. (22)    0.070      1.000  0.000  0.029     0.175
    faceapi_bbt (40)             0.090      0.975  0.015  0.045     0.159
    yywbxgl_video_faces (154)    0.048      0.891  0.103  0.020     0.088
    mean of per-set F1           0.058      0.905

dlib's distances depend on who is in the video: on the Western sets 0.07-0.09 is best, on the Chinese
video-face set different people have median 0.088, so 0.085 there merges 42% of different-person pairs
(F1 0.36) while 0.06 keeps F1 >= 0.8 on every set (0.98 / 0.90-0.94 / 0.81). 0.06 is the default; the
arcface embedder separates the sets far better (pooled EER 0.02-0.08 against 0.10).
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..registry import resolve_model
from ..types import Detections
from .base import FaceEmbedder


def _load(path: str):
    import dlib

    return dlib.face_recognition_model_v1(path)


def _descriptors(facerec, chips: np.ndarray) -> np.ndarray:
    rgb = [np.ascontiguousarray(c[..., ::-1]) for c in chips]
    return np.array([np.array(v) for v in facerec.compute_face_descriptor(rgb)], np.float32)


class DlibResnetEmbedder(FaceEmbedder):
    NAME = "dlib"
    DIM = 128
    SAME_PERSON_DISTANCE = 0.06  # calibrated above: best mean-of-sets F1
    DEFAULT_MODEL = "dlib-resnet"
    CHIP_SIZE = 150

    def __init__(self, options):
        super().__init__(options)
        import dlib

        self.dlib = dlib
        model = resolve_model(options.model or self.DEFAULT_MODEL, options.models_dir)
        landmarks = resolve_model("dlib-5-landmarks", options.models_dir)
        self.models = [model, landmarks]
        try:
            self.facerec = dlib.face_recognition_model_v1(str(model.path))
            self.predictor = dlib.shape_predictor(str(landmarks.path))
        except RuntimeError as exc:
            raise ModelError(f"cannot load dlib model {model.path}: {exc}") from None
        # dlib keeps the GIL while it computes a descriptor: in helper processes the run's threads go on
        self.helpers = None
        if options.processes > 1:
            from .helpers import HelperProcesses

            self.helpers = HelperProcesses(options.processes, __name__, "_load", "_descriptors", [str(model.path)],
                                           "dlib face descriptors")

    def chips(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """dlib's own 150x150 chips (its 5-point predictor on each box, padding 0.25), BGR."""
        if len(detections) == 0:
            return np.zeros((0, self.CHIP_SIZE, self.CHIP_SIZE, 3), np.uint8)
        rgb = np.ascontiguousarray(image[..., ::-1])
        shapes = self.dlib.full_object_detections()
        for x1, y1, x2, y2 in detections.boxes.round().astype(int):
            shapes.append(self.predictor(rgb, self.dlib.rectangle(int(x1), int(y1), int(x2) - 1, int(y2) - 1)))
        chips = self.dlib.get_face_chips(rgb, shapes, size=self.CHIP_SIZE, padding=0.25)
        return np.stack([np.asarray(c)[..., ::-1] for c in chips])

    def _vectors(self, chips: np.ndarray) -> np.ndarray:
        if self.helpers is not None:
            return self.helpers.map(chips)
        return _descriptors(self.facerec, chips)
