"""Shared code of the ONNX face embedders (arcface, sface, edgeface): 5-point aligned 112x112 chips, one
model call per batch (a loop only for models exported with a fixed batch size)."""

from __future__ import annotations

import numpy as np

from ..registry import resolve_model, session
from .base import FaceEmbedder


class OnnxFaceEmbedder(FaceEmbedder):
    MEAN: float = 127.5
    STD: float = 128.0
    RGB: bool = True
    CPU_ENGINE: str = "onnxruntime"  # or what measures faster for the model on the CPU (onnx.load_session)

    def __init__(self, options):
        super().__init__(options)
        model = resolve_model(options.model or self.DEFAULT_MODEL, options.models_dir)
        self.models = [model]
        self.session = session(model, f"{self.NAME} face embedder", options, engine=self.CPU_ENGINE)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        self.CHIP_SIZE = inp.shape[2] if isinstance(inp.shape[2], int) else 112
        dim = self.session.get_outputs()[0].shape[-1]
        if not isinstance(dim, int):  # dynamic in some exports: ask the model
            dim = self._run(np.zeros((1, 3, self.CHIP_SIZE, self.CHIP_SIZE), np.float32)).shape[1]
        self.DIM = dim

    def blob(self, chips: np.ndarray) -> np.ndarray:
        x = chips[..., ::-1] if self.RGB else chips
        x = x.astype(np.float32)
        if self.MEAN or self.STD != 1.0:
            x = (x - self.MEAN) / self.STD
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def _vectors(self, chips: np.ndarray) -> np.ndarray:
        return self._run(self.blob(chips))

    def _run(self, blob: np.ndarray) -> np.ndarray:
        if self.fixed_batch == 1:
            out = np.concatenate([self.session.run(None, {self.input_name: blob[i:i + 1]})[0]
                                  for i in range(len(blob))])
        else:
            out = self.session.run(None, {self.input_name: blob})[0]
        return out.reshape(len(blob), -1)
