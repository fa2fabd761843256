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
from .errors import InputError
from .types import Detections, l2_normalize


def _sub(a: np.ndarray | None, b: np.ndarray | None, same_distance: float | None) -> dict | None:
    if a is None or b is None or not same_distance:
        return None
    sim = float(l2_normalize(a) @ l2_normalize(b))
    return {"similarity": round(sim, 4), "relative_distance": round((1 - sim) / same_distance, 4)}


def _verdict(face: dict | None, clothing: dict | None, weight: float) -> dict:
    if face and clothing:
        z = (1 - weight) * face["relative_distance"] + weight * clothing["relative_distance"]
    elif face or clothing:
        z = (face or clothing)["relative_distance"]
    else:
        return {"relative_distance": None, "same_person": None}
    return {"relative_distance": round(z, 4), "same_person": bool(z < 1.0)}


def compare_detections(folder, a: int, b: int) -> dict:
    """Sub-scores of two detection ids of a run (face rows use their face and clothing vectors; body rows
    their clothing and the face seen with them)."""
    from .results.outdir import load
    from .results.search import _unknown_detection, _vectors_by_row

    out = load(folder)
    faces, clothing = _vectors_by_row(out, out.faces), _vectors_by_row(out, out.clothing())
    row_of = {int(d): i for i, d in enumerate(out.table["detection_id"])}
    vectors = []
    for det in (a, b):
        if det not in row_of:
            raise _unknown_detection(out, det)
        row = row_of[det]
        face = faces.get(row)
        link = int(out.table.get("face_detection_id", np.full(row + 1, -1))[row])
        if face is None and link >= 0:
            face = faces.get(row_of.get(link, -1))
        vectors.append((face, clothing.get(row)))
    face = _sub(vectors[0][0], vectors[1][0], out.same_person_distance)
    cloth = _sub(vectors[0][1], vectors[1][1], out.clothing_same_person_distance)
    return {"a": a, "b": b, "face": face, "clothing": cloth} | _verdict(face, cloth, out.config.clothing_weight)


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
    from .backends import create_clothing_embedder, create_detector, create_embedder

    config = config or Config()
    images = [img if isinstance(img, np.ndarray) else _read(img) for img in (image_a, image_b)]
    detector = create_detector(config.face_detector, config)
    embedder = create_embedder(config.face_embedder, config)
    clothing = create_clothing_embedder(config.clothing_embedder or "hsv-hist", config)
    face_vectors, cloth_vectors = [], []
    for image in images:
        found = detector.detect(image)
        face_vectors.append(embedder.embed(image, found[int(np.argmax(found.widths))])[0] if len(found) else None)
        h, w = image.shape[:2]
        whole = Detections(np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32))
        cloth_vectors.append(clothing.embed(image, whole)[0])
    face_distance = config.cluster_distance or embedder.SAME_PERSON_DISTANCE
    face = _sub(face_vectors[0], face_vectors[1], face_distance)
    cloth = _sub(cloth_vectors[0], cloth_vectors[1], clothing.SAME_PERSON_DISTANCE)
    return {"face": face, "clothing": cloth} | _verdict(face, cloth, config.clothing_weight)
