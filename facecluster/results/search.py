"""find (who is the face in this photo?) and similar (where else does this face, or this body, appear?).

Why the run's own detector and embedder: embeddings of different models are not comparable, so a photo
is embedded exactly like the video was (backend, model, settings from the stored config), and the answer
uses the run's own cut, so "nobody" means what the grouping means by it. Scores of `similar` are the same
fused face+clothing evidence grouping uses (grouping.evidence.Fusion), so a result ranked as "same person"
here is one grouping would also have joined.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import registry
from ..config import Config
from ..errors import ConfigError, InputError
from ..people import appearance_intervals
from ..runfolder import RunFolder, StoredRun, thumbnail
from ..types import l2_normalize
from .state import effective_config, grouping_options

log = logging.getLogger(__name__)


def _read_photo(photo) -> np.ndarray:
    import cv2

    path = Path(photo)
    if not path.is_file():
        raise InputError(f"photo not found: {path}; give the path of a jpg/png/webp photo of a face")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read {path} as an image; give a jpg, png, bmp or webp photo")
    return image


def vectors_by_row(stored: StoredRun, space: str) -> np.ndarray | None:
    """(N, D) unit vector per table row of a stored space, NaN rows where a row has none."""
    data = stored.extraction.spaces.get(space)
    if data is None or not len(data[0]):
        return None
    out = np.full((len(stored.table), data[1].shape[1]), np.nan, np.float32)
    out[data[0]] = l2_normalize(data[1])
    return out


def person_means(stored: StoredRun) -> tuple[list[dict], np.ndarray]:
    """(people with faces, (P, D) unit mean face vector of each)."""
    faces = stored.extraction.faces
    person = stored.table.person_id[faces[0]] if faces is not None else np.zeros(0, np.int64)
    people = [p for p in stored.people if (person == p["id"]).any()]
    dim = faces[1].shape[1] if faces is not None else 0
    means = [l2_normalize(faces[1][person == p["id"]].sum(0)) for p in people]
    return people, np.array(means, np.float32).reshape(len(people), dim)


def _match(stored: StoredRun, person: dict, similarity: float, step: float) -> dict:
    rows = stored.table.person_id == person["id"]
    return {"person_id": person["id"], "name": person.get("name"), "similarity": round(float(similarity), 4),
            "distance": round(1.0 - float(similarity), 4), "first_seen_s": person["first_seen_s"],
            "last_seen_s": person["last_seen_s"], "screen_time_s": person["screen_time_s"],
            "appearances": appearance_intervals(stored.table.time_s[rows], step),
            "thumbnail": person.get("thumbnail")}


def _load(folder) -> tuple[StoredRun, Config]:
    rf = RunFolder(folder)
    with rf.reading():
        stored = rf.load()
    return stored, effective_config(stored.extraction, stored.manifest)


def find(folder, photo_path, top: int = 3) -> dict:
    """Who is (are) the face(s) in the photo? One entry per face found (biggest first), each with up to
    `top` matching people under the run's cut ([] = nobody) and the closest person."""
    stored, config = _load(folder)
    image = _read_photo(photo_path)
    detector = registry.create("face-detector", config.face_detector, registry.options_for("face-detector", config))
    dets = detector.detect(image)
    if len(dets) == 0:
        raise InputError(f"no face found in {photo_path}; use a photo where the face is frontal, sharp and at "
                         f"least ~40 px tall (crop it if the photo is large)")
    dets = dets[np.argsort(-(dets.widths * dets.heights))]
    embedder = registry.create("face-embedder", config.face_embedder, registry.options_for("face-embedder", config))
    vectors = l2_normalize(embedder.embed(image, dets))
    people, means = person_means(stored)
    cut = grouping_options(config, stored.extraction)[0].fusion.face_cut
    step = 1.0 / config.fps
    faces = []
    for box, v in zip(dets.boxes, vectors):
        sims = means @ v if len(people) else np.zeros(0)
        ranked = np.argsort(-sims)
        matches = [_match(stored, people[i], sims[i], step) for i in ranked[:top] if 1.0 - sims[i] < cut]
        closest = _match(stored, people[ranked[0]], sims[ranked[0]], step) if len(ranked) else None
        faces.append({"box": [round(float(x), 1) for x in box], "matches": matches, "closest": closest})
    return {"photo": str(photo_path), "same_person_distance": cut, "faces": faces}


def similar(folder, detection_id: int, top: int = 10) -> dict:
    """The `top` sightings most like this one outside its own unit, best first, ranked by the fused
    relative distance grouping uses. A face is compared by its face (plus clothing where both have it);
    a body by the face seen with it (or its unit's faces) and its clothing. Each result carries the face
    and clothing similarities and the fused relative distance (< 1 = the same person to the grouping)."""
    stored, config = _load(folder)
    table = stored.table
    if not 0 <= detection_id < len(table):
        raise ConfigError(f"no detection {detection_id} in {folder}; detection ids are 0..{len(table) - 1} "
                          f"(see detections.csv or the tooltips in report.html)")
    fusion = grouping_options(config, stored.extraction)[0].fusion
    face = vectors_by_row(stored, "face")
    cloth = vectors_by_row(stored, "clothing")
    # a body row is compared by the face seen inside it
    face_of = np.arange(len(table))
    linked = table.face_detection_id >= 0
    face_of[linked] = table.face_detection_id[linked]
    q = detection_id
    q_face = face[face_of[q]] if face is not None else None
    if q_face is not None and np.isnan(q_face).any():
        own = face[(table.unit_id == table.unit_id[q]) & table.is_face] if face is not None else np.zeros((0, 1))
        own = own[~np.isnan(own).any(1)]
        q_face = l2_normalize(own.sum(0)) if len(own) else None
    q_cloth = cloth[q] if cloth is not None and not np.isnan(cloth[q]).any() else None
    if q_face is None and q_cloth is None:
        why = ("the run stored no clothing vectors (run with --clothing-embedder hsv-hist or reid)"
               if cloth is None else "it has no clothing vector (too small or cut by the frame edge)")
        raise ConfigError(f"cannot compare detection {detection_id}: it is a body without a face and {why}; try "
                          f"another detection of person {int(table.person_id[q])}")
    # candidates: faces, and bodies never seen with a face, outside the query's unit
    candidates = np.flatnonzero((table.is_face | ~linked) & (table.unit_id != table.unit_id[q]))
    fs = face[face_of[candidates]] @ q_face if q_face is not None and face is not None else \
        np.full(len(candidates), np.nan)
    cs = cloth[candidates] @ q_cloth if q_cloth is not None else np.full(len(candidates), np.nan)
    fz, cz = fusion.face(1.0 - fs), fusion.clothing(1.0 - cs)
    z = np.where(np.isnan(fz), cz, fusion.fuse(fz, np.where(np.isnan(cz), np.nan, cz)))
    keep = np.isfinite(z)
    candidates, fs, cs, z = candidates[keep], fs[keep], cs[keep], z[keep]
    order = np.argsort(z, kind="stable")[:top]
    names = {p["id"]: p.get("name") for p in stored.people}
    results = []
    for i in order.tolist():
        r = int(candidates[i])
        pid = int(table.person_id[r])
        results.append({"detection_id": r, "kind": str(table.kind[r]), "time_s": float(table.time_s[r]),
                        "frame_index": int(table.frame_index[r]), "track_id": int(table.track_id[r]),
                        "unit_id": int(table.unit_id[r]), "person_id": pid, "name": names.get(pid),
                        "face_similarity": None if np.isnan(fs[i]) else round(float(fs[i]), 4),
                        "clothing_similarity": None if np.isnan(cs[i]) else round(float(cs[i]), 4),
                        "relative_distance": round(float(z[i]), 4),
                        "thumbnail": thumbnail(str(table.kind[r]), r)})
    return {"detection_id": detection_id, "kind": str(table.kind[q]), "person_id": int(table.person_id[q]),
            "track_id": int(table.track_id[q]), "unit_id": int(table.unit_id[q]), "time_s": float(table.time_s[q]),
            "results": results}
