"""find (who is the face in this photo?) and similar (where else does this face, or this body, appear?).

Why the run's own detector and embedder: embeddings of different models are not comparable, so a photo
must be embedded exactly like the video was (backend, model, settings from the stored config), and the
answer uses the run's own same-person distance, so "nobody" means what the clustering means by it.
Why `similar` on a body (person row) ranks by clothing, with faces only as extra evidence: a body has no
face vector of its own, and the clothing space is the one the run used to place faceless units.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError
from ..types import l2_normalize
from .outdir import RunOutput, aligned_embeddings, load
from .recluster import embedder_default_distance

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
    """[start, end] intervals (seconds) when the person is on screen (face or body), joining samples
    < gap_s apart."""
    rows = np.asarray(out.table["person_id"]) == person_id
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


def _unknown_detection(out: RunOutput, detection_id: int) -> ConfigError:
    ids = np.asarray(out.table["detection_id"])
    if not len(out.person_rows):
        det_ids = ids[out.face_rows]
        if not len(det_ids):
            return ConfigError(f"no face detection {detection_id}: {out.folder} has no face detections")
        return ConfigError(f"no face detection {detection_id} in {out.folder}; face detection ids are in "
                           f"{det_ids.min()}..{det_ids.max()} (see detections.csv or the face tooltips in "
                           f"report.html)")
    return ConfigError(f"no detection {detection_id} in {out.folder}; detection ids (face and body rows) are in "
                       f"{ids.min()}..{ids.max()} (see detections.csv or the tooltips in report.html)")


def similar(folder, detection_id: int, top: int = 10) -> dict:
    """The `top` detections most like this one outside its own unit (track), best first.

    A face detection is compared with the other faces (face similarity) and, when the run stored a
    'clothing' embedding space, each result has a clothing similarity too. A person (body) detection is
    compared with the other bodies (and faces seen without a body) by clothing, and by face too when its
    unit has faces: results are ranked by the distance relative to each space's same-person distance,
    mixed with the run's clothing_weight where both exist."""
    out = load(folder)
    ids = np.asarray(out.table["detection_id"])
    hit = np.flatnonzero(ids == int(detection_id))
    if len(hit) == 0:
        raise _unknown_detection(out, detection_id)
    if out.kind[hit[0]] == "person":
        return _similar_body(out, int(hit[0]), top)
    if not len(out.face_rows):
        raise _unknown_detection(out, detection_id)
    det_ids = ids[out.face_rows]
    q = int(np.flatnonzero(det_ids == int(detection_id))[0])
    col = {k: np.asarray(v)[out.face_rows] for k, v in out.table.items()}
    sims = out.emb @ out.emb[q]
    sims[col["track_id"] == col["track_id"][q]] = -np.inf
    ranked = [i for i in np.argsort(-sims)[:top] if np.isfinite(sims[i])]
    clothing = _clothing_scores(out, det_ids, q, ranked)
    names = {p["id"]: p.get("name") for p in out.people}
    results = []
    for rank, i in enumerate(ranked):
        pid = int(col["person_id"][i])
        results.append({"detection_id": int(det_ids[i]), "kind": "face", "time_s": float(col["time_s"][i]),
                        "frame_index": int(col["frame_index"][i]), "track_id": int(col["track_id"][i]),
                        "person_id": pid, "name": names.get(pid), "face_similarity": round(float(sims[i]), 4),
                        "clothing_similarity": clothing[rank], "thumbnail": f"thumbs/faces/{int(det_ids[i])}.jpg"})
    return {"detection_id": int(detection_id), "kind": "face", "person_id": int(col["person_id"][q]),
            "track_id": int(col["track_id"][q]), "time_s": float(col["time_s"][q]), "results": results}


def _vectors_by_row(out: RunOutput, space) -> dict[int, np.ndarray]:
    """table row -> unit-length vector of an embedding space (ids, vectors); rows without one are absent."""
    if space is None or len(space[0]) == 0:
        return {}
    row_of = {int(d): i for i, d in enumerate(np.asarray(out.table["detection_id"]))}
    ids, vectors = space
    vectors = l2_normalize(np.asarray(vectors, np.float32))
    return {row_of[int(d)]: v for d, v in zip(ids, vectors) if int(d) in row_of}


def _similar_body(out: RunOutput, q: int, top: int) -> dict:
    t = {k: np.asarray(v) for k, v in out.table.items()}
    kind, unit = out.kind, t["track_id"]
    face = dict(zip(out.face_rows.tolist(), out.emb))
    cloth = _vectors_by_row(out, out.clothing())
    row_of = {int(d): i for i, d in enumerate(t["detection_id"])}
    no_link = np.full(len(unit), -1)
    linked, body_of = t.get("face_detection_id", no_link), t.get("person_detection_id", no_link)

    def face_of(row):  # the face seen with this body (or this face row's own vector)
        if kind[row] == "face":
            return face.get(row)
        r = row_of.get(int(linked[row]), -1)
        return face.get(r)

    mine = np.flatnonzero(unit == unit[q])
    q_face = face_of(q)
    if q_face is None:
        own = [face[r] for r in mine if r in face]
        q_face = l2_normalize(np.sum(own, axis=0)) if own else None
    q_cloth = cloth.get(q)
    if q_cloth is None and q_face is None:
        why = ("the run stored no clothing vectors (run with --clothing-embedder hsv-hist or reid)"
               if not cloth else "this body has no clothing vector (too small or cut by the frame edge)")
        raise ConfigError(f"cannot compare detection {int(t['detection_id'][q])}: it is a body without a face "
                          f"and {why}; try another detection of person {int(t['person_id'][q])}")
    face_spd = out.same_person_distance
    cloth_spd = out.clothing_same_person_distance or 1.0
    w = out.config.clothing_weight
    # candidates: bodies, and faces seen without a body (one row per sighting), outside the query's unit
    candidates = np.flatnonzero(((kind == "person") | ((kind == "face") & (body_of < 0)))
                                & (unit != unit[q]))
    scored = []
    for r in candidates:
        f, c = face_of(r), cloth.get(r)
        fs = float(f @ q_face) if f is not None and q_face is not None else None
        cs = float(c @ q_cloth) if c is not None and q_cloth is not None else None
        if fs is None and cs is None:
            continue
        fz = (1.0 - fs) / face_spd if fs is not None else None
        cz = (1.0 - cs) / cloth_spd if cs is not None else None
        z = (1 - w) * fz + w * cz if fz is not None and cz is not None else (fz if fz is not None else cz)
        scored.append((z, int(r), fs, cs))
    scored.sort()
    names = {p["id"]: p.get("name") for p in out.people}
    results = []
    for z, r, fs, cs in scored[:top]:
        pid, det = int(t["person_id"][r]), int(t["detection_id"][r])
        results.append({"detection_id": det, "kind": str(kind[r]), "time_s": float(t["time_s"][r]),
                        "frame_index": int(t["frame_index"][r]), "track_id": int(unit[r]), "person_id": pid,
                        "name": names.get(pid), "face_similarity": None if fs is None else round(fs, 4),
                        "clothing_similarity": None if cs is None else round(cs, 4),
                        "relative_distance": round(float(z), 4),
                        "thumbnail": f"thumbs/{'faces' if kind[r] == 'face' else 'persons'}/{det}.jpg"})
    return {"detection_id": int(t["detection_id"][q]), "kind": "person", "person_id": int(t["person_id"][q]),
            "track_id": int(unit[q]), "time_s": float(t["time_s"][q]), "results": results}


def _clothing_scores(out: RunOutput, det_ids: np.ndarray, q: int, ranked: list[int]) -> list[float | None]:
    """Cosine similarity of the 'clothing' vectors stored under the same detection ids (None if absent)."""
    if not ranked:
        return []
    space = out.clothing()
    if space is None:
        return [None] * len(ranked)
    ids, vectors = space
    known = set(ids.tolist())
    wanted = [int(det_ids[q])] + [int(det_ids[i]) for i in ranked]
    if wanted[0] not in known:
        return [None] * len(ranked)
    present = np.array(sorted({w for w in wanted if w in known}), np.int64)
    rows = dict(zip(present.tolist(), l2_normalize(aligned_embeddings(present, ids, vectors))))
    query = rows[wanted[0]]
    return [round(float(rows[w] @ query), 4) if w in rows else None for w in wanted[1:]]
