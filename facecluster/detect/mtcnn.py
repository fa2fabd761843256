"""MTCNN face detector (facenet-pytorch, with the P/R/O-Net weights inside its wheel): boxes, scores and
5 landmarks in the project's order (image-left eye, image-right eye, nose, image-left and image-right
mouth corner; checked against YuNet on the test photos).

Needs the `[torch]` extra and facenet-pytorch installed with --no-deps (facecluster.torch_extra.INSTALL).
Its cost grows with the image (an image pyramid down to 20-pixel faces): use max_side on large frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..models import ResolvedModel, sha256_of
from ..torch_extra import require, set_threads, torch_device
from ..types import Detections
from .base import FaceDetector

WHAT = "the mtcnn face detector"


class MtcnnDetector(FaceDetector):
    NAME = "mtcnn"

    def __init__(self, options):
        super().__init__(options)
        self.torch = require("torch", WHAT)
        facenet = require("facenet_pytorch", WHAT)
        device = torch_device(options.device, WHAT)
        set_threads(options.threads)
        self.threshold = float(options.threshold)
        self.net = facenet.MTCNN(keep_all=True, device=device)
        data = Path(facenet.__file__).parent / "data"
        for stage in ("onet", "rnet", "pnet"):
            if (data / f"{stage}.pt").is_file():  # the weights it loaded, recorded in the run manifest
                self._use(ResolvedModel(f"mtcnn-{stage}", data / f"{stage}.pt", sha256_of(data / f"{stage}.pt")))

    def _detect(self, image: np.ndarray) -> Detections:
        full_h, full_w = image.shape[:2]
        small, scale = self.downscaled(image)
        with self.torch.inference_mode():
            boxes, probs, points = self.net.detect(np.ascontiguousarray(small[:, :, ::-1]), landmarks=True)
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        # facenet-pytorch returns object arrays under numpy 2: rebuild plain float arrays
        dets = Detections(np.array(list(boxes), np.float32), np.array(list(probs), np.float32),
                          np.array(list(points), np.float32).reshape(-1, 5, 2))
        dets = dets[dets.scores >= self.threshold]
        return dets.scaled(1.0 / scale).clipped(full_w, full_h) if len(dets) else dets
