"""Any torch face embedder a user points to (face_embedder_model=PATH.pt): a TorchScript file or a whole
pickled nn.Module, fed 5-point aligned chips with the preprocessing of face_embedder_preprocess (a preset:
facenet, edgeface, arcface; or "size=..,mean=..,std=..,rgb|bgr": see facecluster.export).

For long runs export it once (`facecluster models export MODEL.pt -o MODEL.onnx --preset NAME`) and use
the ONNX embedder the export names: the same vectors on onnxruntime, without torch.

SAME_PERSON_DISTANCE: 0.64, the prior of the ArcFace-family backends; it is not calibrated for torch
models (no pretrained torch face model can be downloaded here): set cluster_distance for your model.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..export import load_module, parse_preprocess
from ..registry import resolve_model
from ..torch_extra import require, set_threads, torch_device
from .base import FaceEmbedder

WHAT = "the torch face embedder"


class TorchFaceEmbedder(FaceEmbedder):
    NAME = "torch"
    DIM = 512
    SAME_PERSON_DISTANCE = 0.64
    FLIP_HELPS = False

    def __init__(self, options):
        super().__init__(options)
        if not options.model:
            raise ConfigError(f"{WHAT} needs a model file: set face_embedder_model=PATH.pt (TorchScript or a whole "
                              f"pickled nn.Module) and face_embedder_preprocess (facenet, edgeface or arcface)")
        self.torch = require("torch", WHAT)
        self.preprocess = parse_preprocess(getattr(options, "preprocess", ""))
        self.CHIP_SIZE = self.preprocess.size
        model = resolve_model(options.model, options.models_dir)
        self.models = [model]
        self.device = torch_device(options.device, WHAT)
        set_threads(options.threads)
        self.module = load_module(model.path).to(self.device)
        self.DIM = self._vectors(np.zeros((1, self.CHIP_SIZE, self.CHIP_SIZE, 3), np.uint8)).shape[1]

    def _vectors(self, chips: np.ndarray) -> np.ndarray:
        x = self.torch.from_numpy(self.preprocess.blob(chips)).to(self.device)
        with self.torch.inference_mode():
            out = self.module(x)
        out = out[0] if isinstance(out, (tuple, list)) else out
        return out.float().cpu().numpy().reshape(len(chips), -1)
