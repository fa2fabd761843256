"""find (who is the face in this photo?) and similar (where else does this face appear?).

Why the run's own detector and embedder: embeddings of different models are not comparable, so a photo
must be embedded exactly like the video was (backend, model, settings from the stored config), and the
answer uses the run's own same-person distance, so "nobody" means what the clustering means by it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError
from ..types import l2_normalize
from .outdir import RunOutput, aligned_embeddings, has_space, load
from .recluster import embedder_default_distance
from .. import store

log = logging.getLogger("facecluster")


def _read_photo(photo) -> np.ndarray:
    import cv2

    path = Path(photo)
    if not path.is_file():
        raise InputError(f"photo not found: {path}; give the path of a jpg/png/webp photo of a face")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read {path} as an image; give a jpg, png, bmp or webp photo")
    return image


def person_means(out: RunOutput) -> tuple[list[dict], np.ndarray]:
    """(people, (P, D) unit mean face embedding of each person)."""
    person = np.asarray(out.table["person_id"])[out.face_rows]
    people = [p for p in out.people if (person == p["id"]).any()]
    means = [l2_normalize(out.emb[person == p["id"]].sum(0)) for p in people]
    return people, np.array(means, np.float32).reshape(len(people), out.emb.shape[1])


def _appearances(out: RunOutput, person_id: int, gap_s: float) -> list[list[float]]:
    """[start, end] intervals (seconds) when the person is on screen, joining samples < gap_s apart."""
    rows = out.face_rows[np.asarray(out.table["person_id"])[out.face_rows] == person_id]
    times = np.unique(np.asarray(out.table["time_s"])[rows])
    if len(times) == 0:
        return []
    cuts = np.flatnonzero(np.diff(times) > gap_s) + 1
    return [[round(float(t[0]), 3), round(float(t[-1]), 3)] for t in np.split(times, cuts)]


def _match(out: RunOutput, person: dict, similarity: float) -> dict:
    return {"person_id": person["id"], "name": person.get("name"), "similarity": round(float(similarity), 4),
            "distance": round(1.0 - float(similarity), 4), "first_seen_s": person["first_seen_s"],
            "last_seen_s": person["last_seen_s"], "screen_time_s": person["screen_time_s"],
            "appearances": _appearances(out, person["id"], 1.5 / out.config.fps),
            "thumbnail": person.get("thumbnail")}


def find(folder, photo_path, top: int = 3) -> dict:
    """Who is (are) the face(s) in the photo? One entry per face found (biggest first), each with up to
    `top` matching people under the run's same-person distance ([] = nobody) and the closest person."""
    from ..backends import create_detector, create_embedder

    out = load(folder)
    image = _read_photo(photo_path)
    config = out.config
    detector = create_detector(config.face_detector, config)
    dets = detector.detect(image)
    if len(dets) == 0:
        raise InputError(f"no face found in {photo_path}; use a photo where the face is frontal, sharp and at "
                         f"least ~40 px tall (crop it if the photo is large)")
    order = np.argsort(-(dets.widths * dets.heights))
    dets = dets[order]
    vectors = l2_normalize(create_embedder(config.face_embedder, config).embed(image, dets))
    people, means = person_means(out)
    threshold = embedder_default_distance(out)
    faces = []
    for box, v in zip(dets.boxes, vectors):
        sims = means @ v if len(people) else np.zeros(0)
        ranked = np.argsort(-sims)
        matches = [_match(out, people[i], sims[i]) for i in ranked[:top] if 1.0 - sims[i] < threshold]
        closest = _match(out, people[ranked[0]], sims[ranked[0]]) if len(ranked) else None
        faces.append({"box": [round(float(x), 1) for x in box], "matches": matches, "closest": closest})
    return {"photo": str(photo_path), "same_person_distance": threshold, "faces": faces}


def similar(folder, detection_id: int, top: int = 10) -> dict:
    """The `top` face detections most like this one outside its own track, best first. Each has the face
    similarity and, when the run stored a 'clothing' embedding space, a clothing similarity too."""
    out = load(folder)
    det_ids = np.asarray(out.table["detection_id"])[out.face_rows]
    hit = np.flatnonzero(det_ids == int(detection_id))
    if len(hit) == 0:
        if not len(det_ids):
            raise ConfigError(f"no face detection {detection_id}: {out.folder} has no face detections")
        raise ConfigError(f"no face detection {detection_id} in {out.folder}; face detection ids are in "
                          f"{det_ids.min()}..{det_ids.max()} (see detections.csv or the face tooltips in report.html)")
    q = hit[0]
    col = {k: np.asarray(v)[out.face_rows] for k, v in out.table.items()}
    sims = out.emb @ out.emb[q]
    sims[col["track_id"] == col["track_id"][q]] = -np.inf
    ranked = [i for i in np.argsort(-sims)[:top] if np.isfinite(sims[i])]
    clothing = _clothing_scores(out, det_ids, q, ranked)
    names = {p["id"]: p.get("name") for p in out.people}
    results = []
    for rank, i in enumerate(ranked):
        pid = int(col["person_id"][i])
        results.append({"detection_id": int(det_ids[i]), "time_s": float(col["time_s"][i]),
                        "frame_index": int(col["frame_index"][i]), "track_id": int(col["track_id"][i]),
                        "person_id": pid, "name": names.get(pid), "face_similarity": round(float(sims[i]), 4),
                        "clothing_similarity": clothing[rank], "thumbnail": f"thumbs/faces/{int(det_ids[i])}.jpg"})
    return {"detection_id": int(detection_id), "person_id": int(col["person_id"][q]),
            "track_id": int(col["track_id"][q]), "time_s": float(col["time_s"][q]), "results": results}


def _clothing_scores(out: RunOutput, det_ids: np.ndarray, q: int, ranked: list[int]) -> list[float | None]:
    """Cosine similarity of the 'clothing' vectors stored under the same detection ids (None if absent)."""
    if not ranked or not has_space(out.folder, "clothing"):
        return [None] * len(ranked)
    ids, vectors = store.read_embeddings(out.folder, "clothing")
    known = set(ids.tolist())
    wanted = [int(det_ids[q])] + [int(det_ids[i]) for i in ranked]
    if wanted[0] not in known:
        return [None] * len(ranked)
    present = np.array(sorted({w for w in wanted if w in known}), np.int64)
    rows = dict(zip(present.tolist(), l2_normalize(aligned_embeddings(present, ids, vectors))))
    query = rows[wanted[0]]
    return [round(float(rows[w] @ query), 4) if w in rows else None for w in wanted[1:]]
