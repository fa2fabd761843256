"""What the review app shows, as plain dicts built from the stored run (the pages render them with
autoescaped templates; the JSON API returns them as they are).

The stored run is read through RunFolder under its shared lock and kept while the folder does not change
(manifest.json, people.json and edits.json are each replaced by every commit, so their stat tells).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..text import fmt_time
from ..results.edits import active_edits
from ..results.suggest import suggestions
from ..runfolder import RunFolder, StoredRun, thumbnail
from ..runfolder.layout import EDITS, MANIFEST, PEOPLE

FACES_PER_UNIT = 8
BODIES_PER_UNIT = 3
FRAMES_PER_STRIP = 8
UNITS_SHOWN = 120
UNASSIGNED_SHOWN = 200


def label(person: dict) -> str:
    return person.get("name") or f"person {person['id']}"


def spread(rows: np.ndarray, k: int) -> np.ndarray:
    """k rows evenly over `rows` (all when there are fewer)."""
    if len(rows) <= k:
        return rows
    return rows[np.linspace(0, len(rows) - 1, k).round().astype(int)]


def by_unit(table, rows: np.ndarray) -> dict[int, np.ndarray]:
    """rows grouped by unit, each in time order (one sort, not one scan per unit)."""
    rows = rows[np.lexsort((rows, table.time_s[rows], table.unit_id[rows]))]
    units, starts = np.unique(table.unit_id[rows], return_index=True)
    return dict(zip(units.tolist(), np.split(rows, starts[1:]))) if len(rows) else {}


def _sighting(table, r: int) -> dict:
    kind = str(table.kind[r])
    return {"id": int(r), "kind": kind, "time_s": round(float(table.time_s[r]), 3), "time": fmt_time(table.time_s[r]),
            "thumb": "/" + thumbnail(kind, int(r)), "unit": int(table.unit_id[r]), "track": int(table.track_id[r])}


class Review:
    """One OUTDIR as the app sees it."""

    def __init__(self, folder, video: Path | None = None):
        self.folder = RunFolder(folder)
        self.video_override = Path(video) if video else None
        self._lock = threading.Lock()
        self._key = None
        self._stored: StoredRun | None = None
        self._derived: dict = {}

    # the stored run ------------------------------------------------------------------------------------
    def _stamp(self):
        out = []
        for name in (MANIFEST, PEOPLE, EDITS):
            try:
                st = (self.folder.path / name).stat()
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def stored(self) -> StoredRun:
        with self._lock:
            key = self._stamp()
            if self._stored is None or key != self._key:
                with self.folder.reading():
                    self._stored = self.folder.load()
                self._key = self._stamp()
                self._derived = {}
            return self._stored

    def _memo(self, name: str, make):
        stored = self.stored()
        with self._lock:
            if name not in self._derived:
                self._derived[name] = make(stored)
            return self._derived[name]

    def captions(self) -> bytes:
        """people.vtt of the current people, for the player's caption track (made once per state)."""
        from ..runfolder.documents import people_vtt

        return self._memo("captions", lambda stored: people_vtt(stored.people))

    def video(self) -> Path | None:
        if self.video_override is not None:
            return self.video_override
        path = (self.stored().manifest.get("input") or {}).get("path")
        return Path(path) if path else None

    # pages ---------------------------------------------------------------------------------------------
    def summary(self) -> dict:
        stored = self.stored()
        table = stored.table
        unassigned = table.person_id < 0
        video = self.video()
        return {"title": Path((stored.manifest.get("input") or {}).get("path") or stored.folder.name).name,
                "folder": str(Path(stored.folder).resolve()), "people": len(stored.people),
                "unassigned_faces": int((unassigned & table.is_face).sum()),
                "unassigned_bodies": int((unassigned & table.is_body).sum()),
                "edits": len(active_edits(stored.edits)),
                "video": video.name if video else None, "video_found": bool(video and video.is_file())}

    def people(self) -> list[dict]:
        stored = self.stored()
        return [{"id": p["id"], "name": p.get("name"), "label": label(p), "faces": p["faces"],
                 "bodies": p.get("bodies", 0), "tracks": p["tracks"], "units": len(p["units"]),
                 "screen_time_s": p["screen_time_s"], "screen_time": fmt_time(p["screen_time_s"]),
                 "screen_share": p.get("screen_share"), "first_seen": fmt_time(p["first_seen_s"]),
                 "last_seen": fmt_time(p["last_seen_s"]), "appearances": len(p.get("appearances") or []),
                 "name_source": p.get("name_source"), "library_similarity": p.get("library_similarity"),
                 "library_suggestion": p.get("library_suggestion"),
                 "thumb": "/" + p["thumbnail"] if p.get("thumbnail") else None} for p in stored.people]

    def person(self, person_id: int, all_units: bool = False) -> dict | None:
        stored = self.stored()
        person = next((p for p in stored.people if p["id"] == person_id), None)
        if person is None:
            return None
        table = stored.table
        grouped = by_unit(table, np.flatnonzero(table.person_id == person_id))
        units = []
        for u in person["units"]:
            mine = grouped.get(int(u), np.zeros(0, np.int64))
            faces, bodies = mine[table.is_face[mine]], mine[table.is_body[mine]]
            units.append({"unit": int(u), "first_s": float(table.time_s[mine].min()) if len(mine) else 0.0,
                          "first": fmt_time(table.time_s[mine].min() if len(mine) else 0.0),
                          "faces": int(len(faces)), "bodies": int(len(bodies)),
                          "face_thumbs": [_sighting(table, int(r)) for r in spread(faces, FACES_PER_UNIT)],
                          "body_thumbs": [_sighting(table, int(r)) for r in spread(bodies, BODIES_PER_UNIT)]})
        units.sort(key=lambda x: x["first_s"])
        frames = stored.extraction.frames[:, 1] if len(stored.extraction.frames) else np.zeros(0)
        appearances = []
        for a, b in person.get("appearances") or []:
            inside = frames[(frames >= a - 1e-6) & (frames < b - 1e-6)]
            appearances.append({"start": a, "end": b, "start_t": fmt_time(a), "end_t": fmt_time(b),
                                "frames": [int(round(t * 1000)) for t in spread(inside, FRAMES_PER_STRIP)]})
        shown = units if all_units else units[:UNITS_SHOWN]
        others = [{"id": p["id"], "label": label(p)} for p in stored.people if p["id"] != person_id]
        return {**{k: v for k, v in person.items() if k != "units"}, "label": label(person),
                "units": shown, "unit_count": len(units), "hidden_units": len(units) - len(shown),
                "appearances": appearances, "others": others,
                "screen_time": fmt_time(person["screen_time_s"]), "first_seen": fmt_time(person["first_seen_s"]),
                "last_seen": fmt_time(person["last_seen_s"]),
                "thumb": "/" + person["thumbnail"] if person.get("thumbnail") else None}

    def unassigned(self) -> list[dict]:
        """Units that belong to nobody, most seen first: their faces and bodies."""
        stored = self.stored()
        table = stored.table
        out = []
        for u, mine in by_unit(table, np.flatnonzero(table.person_id < 0)).items():
            faces, bodies = mine[table.is_face[mine]], mine[table.is_body[mine]]
            out.append({"unit": int(u), "faces": int(len(faces)), "bodies": int(len(bodies)),
                        "detections": [int(r) for r in mine], "first": fmt_time(table.time_s[mine[0]]),
                        "thumbs": [_sighting(table, int(r)) for r in
                                   list(spread(faces, FACES_PER_UNIT)) + list(spread(bodies, BODIES_PER_UNIT))]})
        out.sort(key=lambda x: -(x["faces"] + x["bodies"]))
        return out[:UNASSIGNED_SHOWN]

    def suggestions(self, top: int = 10) -> list[dict]:
        pairs = self._memo("suggestions", lambda stored: suggestions(stored, top=50))[:top]
        by_id = {p["id"]: p for p in self.people()}
        stored = self.stored()
        out = []
        for pair in pairs:
            a, b = by_id.get(pair["a"]), by_id.get(pair["b"])
            if a and b:
                out.append({**pair, "people": [{**x, "faces_shown": self._faces(stored, x["id"], 4)} for x in (a, b)]})
        return out

    @staticmethod
    def _faces(stored: StoredRun, person_id: int, k: int) -> list[dict]:
        table = stored.table
        rows = np.flatnonzero(table.person_id == person_id)
        faces = rows[table.is_face[rows]]
        pick = faces if len(faces) else rows
        pick = pick[np.argsort(table.time_s[pick], kind="stable")]
        return [_sighting(table, int(r)) for r in spread(pick, k)]

    def history(self, last: int = 12) -> list[dict]:
        stored = self.stored()
        shown = active_edits(stored.edits)[-last:][::-1]
        return [{"id": e["id"], "at": e.get("at", ""), "text": describe(e)} for e in shown]


def describe(edit: dict) -> str:
    op = edit.get("op")
    if op == "label":
        return f"named {edit.get('name')!r}" if edit.get("name") else "removed a name"
    if op == "merge":
        if edit.get("assigned"):
            n = len(edit["assigned"])
            return f"gave {n} sighting{'s' if n != 1 else ''} to person {edit.get('people', ['?'])[0]}"
        return "merged people " + ", ".join(map(str, edit.get("people", [])))
    if op == "split":
        by = edit.get("by")
        if by == "answer":
            a, b = (edit.get("people") or ["?", "?"])[:2]
            return f"people {a} and {b} are different"
        if by == "not-this-person":
            return f"took a track out of person {edit.get('person')}"
        return f"split person {edit.get('person')} ({by})"
    return str(op)
