"""facecluster.sqlite: what a run extracted from the video (detections with their tracks and units, face
and clothing vectors, every sampled frame). Written once by `run`, in transactions as it goes (so the
same file is the run's checkpoint), read back by every later command, never changed by edits.

Reading validates everything: a truncated, garbage or hand-edited database, a wrong vector size or an id
out of range is one clear InputError, never a traceback or a giant allocation.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..table import COLUMNS, SCHEMA, RunTable, TableError
from .layout import EXTRACTION_FORMAT

STORED = [c for c in COLUMNS if c != "person_id"]  # person ids belong to the grouping (people.json)


def _sql_type(column: str) -> str:
    if column == "detection_id":
        return "INTEGER PRIMARY KEY"
    return "TEXT" if column == "kind" else "REAL" if SCHEMA[column].kind == "f" else "INTEGER"


_SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS detections ({", ".join(f"{c} {_sql_type(c)}" for c in STORED)});
CREATE TABLE IF NOT EXISTS vectors (detection_id INTEGER NOT NULL, space TEXT NOT NULL, vector BLOB NOT NULL,
                                    PRIMARY KEY (detection_id, space));
CREATE TABLE IF NOT EXISTS frames (frame_index INTEGER PRIMARY KEY, time_s REAL NOT NULL, shot INTEGER NOT NULL);
"""
Space = tuple[np.ndarray, np.ndarray]


@dataclass
class Extraction:
    table: RunTable  # person_id all -1: the grouping lives in people.json
    spaces: dict[str, Space]  # "face", "clothing" -> (detection ids, (N, D) float32)
    frames: np.ndarray  # (F, 3) sampled frames: frame_index, time_s, shot (float64)
    meta: dict

    @property
    def faces(self) -> Space | None:
        return self.spaces.get("face")

    @property
    def clothing(self) -> Space | None:
        return self.spaces.get("clothing")

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]


def damaged(path: Path, what: str) -> InputError:
    return InputError(f"{path} is damaged ({what}); run `facecluster run` again to rebuild the folder")


class ExtractionWriter:
    """Append-only writer; every `append` is one transaction holding the rows, vectors, frames and the
    caller's resume state, so the file is always a consistent checkpoint."""

    def __init__(self, path: Path, meta: dict):
        self.path = Path(path)
        self.con = sqlite3.connect(self.path, isolation_level=None)
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.executescript(_SCHEMA_SQL)
        stored = dict(self.con.execute("SELECT key, value FROM meta").fetchall())
        if not stored:
            self._set_meta({"format": EXTRACTION_FORMAT, **meta})

    def _set_meta(self, values: dict) -> None:
        self.con.execute("BEGIN")
        self.con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [(k, json.dumps(v, default=_json_default)) for k, v in values.items()])
        self.con.execute("COMMIT")

    def meta(self) -> dict:
        return {k: json.loads(v) for k, v in self.con.execute("SELECT key, value FROM meta")}

    def rows(self) -> int:
        return self.con.execute("SELECT COUNT(*) FROM detections").fetchone()[0]

    def append(self, table: RunTable, spaces: dict[str, Space], frames: list[tuple[int, float, int]],
               state: dict) -> None:
        con = self.con
        con.execute("BEGIN")
        try:
            cols = [getattr(table, c).tolist() for c in STORED]
            con.executemany(f"INSERT INTO detections ({', '.join(STORED)}) VALUES ({', '.join('?' * len(STORED))})",
                            zip(*cols))
            for space, (ids, vectors) in spaces.items():
                vectors = np.asarray(vectors, np.float32)
                con.executemany("INSERT INTO vectors VALUES (?, ?, ?)",
                                [(int(i), space, v.tobytes()) for i, v in zip(ids, vectors)])
            con.executemany("INSERT INTO frames VALUES (?, ?, ?)", frames)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('checkpoint', ?)", (json.dumps(state),))
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:  # SQLite already rolled back after some errors (a full disk)
                con.execute("ROLLBACK")
            raise

    def finish(self, track_id: np.ndarray, unit_id: np.ndarray, links: dict[str, np.ndarray], meta: dict) -> None:
        """Final tracks, units and links of every row, and the run's meta; the checkpoint state goes."""
        con = self.con
        con.execute("BEGIN")
        ids = np.arange(len(unit_id)).tolist()
        con.executemany("UPDATE detections SET track_id = ?, unit_id = ?, face_detection_id = ?, "
                        "body_detection_id = ? WHERE detection_id = ?",
                        zip(np.asarray(track_id).tolist(), np.asarray(unit_id).tolist(),
                            links["face_detection_id"].tolist(), links["body_detection_id"].tolist(), ids))
        con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                        [(k, json.dumps(v, default=_json_default)) for k, v in meta.items()])
        con.execute("DELETE FROM meta WHERE key = 'checkpoint'")
        con.execute("COMMIT")

    def close(self) -> None:
        self.con.close()


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_extraction(path: Path, partial: bool = False) -> Extraction:
    """Read and check facecluster.sqlite (`partial`: a checkpoint, whose units are not final)."""
    path = Path(path)
    meta_rows, rows, vec_rows, frames = _query(
        path, "SELECT key, value FROM meta", f"SELECT {', '.join(STORED)} FROM detections ORDER BY detection_id",
        "SELECT detection_id, space, vector FROM vectors ORDER BY space, detection_id",
        "SELECT frame_index, time_s, shot FROM frames ORDER BY frame_index")
    meta = _meta(path, meta_rows)
    dims = meta.get("spaces") or {}
    if not isinstance(dims, dict) or not all(isinstance(d, int) and 0 < d <= 65536 for d in dims.values()):
        raise damaged(path, "its vector sizes are missing or wrong")
    table = _table(path, rows, partial)
    spaces = _spaces(path, vec_rows, dims, table)
    frame_array = np.array(frames, np.float64).reshape(-1, 3)
    if len(frame_array) and not np.isfinite(frame_array).all():
        raise damaged(path, "a sampled frame has no valid time")
    if len(table) and not np.isin(table.frame_index, frame_array[:, 0].astype(np.int64)).all():
        raise damaged(path, "a detection's frame is not among the sampled frames")
    return Extraction(table, spaces, frame_array, meta)


def read_extraction_meta(path: Path) -> tuple[dict, int]:
    """The extraction's meta and its number of units, without reading detections or vectors: archive-wide
    summaries read hundreds of episodes (a 1-hour episode: 4 ms against 80-160 ms for the whole read)."""
    path = Path(path)
    meta_rows, ((top,),) = _query(path, "SELECT key, value FROM meta", "SELECT MAX(unit_id) FROM detections")
    meta = _meta(path, meta_rows)
    if top is not None and not isinstance(top, int):
        raise damaged(path, "a detection holds a value of the wrong type")
    return meta, 0 if top is None else max(top + 1, 0)


def _query(path: Path, *queries: str) -> list[list]:
    """Every query's rows, read-only; a missing or damaged file is an InputError saying what to do."""
    if not path.is_file():
        raise InputError(f"{path} is missing; run `facecluster run VIDEO -o {path.parent}` to make the folder")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise damaged(path, str(exc)) from None
    try:
        return [con.execute(q).fetchall() for q in queries]
    except sqlite3.DatabaseError as exc:
        raise damaged(path, str(exc).split(":")[0]) from None
    finally:
        con.close()


def _meta(path: Path, meta_rows: list) -> dict:
    try:
        meta = {str(k): json.loads(v) for k, v in meta_rows}
    except (TypeError, ValueError):
        raise damaged(path, "its meta table is not JSON") from None
    if meta.get("format") != EXTRACTION_FORMAT or not isinstance(meta.get("run_id"), str):
        raise damaged(path, f"it is not a {EXTRACTION_FORMAT} database")
    return meta


def _table(path: Path, rows: list, partial: bool) -> RunTable:
    columns = {c: [] for c in STORED}
    for row in rows:
        for c, v in zip(STORED, row):
            columns[c].append(v)
    n = len(rows)
    try:
        data = {c: np.array(columns[c], dtype=SCHEMA[c]) if n else np.zeros(0, SCHEMA[c]) for c in STORED}
    except (TypeError, ValueError, OverflowError):
        raise damaged(path, "a detection holds a value of the wrong type") from None
    data["person_id"] = np.full(n, -1, np.int64)
    table = RunTable(**data)
    if partial:
        return table
    try:
        return table.validate(str(path))
    except TableError as exc:
        raise damaged(path, str(exc).split(";")[0].split(": ", 1)[-1]) from None


def _spaces(path: Path, vec_rows: list, dims: dict, table: RunTable) -> dict[str, Space]:
    by_space: dict[str, tuple[list, list]] = {}
    for det, space, blob in vec_rows:
        if space not in dims:
            raise damaged(path, f"vectors of an unknown space {space!r}")
        if not isinstance(blob, bytes) or len(blob) != 4 * dims[space]:
            raise damaged(path, f"a {space} vector has the wrong size (expected {dims[space]} numbers)")
        ids, blobs = by_space.setdefault(space, ([], []))
        ids.append(det)
        blobs.append(blob)
    out = {}
    for space, dim in dims.items():
        ids, blobs = by_space.get(space, ([], []))
        ids = np.array(ids, np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(table)):
            raise damaged(path, f"a {space} vector belongs to no detection")
        if space == "face" and len(ids) and not table.is_face[ids].all():
            raise damaged(path, "a face vector belongs to a body detection")
        vectors = np.frombuffer(b"".join(blobs), np.float32).reshape(len(ids), dim).copy()
        if not np.isfinite(vectors).all():
            raise damaged(path, f"a {space} vector is not finite")
        out[space] = (ids, vectors)
    return out
