"""Everything the pipeline learns from one sampled frame: faces (boxes, landmarks, embeddings, small ones
upscaled first), persons, and a clothing vector for every face and person."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .backends import create_clothing_embedder, create_detector, create_embedder, create_body_detector
from .config import Config
from .persons import (associate_faces, body_boxes_from_faces, clothing_boxes_from_faces, clothing_boxes_from_persons,
                      faces_per_person)
from .types import Detections


@dataclass
class FrameAnalysis:
    faces: Detections
    face_embeddings: np.ndarray  # (F, D) unit rows
    persons: Detections  # (P,) person boxes; empty without a person detector
    face_person: np.ndarray  # (F,) index into persons or -1
    face_clothing: np.ndarray | None  # (F, C) clothing vector per face, None without a clothing embedder
    person_clothing: np.ndarray | None  # (P, C)
    face_clothing_ok: np.ndarray  # (F,) bool: the clothing region was visible enough to embed
    person_clothing_ok: np.ndarray  # (P,) bool


class FrameAnalyzer:
    def __init__(self, config: Config):
        self.config = config
        self.face_detector = create_detector(config.face_detector, config)
        self.face_embedder = create_embedder(config.face_embedder, config)
        self.body_detector = create_body_detector(config.body_detector, config) if config.body_detector \
            else None
        self.clothing = create_clothing_embedder(config.clothing_embedder, config) if config.clothing_embedder \
            else None
        self.upscaler = None
        if config.upscale:
            from .enhance.superres import Upscaler

            self.upscaler = Upscaler(config.upscale, config)
        self.timings: dict[str, float] = defaultdict(float)

    @property
    def models(self) -> list:
        parts = [self.face_detector, self.face_embedder, self.body_detector, self.clothing, self.upscaler]
        return [m for p in parts if p is not None for m in p.models]

    def _timed(self, stage: str, func, *args):
        t = time.perf_counter()
        out = func(*args)
        self.timings[stage] += time.perf_counter() - t
        return out

    def analyze(self, image: np.ndarray) -> FrameAnalysis:
        cfg = self.config
        faces = self._timed("detect", self.face_detector.detect, image)
        if len(faces) and cfg.min_face_size:
            faces = faces[np.minimum(faces.widths, faces.heights) >= cfg.min_face_size]
        emb = self._timed("embed", self._embed_faces, image, faces)
        persons = Detections.empty(with_landmarks=False)
        if self.body_detector is not None:
            persons = self._timed("person_detect", self.body_detector.detect, image)
        face_person = associate_faces(faces.boxes, persons.boxes) if len(persons) else np.full(len(faces), -1)
        result = FrameAnalysis(faces, emb, persons, face_person, None, None, np.zeros(len(faces), bool),
                               np.zeros(len(persons), bool))
        if self.clothing is not None:
            self._timed("clothing", self._clothing, image, result)
        return result

    def _embed_faces(self, image: np.ndarray, faces: Detections) -> np.ndarray:
        if not len(faces):
            return np.zeros((0, self.face_embedder.DIM), np.float32)
        emb = self.face_embedder.embed(image, faces)
        if self.upscaler is not None:
            for small in self.upscaler.upscale_faces(image, faces):
                emb[small.index] = self.face_embedder.embed(small.image, small.detections)[0]
        return emb

    def _clothing(self, image: np.ndarray, r: FrameAnalysis) -> None:
        """Persons: torso under their face (or the upper-middle of the box); faces: their person's torso,
        or a face-anchored box when no person box holds them. Re-ID models get whole bodies instead.
        One embedder call for all regions."""
        shape = image.shape
        if getattr(self.clothing, "WHOLE_PERSON", False):
            pboxes, pok = r.persons.boxes.copy(), np.ones(len(r.persons), bool)
            fboxes, fok = body_boxes_from_faces(r.faces.boxes, shape)
        else:
            pboxes, pok = clothing_boxes_from_persons(
                faces_per_person(r.faces.boxes, r.face_person, len(r.persons)), r.persons.boxes, shape)
            fboxes, fok = clothing_boxes_from_faces(r.faces.boxes, shape)
        linked = r.face_person >= 0
        boxes = np.concatenate([pboxes, fboxes[~linked]])
        vectors = self.clothing.embed(image, Detections(boxes, np.ones(len(boxes), np.float32)))
        r.person_clothing = vectors[: len(pboxes)]
        r.face_clothing = np.zeros((len(fboxes), vectors.shape[1]), np.float32)
        r.face_clothing[~linked] = vectors[len(pboxes):]
        r.face_clothing[linked] = r.person_clothing[r.face_person[linked]]
        fok[linked] = pok[r.face_person[linked]]
        r.person_clothing_ok, r.face_clothing_ok = pok, fok
