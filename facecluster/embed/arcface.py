"""ArcFace-style ONNX face embedder: 5-point similarity alignment to 112x112, RGB, (x-127.5)/128.

Works with batch-dynamic models (MobileFaceNet paddle export, insightface w600k_*) and batch-fixed ones
(mobilefacenet_128d_pytorch: batch 1, looped); input size and DIM are read from the model.

SAME_PERSON_DISTANCE (cosine distance) measured by scripts/calibrate_embedders.py on the 216 labelled
photos of ../shared/media/faces (23 identities, 1499 same / 11293 different pairs within each set), YuNet
landmarks (SCRFD's in brackets), embed_flip on; ms/face without flip on the shared, busy 2-core box:

    model                  thr@maxF1     F1            EER           same med  diff med  ms/face
    mobilefacenet-paddle   0.61 (0.63)   0.957 (0.985) 0.032 (0.011) 0.23      0.91      7-18 (x2 flip)
    mobilefacenet-pytorch  0.60 (0.62)   0.940 (0.965) 0.075 (0.044) 0.23      0.91      7-8 (x2 flip)

Per photo set the optimum is 0.47-0.73 on a flat plateau (mean-of-sets F1 peaks at 0.62-0.66); 0.62-0.66
are within 0.01 F1 everywhere except the video-face set, where 0.66 passes 0.4-1.1% of different-person
pairs. 0.64 serves both models (also OpenCV's SFace cosine cut, 1 - 0.363); w600k/SFace are not measured.
"""

from __future__ import annotations

import numpy as np

from ..enhance.align import align_faces
from ..errors import ConfigError
from ..models import resolve
from ..onnx import load_session
from ..types import Detections, l2_normalize
from .base import Embedder

# pixel (mean, std) per registry model; OpenCV's FaceRecognizerSF feeds SFace raw 0-255 RGB
NORMALISE = {"sface": (0.0, 1.0)}


class ArcFaceEmbedder(Embedder):
    NAME = "arcface"
    DIM = 128
    SAME_PERSON_DISTANCE = 0.64
    DEFAULT_MODEL = "mobilefacenet-paddle"

    def __init__(self, config):
        super().__init__(config)
        model = resolve(config.face_embedder_model or self.DEFAULT_MODEL, config.models_dir)
        self.models = [model]
        self.session = load_session(model, "face embedder")
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        self.size = inp.shape[2] if isinstance(inp.shape[2], int) else 112
        self.mean, self.std = NORMALISE.get(model.name, (127.5, 128.0))
        dim = self.session.get_outputs()[0].shape[-1]
        if not isinstance(dim, int):  # dynamic in some exports: ask the model
            dim = self._run(np.zeros((1, 3, self.size, self.size), np.float32)).shape[1]
        self.DIM = dim

    def embed(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        if len(detections) == 0:
            return np.zeros((0, self.DIM), np.float32)
        if detections.landmarks is None:
            raise ConfigError("the arcface embedder needs 5 face landmarks; use a face detector that gives them "
                              "(yunet, scrfd, dlib-hog)")
        chips = align_faces(image, detections.landmarks, self.size)
        blob = ((chips[..., ::-1].astype(np.float32) - self.mean) / self.std).transpose(0, 3, 1, 2)
        out = self._run(blob)
        if self.config.embed_flip:
            # mirrored face as a second view: steadier vectors for small and turned faces at 2x cost
            out = l2_normalize(out) + l2_normalize(self._run(np.ascontiguousarray(blob[..., ::-1])))
        return l2_normalize(out)

    def _run(self, blob: np.ndarray) -> np.ndarray:
        if self.fixed_batch:
            out = np.concatenate([self.session.run(None, {self.input_name: blob[i:i + 1]})[0]
                                  for i in range(len(blob))])
        else:
            out = self.session.run(None, {self.input_name: blob})[0]
        return out.reshape(len(blob), -1)
