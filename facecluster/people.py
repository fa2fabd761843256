"""Per-person summaries (people.json): counts, first/last seen, screen time, representative face."""

from __future__ import annotations

import numpy as np

from .types import l2_normalize


def summarize_people(table: dict[str, np.ndarray], embeddings: np.ndarray, fps: float,
                     thumbs_rel: str | None, names: dict[int, str] | None = None) -> list[dict]:
    """Screen time = distinct sampled frames showing the person x the sampling interval (1/fps)."""
    person = np.asarray(table["person_id"])
    people = []
    for pid in sorted(int(p) for p in np.unique(person) if p >= 0):
        idx = np.flatnonzero(person == pid)
        times = np.asarray(table["time_s"])[idx]
        side = np.minimum(table["x2"][idx] - table["x1"][idx], table["y2"][idx] - table["y1"][idx])
        rep = idx[0]
        if len(embeddings):
            sim = embeddings[idx] @ l2_normalize(embeddings[idx].sum(0))
            big_enough = side >= 0.5 * side.max()
            rep = idx[np.argmax(np.where(big_enough, sim, -2.0))]
        det_id = int(table["detection_id"][rep])
        people.append({
            "id": pid,
            "name": (names or {}).get(pid),
            "detections": int(len(idx)),
            "tracks": int(len(np.unique(table["track_id"][idx]))),
            "first_seen_s": round(float(times.min()), 3),
            "last_seen_s": round(float(times.max()), 3),
            "screen_time_s": round(len(np.unique(table["frame_index"][idx])) / fps, 3),
            "representative_detection_id": det_id,
            "thumbnail": f"{thumbs_rel}/{det_id}.jpg" if thumbs_rel else None,
        })
    return people
