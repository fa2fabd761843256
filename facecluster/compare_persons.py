"""Compare two people crops: two detections of a run (by id) or two crop images, with the face and the
clothing evidence scored separately and combined the way clustering combines them.

A sub-score is a cosine similarity in [-1, 1] plus its distance relative to the embedder's same-person
distance (< 1 = looks like the same person); it is None when that evidence is missing (no face found,
clothing not visible, no clothing embedder).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import Config
from .errors import ConfigError, InputError
from .grouping import Fusion
from .types import Detections, l2_normalize


def _sub(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None or np.isnan(a).any() or np.isnan(b).any():
        return None
    return float(l2_normalize(a) @ l2_normalize(b))


def _scores(face: float | None, clothing: float | None, fusion: Fusion) -> dict:
    """Face and clothing sub-scores and the verdict, by the rule grouping uses (grouping.evidence)."""
    pair = fusion.pair(face, clothing)

    def sub(sim, z):
        return None if sim is None else {"similarity": round(sim, 4), "relative_distance": round(z, 4)}

    z = pair["relative_distance"]
    return {"face": sub(face, pair["face_z"]), "clothing": sub(clothing, pair["clothing_z"]),
            "relative_distance": None if z is None else round(z, 4), "same_person": pair["same_person"]}


def compare_detections(folder, a: int, b: int) -> dict:
    """Sub-scores of two detection ids of a run (face rows use their face and clothing vectors; body rows
    their clothing and the face seen with them)."""
    from .results.search import _load, vectors_by_row
    from .results.state import grouping_options

    stored, config = _load(folder)
    table = stored.table
    faces, clothing = vectors_by_row(stored, "face"), vectors_by_row(stored, "clothing")
    vectors = []
    for det in (a, b):
        if not 0 <= det < len(table):
            raise ConfigError(f"no detection {det} in {folder}; detection ids are 0..{len(table) - 1}")
        row = det if table.is_face[det] or table.face_detection_id[det] < 0 else int(table.face_detection_id[det])
        vectors.append((None if faces is None else faces[row], None if clothing is None else clothing[det]))
    fusion = grouping_options(config, stored.extraction)[0].fusion
    return {"a": a, "b": b, **_scores(_sub(vectors[0][0], vectors[1][0]), _sub(vectors[0][1], vectors[1][1]), fusion)}


def _read(path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if Path(path).is_file() else None
    if image is None or image.size == 0:
        raise InputError(f"cannot read image {path}; give a jpg, png, bmp or webp crop of a person")
    return image


def compare_crops(image_a, image_b, config: Config | None = None) -> dict:
    """Sub-scores of two person crops (paths or BGR arrays): the largest face in each (face detector +
    embedder of `config`) and the whole crop as the person's clothing (config's clothing embedder, or the
    colour histogram when none is set)."""
    from . import registry

    config = config or Config()
    images = [img if isinstance(img, np.ndarray) else _read(img) for img in (image_a, image_b)]
    detector = registry.create("face-detector", config.face_detector, registry.options_for("face-detector", config))
    embedder = registry.create("face-embedder", config.face_embedder, registry.options_for("face-embedder", config))
    clothing = registry.create("clothing-embedder", config.clothing_embedder or "hsv-hist",
                               registry.options_for("clothing-embedder", config))
    face_vectors, cloth_vectors = [], []
    for image in images:
        found = detector.detect(image)
        face_vectors.append(embedder.embed(image, found[int(np.argmax(found.widths))])[0] if len(found) else None)
        h, w = image.shape[:2]
        whole = Detections(np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32))
        cloth_vectors.append(clothing.embed(image, whole)[0])
    fusion = Fusion(config.cluster_distance or embedder.SAME_PERSON_DISTANCE, clothing.SAME_PERSON_DISTANCE,
                    config.clothing_weight, config.clothing_veto)
    return _scores(_sub(face_vectors[0], face_vectors[1]), _sub(cloth_vectors[0], cloth_vectors[1]), fusion)
