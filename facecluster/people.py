"""Per-person summaries (people.json): counts, first/last seen, screen time, representative image."""

from __future__ import annotations

import numpy as np

from .types import l2_normalize


def summarize_people(table: dict[str, np.ndarray], faces: tuple[np.ndarray, np.ndarray], fps: float,
                     thumbs_rel: str | None, names: dict[int, str] | None = None) -> list[dict]:
    """Screen time = distinct sampled frames showing the person (face or body) x the sampling interval.

    The representative image is the face closest to the person's mean face among the larger ones; a person
    seen only from behind gets their largest body crop.
    """
    person = np.asarray(table["person_id"])
    kind = np.asarray(table["kind"]).astype(str)
    face_ids, vectors = faces
    vector_of = {int(d): i for i, d in enumerate(face_ids)}
    people = []
    for pid in sorted(int(p) for p in np.unique(person) if p >= 0):
        idx = np.flatnonzero(person == pid)
        face_rows = idx[kind[idx] == "face"]
        rows = face_rows if len(face_rows) else idx
        times = np.asarray(table["time_s"])[idx]
        side = np.minimum(table["x2"][rows] - table["x1"][rows], table["y2"][rows] - table["y1"][rows])
        rep = rows[np.argmax(side)]
        known = [vector_of.get(int(table["detection_id"][r]), -1) for r in face_rows]
        if len(face_rows) and min(known) >= 0:
            emb = vectors[known]
            sim = emb @ l2_normalize(emb.sum(0))
            rep = face_rows[np.argmax(np.where(side >= 0.5 * side.max(), sim, -2.0))]
        det_id = int(table["detection_id"][rep])
        folder = "faces" if len(face_rows) else "persons"
        people.append({
            "id": pid,
            "name": (names or {}).get(pid),
            "detections": int(len(face_rows)),
            "person_detections": int(len(idx) - len(face_rows)),
            "tracks": int(len(np.unique(table["track_id"][idx]))),
            "first_seen_s": round(float(times.min()), 3),
            "last_seen_s": round(float(times.max()), 3),
            "screen_time_s": round(len(np.unique(table["frame_index"][idx])) / fps, 3),
            "representative_detection_id": det_id,
            "thumbnail": f"{thumbs_rel}/{folder}/{det_id}.jpg" if thumbs_rel else None,
        })
    return people
