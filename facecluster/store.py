"""OUTDIR: written into a hidden temporary folder beside it and moved into place only when complete,
so a failed run never leaves a partial OUTDIR and never touches an earlier one.

Contents: detections.csv (+ .parquet with pyarrow), people.json, manifest.json, thumbs/, and
facecluster.sqlite holding embeddings and tracks so later commands can re-cluster without decoding.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np

from .errors import OutputError

DETECTION_COLUMNS = ["detection_id", "frame_index", "time_s", "kind", "x1", "y1", "x2", "y2", "score",
                     "track_id", "person_id"]
DB_NAME = "facecluster.sqlite"
MANIFEST = "manifest.json"


def check_output_dir(outdir: str | os.PathLike, overwrite: bool = True) -> Path:
    """Fail early (before any decoding) if OUTDIR cannot be written or replacing it would lose data."""
    outdir = Path(outdir)
    if outdir.exists():
        if not outdir.is_dir():
            raise OutputError(f"output path {outdir} exists and is a file; choose a folder name")
        if any(outdir.iterdir()) and not (outdir / MANIFEST).exists():
            raise OutputError(f"output folder {outdir} is not empty and is not a facecluster output; "
                              f"choose a new or empty folder")
        if not overwrite:
            raise OutputError(f"output folder {outdir} exists; pass --overwrite to replace it")
    parent = outdir.resolve().parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"cannot write the output folder in {parent}: it is a file, not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=parent).close()  # the real test: permissions, read-only mounts, root
    except OSError as exc:
        raise OutputError(f"cannot write the output folder in {parent} ({exc.strerror}); "
                          f"choose another output folder") from None
    return outdir


class StagingDir:
    """Context manager: yields a temp folder; on success it replaces `outdir`, on error it is removed."""

    def __init__(self, outdir: str | os.PathLike):
        self.outdir = Path(outdir)
        self.path: Path | None = None

    def __enter__(self) -> Path:
        parent = self.outdir.resolve().parent
        try:
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.outdir.name}.tmp-", dir=parent))
        except OSError as exc:
            raise OutputError(f"cannot write in {parent}: {exc.strerror}") from None
        return self.path

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            return False
        old = None
        try:
            if self.outdir.exists():
                old = self.outdir.with_name(f".{self.outdir.name}.old-{os.getpid()}")
                os.replace(self.outdir, old)
            os.replace(self.path, self.outdir)
        except OSError as exc:
            if old is not None and not self.outdir.exists():
                os.replace(old, self.outdir)
            shutil.rmtree(self.path, ignore_errors=True)
            raise OutputError(f"cannot move results into {self.outdir}: {exc.strerror}") from None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return False


def write_detections(folder: Path, table: dict[str, np.ndarray], extra_columns: list[str] = ()) -> None:
    columns = DETECTION_COLUMNS + [c for c in extra_columns if c in table]
    # format column by column on plain Python values: per-cell numpy scalars made big tables slow to write
    cols = [[_fmt(v) for v in np.asarray(table[c]).tolist()] for c in columns]
    with open(folder / "detections.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(zip(*cols))
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return
    pq.write_table(pa.table({c: np.asarray(table[c]) for c in columns}), folder / "detections.parquet")


def _fmt(value):
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4f}".rstrip("0").rstrip(".") if np.isfinite(value) else ""
    return value


def read_detections(folder: Path) -> dict[str, np.ndarray]:
    with open(Path(folder) / "detections.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return {c: np.zeros(0) for c in DETECTION_COLUMNS}
    out = {}
    for col in rows[0]:
        values = [r[col] for r in rows]
        if col == "kind":
            out[col] = np.array(values)
        elif col in ("time_s", "x1", "y1", "x2", "y2", "score"):
            out[col] = np.array(values, np.float64)
        else:
            out[col] = np.array([int(v) if v else -1 for v in values], np.int64)
    return out


def write_json(path: Path, data) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_database(folder: Path, embeddings: dict[str, tuple[np.ndarray, np.ndarray]], tracks: list[dict],
                   meta: dict) -> None:
    """embeddings: space (e.g. 'face') -> (detection_ids, (N, D) float32 rows)."""
    con = sqlite3.connect(folder / DB_NAME)
    try:
        con.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE embeddings (detection_id INTEGER, space TEXT, dim INTEGER, vector BLOB,
                                     PRIMARY KEY (detection_id, space));
            CREATE TABLE tracks (track_id INTEGER PRIMARY KEY, kind TEXT, shot INTEGER,
                                 first_frame INTEGER, last_frame INTEGER, detections INTEGER);
        """)
        con.executemany("INSERT INTO meta VALUES (?, ?)",
                        [(k, json.dumps(v, default=_json_default)) for k, v in meta.items()])
        for space, (ids, vectors) in embeddings.items():
            vectors = np.asarray(vectors, np.float32)
            con.executemany("INSERT INTO embeddings VALUES (?, ?, ?, ?)",
                            [(int(i), space, vectors.shape[1], v.tobytes()) for i, v in zip(ids, vectors)])
        con.executemany("INSERT INTO tracks VALUES (:track_id, :kind, :shot, :first_frame, :last_frame, :detections)",
                        tracks)
        con.commit()
    finally:
        con.close()


def read_embeddings(folder: Path, space: str = "face") -> tuple[np.ndarray, np.ndarray]:
    """(detection_ids, (N, D) float32) for one embedding space, in detection id order."""
    con = sqlite3.connect(Path(folder) / DB_NAME)
    try:
        rows = con.execute("SELECT detection_id, dim, vector FROM embeddings WHERE space = ? ORDER BY detection_id",
                           (space,)).fetchall()
    finally:
        con.close()
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    ids = np.array([r[0] for r in rows], np.int64)
    return ids, np.stack([np.frombuffer(r[2], np.float32, r[1]) for r in rows])
