"""From tracks to people, with faces and clothing.

A *unit* is a set of detections known to be one person: a face track, a person (body) track, or both
joined because the face sat in the person box (association) in some frame. Units with a face are grouped
on face similarity, with clothing similarity as extra evidence (same video only, where an outfit is a
reliable cue); units seen only from behind or too small to embed join the person whose clothes they
wear, or form a person of their own.
"""

from __future__ import annotations

import numpy as np

from .cluster import cluster_tracks, constrained_average_linkage
from .config import Config

Embeddings = tuple[np.ndarray, np.ndarray]  # (detection_ids, (N, D) rows)
# bodies never seen with a face need this many times min_person_detections appearances to count as a
# person of their own: partial and duplicate person boxes are common, a face is stronger evidence
FACELESS_EVIDENCE = 2
# clothing alone must be this much closer than the clothing same-person distance to give a body to a
# person: outfits of different people can look alike to a colour histogram (measured: 0.32 between two
# people's outfits on a synthetic episode, 0.11 for the same outfit)
FACELESS_STRICTNESS = 0.6
# above this many units the dense U x U matrices (~U^2 x 8 bytes each) are too big: faces are grouped by
# the scalable path (cluster_scale.py, benchmarked to 100k tracks) and clothing evidence is not used
LARGE_UNITS = 5000


def join_tracks(track_id: np.ndarray, frame_index: np.ndarray, is_face: np.ndarray,
                pairs: list[tuple[int, int]]) -> np.ndarray:
    """Union face and person tracks linked by (row, row) association pairs, never joining two tracks that
    hold faces in the same frame. Returns unit ids 0..U-1 per row, numbered by first row."""
    parent = {int(t): int(t) for t in np.unique(track_id)}
    face_frames = {t: set(frame_index[(track_id == t) & is_face].tolist()) for t in parent}

    def root(t):
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for a, b in pairs:
        ra, rb = root(int(track_id[a])), root(int(track_id[b]))
        if ra != rb and not (face_frames[ra] & face_frames[rb]):
            parent[rb] = ra
            face_frames[ra] |= face_frames.pop(rb)
    roots = np.array([root(int(t)) for t in track_id])
    _, first = np.unique(roots, return_index=True)
    order = {r: i for i, r in enumerate(roots[np.sort(first)])}
    return np.array([order[r] for r in roots], np.int64)


def _appearances(unit: np.ndarray, frame: np.ndarray, n_units: int) -> np.ndarray:
    """(U,) distinct sampled frames per unit, so a face and its body in one frame count once."""
    pairs = np.unique(np.stack([unit, frame], 1), axis=0)
    return np.bincount(pairs[:, 0], minlength=n_units)


def _unit_means(unit: np.ndarray, n_units: int, row_of: dict[int, int], emb: Embeddings | None):
    """(U, D) mean vector per unit (zeros where none) and (U,) counts."""
    if emb is None or len(emb[0]) == 0:
        return None, np.zeros(n_units)
    ids, vectors = emb
    rows = np.array([row_of[int(i)] for i in ids])
    sums = np.zeros((n_units, vectors.shape[1]))
    np.add.at(sums, unit[rows], vectors)
    counts = np.bincount(unit[rows], minlength=n_units).astype(np.float64)
    return sums / np.maximum(counts, 1)[:, None], counts


def _cooccur(unit, frame_index, mask, n_units) -> np.ndarray:
    """(U, U) bool: units with rows selected by `mask` in one frame."""
    out = np.zeros((n_units, n_units), bool)
    rows = np.flatnonzero(mask)
    order = rows[np.argsort(frame_index[rows], kind="stable")]
    for group in np.split(order, np.flatnonzero(np.diff(frame_index[order])) + 1):
        u = np.unique(unit[group])
        if len(u) > 1:
            out[np.ix_(u, u)] = True
    np.fill_diagonal(out, False)
    return out


def _time_ok(unit, time_s, n_units, window: float) -> np.ndarray:
    if not window:
        return np.ones((n_units, n_units), bool)
    first = np.full(n_units, np.inf)
    last = np.full(n_units, -np.inf)
    np.minimum.at(first, unit, time_s)
    np.maximum.at(last, unit, time_s)
    gap = np.maximum(first[:, None] - last[None, :], first[None, :] - last[:, None])
    return gap <= window


def assign_people(table: dict[str, np.ndarray], faces: Embeddings, clothing: Embeddings | None, config: Config,
                  face_distance: float, clothing_distance: float) -> np.ndarray:
    """person_id per row of a detections table whose track_id column holds unit ids (-1 = noise)."""
    n_rows = len(table["detection_id"])
    if n_rows == 0:
        return np.zeros(0, np.int64)
    unit = np.asarray(table["track_id"], np.int64)
    n = int(unit.max()) + 1
    frame = np.asarray(table["frame_index"])
    kind = np.asarray(table["kind"]).astype(str)
    row_of = {int(d): i for i, d in enumerate(table["detection_id"])}
    fmean, fcount = _unit_means(unit, n, row_of, faces)
    sizes = _appearances(unit, frame, n)
    if n > LARGE_UNITS:
        return _renumber(_assign_large(unit, n, frame, kind, fmean, fcount, sizes, config, face_distance), unit,
                         table["time_s"])
    cmean, ccount = _unit_means(unit, n, row_of, clothing)
    cannot = _cooccur(unit, frame, kind == "face", n) | _cooccur(unit, frame, kind == "person", n)
    w = config.clothing_weight if cmean is not None else 0.0
    cloth_d = None
    if cmean is not None:
        has = ccount > 0
        cloth_d = np.where(has[:, None] & has[None] & _time_ok(unit, table["time_s"], n, config.clothing_window_s),
                           np.clip(1 - cmean @ cmean.T, 0, 2), np.nan)
    labels = np.full(n, -1, np.int64)
    face_units = np.flatnonzero(fcount > 0)
    if len(face_units):
        fm = fmean[face_units]
        z = np.clip(1 - fm @ fm.T, 0, 2) / face_distance
        if w:
            zc = cloth_d[np.ix_(face_units, face_units)] / clothing_distance
            z = np.where(np.isnan(zc), z, (1 - w) * z + w * zc)
        unit_norm = fm / np.maximum(np.linalg.norm(fm, axis=1, keepdims=True), 1e-12)
        labels[face_units] = cluster_tracks(unit_norm, cannot[np.ix_(face_units, face_units)], face_distance,
                                            sizes[face_units], config.min_cluster_size, config.min_samples,
                                            config.min_person_detections, distances=z * face_distance)
    faceless = np.flatnonzero((fcount == 0) & (ccount > 0)) if cloth_d is not None else np.zeros(0, int)
    if len(faceless):
        _attach_faceless(labels, faceless, cloth_d, cannot, sizes, clothing_distance, config.min_person_detections)
    return _renumber(labels, unit, table["time_s"])


def _assign_large(unit, n, frame, kind, fmean, fcount, sizes, config: Config, face_distance: float) -> np.ndarray:
    """Face units only, through the scalable path, with cannot-link as pairs of units sharing a frame."""
    from .cluster_scale import cluster_tracks_scalable

    labels = np.full(n, -1, np.int64)
    face_units = np.flatnonzero(fcount > 0)
    local = np.full(n, -1, np.int64)
    local[face_units] = np.arange(len(face_units))
    rows = np.flatnonzero(kind == "face")
    order = rows[np.argsort(frame[rows], kind="stable")]
    pairs = set()
    for group in np.split(order, np.flatnonzero(np.diff(frame[order])) + 1):
        u = np.unique(local[unit[group]])
        pairs.update((int(a), int(b)) for i, a in enumerate(u) for b in u[i + 1:])
    fm = fmean[face_units]
    labels[face_units] = cluster_tracks_scalable(
        fm / np.maximum(np.linalg.norm(fm, axis=1, keepdims=True), 1e-12), np.array(sorted(pairs)).reshape(-1, 2),
        face_distance, sizes[face_units], config.min_cluster_size, config.min_samples, config.min_person_detections,
        distance_vectors=fm)
    return labels


def _attach_faceless(labels, faceless, cloth_d, cannot, sizes, threshold, min_detections) -> None:
    """Group faceless units by clothing, then give each group to the person wearing the same clothes
    (average clothing distance under threshold, never to a person it shares a frame with)."""
    sub = np.nan_to_num(cloth_d[np.ix_(faceless, faceless)], nan=2.0)
    groups = constrained_average_linkage(sub, cannot[np.ix_(faceless, faceless)], threshold)
    next_label = labels.max() + 1
    for g in np.unique(groups):
        members = faceless[groups == g]
        best, best_d = -1, FACELESS_STRICTNESS * threshold
        for person in np.unique(labels[labels >= 0]):
            units = np.flatnonzero(labels == person)
            d = cloth_d[np.ix_(members, units)]
            if np.isnan(d).all() or cannot[np.ix_(members, units)].any():
                continue
            if np.nanmean(d) < best_d:
                best, best_d = person, float(np.nanmean(d))
        if best >= 0:
            labels[members] = best
        elif sizes[members].sum() >= FACELESS_EVIDENCE * min_detections:
            labels[members] = next_label
            next_label += 1


def _renumber(labels, unit, time_s) -> np.ndarray:
    """Person ids 0..P-1 in order of first appearance; per row."""
    per_row = labels[unit]
    first = {}
    for p, t in zip(per_row, time_s):
        if p >= 0 and p not in first:
            first[p] = t
    order = {p: i for i, p in enumerate(sorted(first, key=lambda p: first[p]))}
    return np.array([order.get(p, -1) for p in per_row], np.int64)
