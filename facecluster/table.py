"""RunTable: every face and body detection of a run as parallel numpy arrays, one row per detection.

Why one type: detections travel from the pipeline to grouping, to disk and back, and to every command
that reads a run; with one shape-checked table (supervision's `Detections` pattern) each consumer gets
the same columns, dtypes and meanings, and a damaged or hand-edited file is refused in one place.

Columns (SCHEMA): a row is a *face* or a *body* (a person box); `track_id` is the tracker's track (faces
and bodies are tracked separately, numbered in one space), `unit_id` the unit the track belongs to (a
face track and the body track it was seen in, joined), `person_id` the identity (-1 = nobody).
`face_detection_id` on a body row is the face seen inside it, `body_detection_id` on a face row the body
holding it (-1 = none). Detection ids are 0..N-1 in row order.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

KINDS = ("face", "body")
# name -> numpy dtype; the CSV/Parquet column order
SCHEMA: dict[str, np.dtype] = {
    "detection_id": np.dtype(np.int64), "frame_index": np.dtype(np.int64), "time_s": np.dtype(np.float64),
    "shot": np.dtype(np.int64), "kind": np.dtype("<U4"),
    "x1": np.dtype(np.float32), "y1": np.dtype(np.float32), "x2": np.dtype(np.float32), "y2": np.dtype(np.float32),
    "score": np.dtype(np.float32), "track_id": np.dtype(np.int64), "unit_id": np.dtype(np.int64),
    "person_id": np.dtype(np.int64), "face_detection_id": np.dtype(np.int64),
    "body_detection_id": np.dtype(np.int64),
}
COLUMNS = tuple(SCHEMA)
_FLOATS = {c for c, d in SCHEMA.items() if d.kind == "f"}
# characters a spreadsheet reads as the start of a formula: such text cells are written with a ' first
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class TableError(InputError):
    """A run table that is not what facecluster wrote (damaged, truncated or hand-edited)."""


@dataclass(eq=False)
class RunTable:
    detection_id: np.ndarray
    frame_index: np.ndarray
    time_s: np.ndarray
    shot: np.ndarray
    kind: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    x2: np.ndarray
    y2: np.ndarray
    score: np.ndarray
    track_id: np.ndarray
    unit_id: np.ndarray
    person_id: np.ndarray
    face_detection_id: np.ndarray
    body_detection_id: np.ndarray

    def __post_init__(self):
        n = None
        for name, dtype in SCHEMA.items():
            value = np.asarray(getattr(self, name))
            if value.ndim != 1:
                raise ValueError(f"RunTable.{name}: expected a 1-d array, got shape {value.shape}")
            if n is None:
                n = len(value)
            elif len(value) != n:
                raise ValueError(f"RunTable.{name}: {len(value)} rows, but detection_id has {n}")
            setattr(self, name, value.astype(dtype, copy=False))

    # construction -------------------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> "RunTable":
        return cls(**{c: np.zeros(0, d) for c, d in SCHEMA.items()})

    @classmethod
    def from_columns(cls, columns: dict) -> "RunTable":
        missing = [c for c in COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"RunTable: missing column(s) {', '.join(missing)}")
        return cls(**{c: columns[c] for c in COLUMNS})

    @classmethod
    def concat(cls, tables: list["RunTable"]) -> "RunTable":
        if not tables:
            return cls.empty()
        return cls(**{c: np.concatenate([getattr(t, c) for t in tables]) for c in COLUMNS})

    def columns(self) -> dict[str, np.ndarray]:
        return {c: getattr(self, c) for c in COLUMNS}

    def replace(self, **changes) -> "RunTable":
        """A table sharing the unchanged columns (arrays are not copied)."""
        unknown = set(changes) - set(COLUMNS)
        if unknown:
            raise ValueError(f"RunTable has no column(s) {', '.join(sorted(unknown))}")
        return RunTable(**{**self.columns(), **changes})

    # access -------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.detection_id)

    def __getitem__(self, index) -> "RunTable":
        """Rows by boolean mask, index array or slice."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return RunTable(**{c: getattr(self, c)[index] for c in COLUMNS})

    @property
    def is_face(self) -> np.ndarray:
        return self.kind == "face"

    @property
    def is_body(self) -> np.ndarray:
        return self.kind == "body"

    @property
    def boxes(self) -> np.ndarray:
        return np.stack([self.x1, self.y1, self.x2, self.y2], 1)

    @property
    def n_units(self) -> int:
        return int(self.unit_id.max()) + 1 if len(self) else 0

    def rows_of(self, detection_ids) -> np.ndarray:
        """Row index of each detection id (ids are 0..N-1 in row order, see validate)."""
        ids = np.asarray(detection_ids, np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self)):
            raise KeyError(f"detection id out of range 0..{len(self) - 1}")
        return ids

    # checks -------------------------------------------------------------------------------------------
    def validate(self, where: str = "run table") -> "RunTable":
        """Raise TableError (one line, what to do) unless the table is one facecluster could have written.
        Every id is bounded by the number of rows, so a damaged id can never make a caller allocate more
        than O(rows)."""
        n = len(self)

        def bad(what: str) -> TableError:
            return TableError(f"{where}: {what}; the file is damaged or was edited by hand, run `facecluster run` "
                              f"again (or `facecluster recluster` if only the exported files are affected)")

        if not np.array_equal(self.detection_id, np.arange(n)):
            raise bad("detection ids are not 0..N-1 in order")
        if n == 0:
            return self
        if not np.isin(self.kind, KINDS).all():
            raise bad(f"kind must be one of {', '.join(KINDS)}")
        for c in _FLOATS:
            if not np.isfinite(getattr(self, c)).all():
                raise bad(f"column {c} has a value that is not a finite number")
        if (self.x2 < self.x1).any() or (self.y2 < self.y1).any():
            raise bad("a box has x2 < x1 or y2 < y1")
        if (self.frame_index < 0).any() or (np.diff(self.frame_index) < 0).any():
            raise bad("frame_index must be >= 0 and in order")
        if (self.shot < 0).any():
            raise bad("shot must be >= 0")
        for c, low in (("track_id", 0), ("unit_id", 0), ("person_id", -1)):
            v = getattr(self, c)
            if v.min() < low or v.max() >= n:
                raise bad(f"{c} must be in {low}..{n - 1}")
        for c, need, other in (("face_detection_id", "body", "face"), ("body_detection_id", "face", "body")):
            v = getattr(self, c)
            linked = v >= 0
            if (v < -1).any() or (v >= n).any() or (linked & (self.kind != need)).any():
                raise bad(f"{c} must be -1 or the id of a {other} row, and only on {need} rows")
            if linked.any() and (self.kind[v[linked]] != other).any():
                raise bad(f"{c} points at a row that is not a {other}")
        return self

    # CSV / Parquet --------------------------------------------------------------------------------------
    def to_csv(self, path) -> None:
        """Plain CSV for spreadsheets and other tools. Text cells that a spreadsheet would run as a formula
        cannot occur here (kind is face/body), numbers are written as numbers."""
        cols = []
        for c in COLUMNS:
            values = getattr(self, c)
            if c in _FLOATS:
                digits = 3 if c == "time_s" else 2 if c != "score" else 4
                cols.append([f"{v:.{digits}f}".rstrip("0").rstrip(".") for v in values.tolist()])
            else:
                cols.append(values.tolist())
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            writer.writerows(zip(*cols))

    @classmethod
    def from_csv(cls, path) -> "RunTable":
        """Read a detections.csv written by to_csv; damaged files raise TableError naming the line."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise TableError(f"{path} is not a text CSV file (binary bytes in it); run `facecluster recluster` "
                             f"to write it again") from None
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header is None or tuple(header) != COLUMNS:
            raise TableError(f"{path}: the header must be {','.join(COLUMNS)}; run `facecluster recluster` to "
                             f"write it again")
        rows = list(reader)
        values = {c: [] for c in COLUMNS}
        for line, row in enumerate(rows, start=2):
            if len(row) != len(COLUMNS):
                raise TableError(f"{path} line {line}: {len(row)} cells, expected {len(COLUMNS)}; run "
                                 f"`facecluster recluster` to write it again")
            for c, cell in zip(COLUMNS, row):
                values[c].append(cell)
        out = {}
        for c, dtype in SCHEMA.items():
            try:
                out[c] = np.array(values[c], dtype=np.float64 if dtype.kind == "f" else dtype) \
                    if dtype.kind != "i" else np.array([int(v) for v in values[c]], np.int64)
            except (ValueError, OverflowError):
                raise TableError(f"{path}: column {c} holds something that is not a {dtype.name}; run "
                                 f"`facecluster recluster` to write it again") from None
        return cls(**out).validate(str(path))

    def to_parquet(self, path) -> bool:
        """Write Parquet when pyarrow is installed; returns whether it did."""
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            return False
        pq.write_table(pa.table({c: getattr(self, c) for c in COLUMNS}), str(path))
        return True


def neutralise_cell(value):
    """A text cell that spreadsheets would evaluate (=, +, -, @ first) gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value

