"""Super-resolution of small faces with OpenCV dnn_superres (FSRCNN, ESPCN, LapSRN, EDSR).

Why: face embedders see a 112x112 aligned chip; a 20-px face stretched to that by bilinear warping is a
blur, a learned upscaler can restore some edges first. Only the face and a margin around it are upscaled
(upscaling whole frames costs 100x more), and the face's box and landmarks are mapped into the upscaled
crop, so the normal alignment and embedding code runs on the crop unchanged. Whether it helps grouping
is for the evaluation harness to say; the pipeline keeps it off by default.

Coordinates: an upscaler turns pixel i into pixels i*s .. i*s+s-1, so a point p (continuous pixel
coordinates) of the crop maps to p*s; with the crop's top-left corner (x0, y0) in the image, image point
p maps to (p - (x0, y0)) * s and back to q / s + (x0, y0).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelError
from ..models import REGISTRY
from ..registry import UpscalerOptions, resolve_model
from ..types import Detections

log = logging.getLogger("facecluster")
# registry-name prefix or file-name stem -> cv2.dnn_superres algorithm name (FSRCNN-small is an FSRCNN)
ALGORITHMS = {"fsrcnn": "fsrcnn", "fsrcnn-small": "fsrcnn", "espcn": "espcn", "lapsrn": "lapsrn", "edsr": "edsr"}
_NAME = re.compile(r"^(fsrcnn-small|fsrcnn|espcn|lapsrn|edsr)[-_]x(\d)$", re.IGNORECASE)


def superres_models() -> list[str]:
    """Registry names of the super-resolution models (e.g. 'espcn-x2')."""
    return sorted(name for name, spec in REGISTRY.items() if spec.task == "super-resolution")


def parse_model_name(name: str, default_scale: int = 2) -> tuple[str, str, int]:
    """'espcn-x4' / 'ESPCN_x4.pb' / 'path/to/EDSR_x3.pb' / bare 'espcn' (+ default_scale)
    -> (name to resolve, cv2 algorithm, scale). Raises ConfigError listing the valid names."""
    is_path = name.lower().endswith(".pb") or "/" in name or "\\" in name
    stem = Path(name).stem if is_path else name.strip().lower()
    if stem.lower() in ALGORITHMS:
        stem = f"{stem.lower()}-x{default_scale}"
    match = _NAME.match(stem)
    known = superres_models()
    if match and (is_path or stem.lower() in known):
        family, scale = match.group(1).lower(), int(match.group(2))
        return (name if is_path else stem.lower()), ALGORITHMS[family], scale
    valid = ", ".join(sorted(ALGORITHMS) + known)
    raise ConfigError(f"unknown super-resolution model {name!r}; choose one of: {valid} (a bare algorithm "
                      f"name uses the configured scale), or a .pb file named like ESPCN_x2.pb")


@dataclass
class UpscaledFace:
    """One small face, upscaled with its surroundings, ready for alignment and embedding."""

    index: int                # row of the face in the Detections given to upscale_faces
    image: np.ndarray         # upscaled BGR crop
    detections: Detections    # that face (box, score, landmarks) in the upscaled crop's pixels
    scale: int
    offset: tuple[int, int]   # (x0, y0): the crop's top-left corner in the original image

    def to_image(self, detections: Detections) -> Detections:
        """Map detections found in the upscaled crop back to the original image's pixels."""
        return detections.scaled(1.0 / self.scale, self.offset)


class Upscaler:
    """cv2.dnn_superres model chosen by registry name, file name or path (see parse_model_name)."""

    def __init__(self, options: UpscalerOptions):
        self.options = options
        if not options.model:
            raise ConfigError("no super-resolution model given; set upscale to e.g. fsrcnn-x2 (see "
                              "`facecluster models list`)")
        name, self.algorithm, self.scale = parse_model_name(options.model, int(options.scale))
        self.min_side = float(options.min_face)
        resolved = resolve_model(name, options.models_dir)
        self.models = [resolved]
        import cv2

        if not hasattr(cv2, "dnn_superres"):
            raise ModelError("cv2.dnn_superres is missing: it ships with opencv-contrib; "
                             "`pip uninstall opencv-python && pip install opencv-contrib-python-headless`")
        from ..onnx import quiet_opencv

        quiet_opencv()
        self._sr = cv2.dnn_superres.DnnSuperResImpl_create()
        try:
            self._sr.readModel(str(resolved.path))
            self._sr.setModel(self.algorithm, self.scale)
        except cv2.error as exc:
            raise ModelError(f"cannot load super-resolution model {resolved.path} as {self.algorithm} "
                             f"x{self.scale}: {exc}; check that the file matches its name") from None
        log.debug("super-resolution %s (%s x%d)", resolved.name, self.algorithm, self.scale)

    def upscale(self, image: np.ndarray) -> np.ndarray:
        """BGR uint8 (H, W, 3) -> (H*scale, W*scale, 3)."""
        return self._sr.upsample(np.ascontiguousarray(image))

    def crop_window(self, box, image_shape, margin: float) -> tuple[int, int, int, int]:
        """Integer (x0, y0, x1, y1) around a box, `margin` box sizes added on each side, clipped."""
        h, w = image_shape[:2]
        x1, y1, x2, y2 = (float(v) for v in box)
        m = margin * max(x2 - x1, y2 - y1)
        return (int(max(0, np.floor(x1 - m))), int(max(0, np.floor(y1 - m))),
                int(min(w, np.ceil(x2 + m))), int(min(h, np.ceil(y2 + m))))

    def upscale_faces(self, image: np.ndarray, detections: Detections, min_side: float | None = None,
                      margin: float = 0.5) -> list[UpscaledFace]:
        """Upscale every face whose shorter box side is below min_side (default: config upscale_min_face).

        Each crop holds the face plus `margin` face sizes on every side (the 5-point alignment template
        reaches beyond the box; without context the warp would replicate border pixels). Faces at or
        above the threshold, and empty boxes, are left out: use the original image for them.
        """
        threshold = self.min_side if min_side is None else float(min_side)
        out = []
        for i in range(len(detections)):
            bw, bh = detections.widths[i], detections.heights[i]
            if not (0 < min(bw, bh) < threshold):
                continue
            x0, y0, x1, y1 = self.crop_window(detections.boxes[i], image.shape, margin)
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            s = self.scale
            face = detections[i].scaled(float(s), (-x0 * s, -y0 * s))
            out.append(UpscaledFace(i, self.upscale(image[y0:y1, x0:x1]), face, s, (x0, y0)))
        return out
