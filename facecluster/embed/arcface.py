"""ArcFace-style ONNX face embedder: 5-point similarity alignment to 112x112, RGB, (x-127.5)/128."""

from __future__ import annotations

import numpy as np

from ..enhance.align import align_faces
from ..errors import ConfigError
from ..models import resolve
from ..onnx import load_session
from ..types import Detections, l2_normalize
from .base import Embedder


class ArcFaceEmbedder(Embedder):
    NAME = "arcface"
    DIM = 128
    SAME_PERSON_DISTANCE = 0.66
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
        self.DIM = int(self.session.get_outputs()[0].shape[-1])

    def embed(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        if len(detections) == 0:
            return np.zeros((0, self.DIM), np.float32)
        if detections.landmarks is None:
            raise ConfigError("the arcface embedder needs 5 face landmarks; use a face detector that gives them "
                              "(yunet, scrfd, dlib-hog)")
        chips = align_faces(image, detections.landmarks, self.size)
        blob = ((chips[..., ::-1].astype(np.float32) - 127.5) / 128.0).transpose(0, 3, 1, 2)
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
