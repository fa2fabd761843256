"""Face prototypes: what the library keeps of a person seen in a run, and what a run asks it with.

A prototype is the normalised mean of unit-length face vectors: the person's mean over the whole run,
plus the means of their best-seen tracks (units), so one person keeps several looks (lighting, angle,
make-up) without storing every face. Never clothing: outfits change between episodes.
"""

from __future__ import annotations

import numpy as np

from ..types import l2_normalize

MAX_TRACKS = 11  # track prototypes per person and run (plus the person's mean)
MIN_TRACK_FACES = 2  # a track prototype needs this many faces (one face is too noisy to keep)
DUPLICATE = 0.97  # a track mean this similar to a kept prototype adds nothing


def face_rows(extraction, unit_person: np.ndarray):
    """(person id, unit id, unit-length vector) of every face with a vector."""
    faces = extraction.faces
    if faces is None or not len(faces[0]):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    ids, vectors = faces
    units = extraction.table.unit_id[ids]
    return unit_person[units], units, l2_normalize(vectors)


def person_means(extraction, unit_person: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(person ids, (P, D) unit mean face vector of each, faces of each) for every person with faces."""
    person, _, vectors = face_rows(extraction, unit_person)
    keep = person >= 0
    if not keep.any():
        return np.zeros(0, np.int64), np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), np.float32), \
            np.zeros(0, np.int64)
    pids, index = np.unique(person[keep], return_inverse=True)
    sums = np.zeros((len(pids), vectors.shape[1]), np.float64)
    np.add.at(sums, index, vectors[keep])
    return pids, l2_normalize(sums), np.bincount(index, minlength=len(pids))


def of_person(extraction, unit_person: np.ndarray, person_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, D) prototypes of one person and the faces behind each: their mean first, then track means."""
    person, units, vectors = face_rows(extraction, unit_person)
    mine = person == person_id
    if not mine.any():
        return np.zeros((0, vectors.shape[1]), np.float32), np.zeros(0, np.int64)
    v, u = vectors[mine], units[mine]
    out, counts = [l2_normalize(v.sum(0))], [int(mine.sum())]
    ids, index, n = np.unique(u, return_inverse=True, return_counts=True)
    sums = np.zeros((len(ids), v.shape[1]))
    np.add.at(sums, index, v)
    for k in np.lexsort((ids, -n)).tolist():
        if len(out) > MAX_TRACKS or n[k] < MIN_TRACK_FACES:
            break
        mean = l2_normalize(sums[k])
        if max(float(mean @ o) for o in out) < DUPLICATE:
            out.append(mean)
            counts.append(int(n[k]))
    return np.array(out, np.float32), np.array(counts, np.int64)
