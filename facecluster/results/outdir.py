"""Reading a finished OUTDIR back and rewriting it safely.

Why a module of its own: every follow-up command (recluster, label/merge/split, report, find, similar,
annotate) starts from the same stored state, and every command that changes OUTDIR must (a) hold a
lock so two edits never interleave and (b) replace each file atomically (temp file + os.replace) so a
crash or Ctrl-C leaves either the old or the new version of each file, never half a file.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import store
from ..config import Config, build_config
from ..errors import OutputError

LOCK_NAME = ".facecluster.lock"
PEOPLE_CSV_COLUMNS = ["id", "name", "detections", "tracks", "screen_time_s", "first_seen_s", "last_seen_s",
                      "thumbnail"]
THUMBS_REL = "thumbs"  # thumbs/faces/{id}.jpg for face rows, thumbs/persons/{id}.jpg for person (body) rows


@dataclass
class RunOutput:
    """The stored state of one run. `emb` rows are aligned with the face rows of `table` (`face_rows`);
    `faces` is the stored face space as (detection_ids, vectors), as fusion.assign_people takes it.
    The table's track_id column holds unit ids (face track, body track, or both joined)."""

    folder: Path
    table: dict[str, np.ndarray]
    face_rows: np.ndarray  # row indices of kind == "face" in table
    emb: np.ndarray  # (len(face_rows), D) unit vectors
    meta: dict
    manifest: dict
    people: list[dict]
    faces: tuple[np.ndarray, np.ndarray] | None = None
    _clothing: tuple | None = field(default=None, repr=False)  # cache: (space or None,)

    @property
    def config(self) -> Config:
        return build_config(base=self.meta.get("config") or self.manifest.get("config") or {})

    @property
    def same_person_distance(self) -> float:
        return float(self.meta.get("same_person_distance") or self.manifest.get("same_person_distance"))

    @property
    def clothing_same_person_distance(self) -> float | None:
        value = self.meta.get("clothing_same_person_distance") or self.manifest.get("clothing_same_person_distance")
        return float(value) if value else None

    @property
    def kind(self) -> np.ndarray:
        return np.asarray(self.table["kind"]).astype(str)

    @property
    def person_rows(self) -> np.ndarray:
        """Row indices of kind == "person" (body detections) in table."""
        return np.flatnonzero(self.kind == "person")

    def clothing(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The stored 'clothing' space (detection_ids, vectors), or None when no clothing embedder ran."""
        if self._clothing is None:
            space = store.read_embeddings(self.folder, "clothing") if has_space(self.folder, "clothing") else None
            self._clothing = (space,)
        return self._clothing[0]

    def face_table(self) -> dict[str, np.ndarray]:
        return {k: v[self.face_rows] for k, v in self.table.items()}

    def person_ids(self) -> list[int]:
        return [int(p["id"]) for p in self.people]


def check_folder(folder) -> Path:
    """The folder must be a complete facecluster output; say how to get one if it is not."""
    folder = Path(folder)
    if not folder.is_dir():
        raise OutputError(f"{folder} is not a folder; give the output folder of `facecluster run VIDEO -o OUTDIR`")
    needed = (store.MANIFEST, store.DB_NAME, "detections.csv", "people.json")
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        raise OutputError(f"{folder} is not a facecluster output (missing {', '.join(missing)}); "
                          f"run `facecluster run VIDEO -o {folder}` first")
    return folder


def read_meta(folder: Path) -> dict:
    con = sqlite3.connect(f"file:{folder / store.DB_NAME}?mode=ro", uri=True)
    try:
        return {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}
    except sqlite3.DatabaseError as exc:
        raise OutputError(f"{folder / store.DB_NAME} is damaged ({exc}); run `facecluster run` again") from None
    finally:
        con.close()


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot read {path} ({exc}); run `facecluster run` again to rebuild the folder") from None


def load(folder, space: str = "face") -> RunOutput:
    """Read detections (face and person rows), face embeddings (aligned to the face rows), meta, manifest
    and people of OUTDIR. The clothing space is read on demand (RunOutput.clothing())."""
    folder = check_folder(folder)
    table = store.read_detections(folder)
    face_rows = np.flatnonzero(np.asarray(table["kind"]) == "face") if len(table["detection_id"]) else np.zeros(0, int)
    ids, vectors = store.read_embeddings(folder, space)
    emb = aligned_embeddings(np.asarray(table["detection_id"])[face_rows], ids, vectors)
    return RunOutput(folder, table, face_rows, emb, read_meta(folder), read_json(folder / store.MANIFEST),
                     read_json(folder / "people.json").get("people", []), faces=(ids, vectors))


def aligned_embeddings(want_ids: np.ndarray, ids: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Rows of `vectors` for `want_ids` (detection ids); a detection without a vector is an error."""
    if len(want_ids) == 0:
        return np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), np.float32)
    pos = np.searchsorted(ids, want_ids)
    pos = np.clip(pos, 0, max(len(ids) - 1, 0))
    if len(ids) == 0 or not np.array_equal(ids[pos], want_ids):
        raise OutputError("the embeddings in facecluster.sqlite do not match detections.csv; "
                          "run `facecluster run` again to rebuild the folder")
    return vectors[pos]


@contextlib.contextmanager
def locked(folder: Path, timeout_s: float = 60.0):
    """Exclusive lock on OUTDIR for commands that change it (waits up to `timeout_s` for another one)."""
    path = Path(folder) / LOCK_NAME
    try:
        fh = open(path, "a+")
    except OSError as exc:
        raise OutputError(f"cannot write in {folder} ({exc.strerror}); check its permissions") from None
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OutputError(f"another facecluster command is changing {folder}; "
                                      f"wait for it to finish and try again") from None
                time.sleep(0.1)
        yield
    finally:
        fh.close()  # releases the lock


@contextlib.contextmanager
def atomic_path(path: Path):
    """Yield a temp path beside `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path} ({exc.strerror}); check free space and permissions") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_people_csv(folder, people: list[dict]) -> Path:
    """people.csv: one row per person (screen time etc.) for spreadsheets; written atomically."""
    path = Path(folder) / "people.csv"
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, PEOPLE_CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for p in people:
            writer.writerow({k: ("" if p.get(k) is None else p.get(k)) for k in PEOPLE_CSV_COLUMNS})
    return path


def write_detections(folder: Path, table: dict[str, np.ndarray]) -> None:
    """detections.csv (+ .parquet) via store.write_detections into a temp folder, then moved into place."""
    extra = [c for c in table if c not in store.DETECTION_COLUMNS]
    with tempfile.TemporaryDirectory(prefix=".detections.", dir=folder) as tmp:
        store.write_detections(Path(tmp), table, extra)
        for name in ("detections.csv", "detections.parquet"):
            if (Path(tmp) / name).exists():
                os.replace(Path(tmp) / name, folder / name)


def update_meta(folder: Path, values: dict) -> None:
    """Replace meta keys in facecluster.sqlite in one transaction (sqlite makes it atomic)."""
    con = sqlite3.connect(folder / store.DB_NAME)
    try:
        with con:
            con.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                            [(k, json.dumps(v, default=store._json_default)) for k, v in values.items()])
    except sqlite3.DatabaseError as exc:
        raise OutputError(f"cannot update {folder / store.DB_NAME} ({exc})") from None
    finally:
        con.close()


def has_space(folder: Path, space: str) -> bool:
    con = sqlite3.connect(f"file:{Path(folder) / store.DB_NAME}?mode=ro", uri=True)
    try:
        return con.execute("SELECT 1 FROM embeddings WHERE space = ? LIMIT 1", (space,)).fetchone() is not None
    finally:
        con.close()
