"""Per-person summaries (the entries of people.json): counts, units, appearance intervals, screen time
and share, representative sighting. One pass over the rows sorted by person: O(rows log rows)."""

from __future__ import annotations

import numpy as np

from .runfolder.layout import thumbnail
from .table import RunTable
from .types import l2_normalize


def appearance_intervals(times: np.ndarray, step: float) -> list[list[float]]:
    """[start, end) seconds on screen: sampled times less than 1.5 sampling steps apart are one stretch,
    each sample covering one step."""
    times = np.unique(times)
    if not len(times):
        return []
    cuts = np.flatnonzero(np.diff(times) > 1.5 * step) + 1
    return [[round(float(t[0]), 3), round(float(t[-1] + step), 3)] for t in np.split(times, cuts)]


def summarize_people(table: RunTable, unit_person: np.ndarray, faces, fps: float, duration_s: float,
                     names: dict[int, str] | None = None, name_sources: dict[int, str] | None = None
                     ) -> list[dict]:
    """One entry per person id in unit_person (ascending). `faces` = (detection ids, vectors) of the face
    space (for the representative face: the one closest to the person's mean among the larger faces; a
    person seen only as a body gets their largest body crop)."""
    step = 1.0 / fps
    person = unit_person[table.unit_id] if len(table) else np.zeros(0, np.int64)
    vector_row = np.full(len(table), -1, np.int64)
    if faces is not None and len(faces[0]):
        vector_row[faces[0]] = np.arange(len(faces[0]))
    side = np.minimum(table.x2 - table.x1, table.y2 - table.y1)
    order = np.argsort(person, kind="stable")
    ids = np.unique(person[person >= 0])
    bounds = np.searchsorted(person[order], np.stack([ids, ids + 1], 1)) if len(ids) else np.zeros((0, 2), int)
    units_of = {}
    for u, p in enumerate(unit_person.tolist()):
        if p >= 0:
            units_of.setdefault(p, []).append(u)
    out = []
    for pid, (lo, hi) in zip(ids.tolist(), bounds.tolist()):
        rows = order[lo:hi]
        face_rows = rows[table.is_face[rows]]
        pick = face_rows if len(face_rows) else rows
        rep = pick[np.argmax(side[pick])]
        with_vec = face_rows[vector_row[face_rows] >= 0]
        if len(with_vec):
            emb = faces[1][vector_row[with_vec]]
            sim = emb @ l2_normalize(emb.sum(0))
            big = side[with_vec] >= 0.5 * side[with_vec].max()
            rep = with_vec[np.argmax(np.where(big, sim, -2.0))]
        seen = np.unique(table.frame_index[rows])
        screen = len(seen) * step
        out.append({
            "id": pid,
            "name": (names or {}).get(pid),
            "name_source": (name_sources or {}).get(pid) if (names or {}).get(pid) else None,
            "faces": int(len(face_rows)),
            "bodies": int(len(rows) - len(face_rows)),
            "units": units_of.get(pid, []),
            "tracks": int(len(np.unique(table.track_id[rows]))),
            "first_seen_s": round(float(table.time_s[rows].min()), 3),
            "last_seen_s": round(float(table.time_s[rows].max()), 3),
            "screen_time_s": round(screen, 3),
            "screen_share": round(screen / duration_s, 4) if duration_s > 0 else None,
            "appearances": appearance_intervals(table.time_s[rows], step),
            "representative_detection_id": int(table.detection_id[rep]),
            "thumbnail": thumbnail(str(table.kind[rep]), int(table.detection_id[rep])),
        })
    return out
