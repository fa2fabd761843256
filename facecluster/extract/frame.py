"""The per-frame stage: everything that needs the frame's pixels (detection, alignment, clothing crops,
thumbnails), so the frame can be dropped right after; the model calls that can be batched across frames
(face embedding, clothing embedding) happen later on what this stage prepared."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from .. import registry
from ..config import Config
from ..persons import (associate_faces, body_boxes_from_faces, clothing_boxes_from_faces, clothing_boxes_from_persons,
                       faces_per_person)
from ..types import Detections, Frame

JPEG = [cv2.IMWRITE_JPEG_QUALITY, 85]


@dataclass
class Backends:
    """The models of a run. The embedders are built once and used by the main thread only; the models of the
    frame stage are built per worker thread (`frame_models`): OpenCV's nets (YuNet, dnn_superres) and
    ultralytics models are not thread-safe (two workers sharing one FSRCNN crashed in OpenCV)."""

    config: Config
    face_embedder: object
    clothing: object | None

    @classmethod
    def build(cls, config: Config, embed_processes: int = 0) -> "Backends":
        """The embedders; `embed_processes`: helper processes for a face embedder that keeps the GIL (dlib), one
        per frame worker (a batch task runs one worker and gets none: its episodes already fill the cores).
        Models are loaded one after the other: loading them side by side on threads saved 0.04 s and once
        crashed the process inside a native library ("double free or corruption")."""
        from .. import registry

        registry.check_required_present(config)
        return cls(config, _make("face-embedder", config.face_embedder, config, {"processes": embed_processes}),
                   _make("clothing-embedder", config.clothing_embedder, config))

    def frame_models(self) -> "FrameModels":
        c = self.config
        return FrameModels(_make("face-detector", c.face_detector, c), _make("body-detector", c.body_detector, c),
                           _make("upscaler", "superres" if c.upscale else "", c))

    def models(self, frame_models: "FrameModels") -> list[dict]:
        """The model files used, each once (name, path, sha256; for an embedder's model also what ran it:
        openvino, opencv or onnxruntime)."""
        from ..onnx import engine_of

        f = frame_models
        parts = [f.face_detector, self.face_embedder, f.body_detector, self.clothing, f.upscaler]
        seen, out = set(), []
        for part in parts:
            for m in getattr(part, "models", []) if part is not None else []:
                if m.sha256 not in seen:
                    seen.add(m.sha256)
                    engine = engine_of(getattr(part, "session", None)) if part in (self.face_embedder, self.clothing) \
                        else None
                    out.append(m.to_dict() | ({"engine": engine} if engine else {}))
        return out


@dataclass
class FrameModels:
    face_detector: object
    body_detector: object | None
    upscaler: object | None


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def default_workers() -> int:
    """Frame workers beside the decoder and the main thread: one per core. With one worker fewer the workers
    were the critical path while the main thread waited (fast profile on 2 cores: 15.0 s against 13.7 s for
    the 2-minute clip; a third worker: 13.1 s and 80 MB more)."""
    return max(1, available_cores())


def worker_count(config: Config, workers: int = 0) -> int:
    """Frame workers of a run: the explicit number, else the config's, else one per core."""
    return workers or config.workers or default_workers()


def _make(kind: str, name: str, config: Config, extra: dict | None = None):
    if not name:
        return None
    options = registry.options_for(kind, config)
    return registry.create(kind, name, replace(options, **extra) if extra else options)


@dataclass
class FrameWork:
    """What the frame stage hands on: detections, aligned face chips, prepared clothing inputs, JPEG
    thumbnails. No pixels of the frame itself."""

    frame: Frame  # image dropped (None)
    resume: dict | None
    faces: Detections
    chips: np.ndarray
    bodies: Detections
    face_body: np.ndarray  # (F,) index into bodies or -1
    clothing_inputs: object | None  # prepared inputs of the ok regions (bodies first, then lone faces)
    clothing_ok: np.ndarray  # (P + lone faces,) bool
    thumbs: list[bytes]  # faces then bodies
    timings: dict = field(default_factory=dict)


def crop_thumbnail(image: np.ndarray, box, size: int, aspect: float = 1.0) -> np.ndarray:
    """Crop around a box with a margin, padded at the border, resized to size x (size * aspect) (w x h)."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = 1.4 * max(x2 - x1, (y2 - y1) / aspect, 1)
    s = size / side
    m = np.float32([[s, 0, size / 2 - cx * s], [0, s, size * aspect / 2 - cy * s]])
    return cv2.warpAffine(image, m, (size, round(size * aspect)), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)


class FrameStage:
    """One worker thread's view: its own frame models, the shared embedders (for their cutting and alignment)."""

    def __init__(self, backends: Backends):
        self.b = backends
        self.config = backends.config
        self.models = backends.frame_models()

    def __call__(self, frame: Frame, resume: dict | None, thumbs: bool) -> FrameWork:
        timings: dict[str, float] = defaultdict(float)
        image = frame.image
        t = time.perf_counter()
        faces = self.models.face_detector.detect(image)
        if len(faces) and self.config.min_face_size:
            faces = faces[np.minimum(faces.widths, faces.heights) >= self.config.min_face_size]
        timings["detect"] += time.perf_counter() - t
        t = time.perf_counter()
        chips = self._chips(image, faces)
        timings["align"] += time.perf_counter() - t
        bodies = Detections.empty(with_landmarks=False)
        if self.models.body_detector is not None:
            t = time.perf_counter()
            bodies = self.models.body_detector.detect(image)
            timings["body_detect"] += time.perf_counter() - t
        face_body = associate_faces(faces.boxes, bodies.boxes) if len(bodies) else np.full(len(faces), -1)
        inputs, ok = None, np.zeros(0, bool)
        if self.b.clothing is not None:
            t = time.perf_counter()
            inputs, ok = self._clothing(image, faces, bodies, face_body)
            timings["clothing_crop"] += time.perf_counter() - t
        jpegs = []
        if thumbs:
            t = time.perf_counter()
            size = self.config.thumb_size
            jpegs = [cv2.imencode(".jpg", crop_thumbnail(image, box, size), JPEG)[1].tobytes() for box in faces.boxes]
            jpegs += [cv2.imencode(".jpg", crop_thumbnail(image, box, size, aspect=2.0), JPEG)[1].tobytes()
                      for box in bodies.boxes]
            timings["thumbs"] += time.perf_counter() - t
        light = Frame(frame.index, frame.time_s, frame.shot, None)
        return FrameWork(light, resume, faces, chips, bodies, face_body, inputs, ok, jpegs, dict(timings))

    def _chips(self, image, faces: Detections) -> np.ndarray:
        embedder = self.b.face_embedder
        chips = embedder.chips(image, faces)
        if self.models.upscaler is not None and len(faces):
            for small in self.models.upscaler.upscale_faces(image, faces):
                chips[small.index] = embedder.chips(small.image, small.detections)[0]
        return chips

    def _clothing(self, image, faces: Detections, bodies: Detections, face_body: np.ndarray):
        """Regions: every body (its torso, or the whole body for re-ID models), then every face no body
        holds (a region estimated from the face). A face in a body shares the body's vector later."""
        shape = image.shape
        clothing = self.b.clothing
        if clothing.WHOLE_BODY:
            pboxes, pok = bodies.boxes.copy(), np.ones(len(bodies), bool)
            fboxes, fok = body_boxes_from_faces(faces.boxes, shape)
        else:
            pboxes, pok = clothing_boxes_from_persons(faces_per_person(faces.boxes, face_body, len(bodies)),
                                                      bodies.boxes, shape)
            fboxes, fok = clothing_boxes_from_faces(faces.boxes, shape)
        lone = face_body < 0
        boxes = np.concatenate([pboxes, fboxes[lone]]).reshape(-1, 4)
        wanted = np.concatenate([pok, fok[lone]]).astype(bool)
        idx = np.flatnonzero(wanted)
        inputs, ok_sub = clothing.crops(image, boxes[idx])
        ok = np.zeros(len(boxes), bool)
        ok[idx[np.asarray(ok_sub, bool)]] = True
        return inputs, ok
