"""Units: what grouping works on. A unit is a face track, a body track, or both joined (the face was
seen inside that body); every row of a unit is one person, so people are groups of units.

Everything here is O(rows + units x dim + pairs): no unit x unit or unit x row matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..table import RunTable

Space = tuple[np.ndarray, np.ndarray]  # (detection_ids, (N, D) unit-length vectors)


@dataclass
class Units:
    n: int
    face_sum: np.ndarray  # (U, Df) sums of unit-length face vectors per unit (zeros where none)
    face_count: np.ndarray  # (U,)
    clothing_sum: np.ndarray | None  # (U, Dc) or None without a clothing embedder
    clothing_count: np.ndarray  # (U,)
    appearances: np.ndarray  # (U,) distinct sampled frames in which the unit is seen (face or body)
    first_s: np.ndarray  # (U,) first and last time seen
    last_s: np.ndarray
    cannot: np.ndarray  # (K, 2) unit pairs a < b that share a frame (two faces, or two bodies, at once)
    face_side: np.ndarray | None = None  # (U,) largest face of the unit (shorter box side, px); 0 = none

    @property
    def has_face(self) -> np.ndarray:
        return self.face_count > 0

    @property
    def has_clothing(self) -> np.ndarray:
        return self.clothing_count > 0

    def face_mean(self, index=slice(None)) -> np.ndarray:
        """Mean of a unit's face vectors (not re-normalised: 1 - a.b is then the mean cosine distance
        over all face pairs of the two units)."""
        return self.face_sum[index] / np.maximum(self.face_count[index], 1)[:, None]

    def clothing_mean(self, index=slice(None)) -> np.ndarray:
        return self.clothing_sum[index] / np.maximum(self.clothing_count[index], 1)[:, None]


def _space_sums(unit_of_row: np.ndarray, n_units: int, space: Space | None, n_rows: int):
    if space is None:
        return None, np.zeros(n_units)
    ids, vectors = space
    ids = np.asarray(ids, np.int64)
    vectors = np.asarray(vectors, np.float64)
    if len(ids) and (ids.min() < 0 or ids.max() >= n_rows):
        raise ValueError("embedding detection ids must be rows of the table")
    sums = np.zeros((n_units, vectors.shape[1] if vectors.ndim == 2 else 0))
    units = unit_of_row[ids]
    np.add.at(sums, units, vectors)
    return sums, np.bincount(units, minlength=n_units).astype(np.float64)


def cooccurring_pairs(unit: np.ndarray, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(K, 2) unit pairs a < b with rows selected by `mask` in the same frame."""
    rows = np.flatnonzero(mask)
    if not len(rows):
        return np.zeros((0, 2), np.int64)
    key = np.unique(np.stack([frame[rows], unit[rows]], 1), axis=0)  # (frame, unit), sorted by frame
    bounds = np.flatnonzero(np.diff(key[:, 0])) + 1
    out = []
    for group in np.split(key[:, 1], bounds):
        if len(group) > 1:
            a, b = np.triu_indices(len(group), 1)
            out.append(np.stack([group[a], group[b]], 1))
    return np.unique(np.concatenate(out), axis=0) if out else np.zeros((0, 2), np.int64)


def build_units(table: RunTable, faces: Space | None, clothing: Space | None) -> Units:
    unit = table.unit_id
    n = table.n_units
    face_sum, face_count = _space_sums(unit, n, faces, len(table))
    if face_sum is None:
        face_sum = np.zeros((n, 0))
    clothing_sum, clothing_count = _space_sums(unit, n, clothing, len(table))
    seen = np.unique(np.stack([unit, table.frame_index], 1), axis=0) if len(table) else np.zeros((0, 2), np.int64)
    appearances = np.bincount(seen[:, 0], minlength=n)
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.minimum.at(first, unit, table.time_s)
    np.maximum.at(last, unit, table.time_s)
    cannot = np.unique(np.concatenate([cooccurring_pairs(unit, table.frame_index, table.is_face),
                                       cooccurring_pairs(unit, table.frame_index, table.is_body)]), axis=0)
    side = np.zeros(n)
    faces_rows = np.flatnonzero(table.is_face)
    np.maximum.at(side, unit[faces_rows], np.minimum(table.x2 - table.x1, table.y2 - table.y1)[faces_rows])
    return Units(n, face_sum, face_count, clothing_sum, clothing_count, appearances, first, last,
                 cannot.reshape(-1, 2), side)


def merge_units(units: Units, group: np.ndarray) -> Units:
    """Units of `group` ids (0..G-1 per unit) pooled into one unit each: user must-links make one unit
    of several before clustering. Cannot-link pairs inside one pooled unit are dropped (the user wins)."""
    g = int(group.max()) + 1 if len(group) else 0

    def pool(values):
        out = np.zeros((g,) + values.shape[1:])
        np.add.at(out, group, values)
        return out

    first = np.full(g, np.inf)
    last = np.full(g, -np.inf)
    np.minimum.at(first, group, units.first_s)
    np.maximum.at(last, group, units.last_s)
    pairs = group[units.cannot]
    pairs = np.sort(pairs[pairs[:, 0] != pairs[:, 1]], axis=1)
    side = None
    if units.face_side is not None:
        side = np.zeros(g)
        np.maximum.at(side, group, units.face_side)
    return Units(g, pool(units.face_sum), pool(units.face_count),
                 None if units.clothing_sum is None else pool(units.clothing_sum), pool(units.clothing_count),
                 pool(units.appearances), first, last, np.unique(pairs, axis=0).reshape(-1, 2), side)


def subset(units: Units, index: np.ndarray) -> Units:
    """The units `index` only (cannot-link pairs among them kept, renumbered)."""
    index = np.asarray(index, np.int64)
    local = np.full(units.n, -1, np.int64)
    local[index] = np.arange(len(index))
    pairs = local[units.cannot] if len(units.cannot) else np.zeros((0, 2), np.int64)
    pairs = pairs[(pairs >= 0).all(1)] if len(pairs) else pairs
    return Units(len(index), units.face_sum[index], units.face_count[index],
                 None if units.clothing_sum is None else units.clothing_sum[index], units.clothing_count[index],
                 units.appearances[index], units.first_s[index], units.last_s[index], pairs.reshape(-1, 2),
                 None if units.face_side is None else units.face_side[index])
