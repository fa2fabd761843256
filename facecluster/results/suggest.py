""""Are these the same person?": pairs of people ranked by how likely one person split in two is.

Why this distance: it is the one grouping merges by (grouping.evidence.Fusion with the run's cuts and
clothing weight, results.state.grouping_options), between whole people: a person's face vector is the mean
of its units' face vectors, so 1 - a.b is the mean cosine distance over every pair of their faces (what
average linkage compares), and clothing pulls two people closer the same way it does in clustering. One
difference: the face veto is lifted. In clustering it stops clothing from *joining* two clearly different
faces by itself; every pair asked here is one the grouping kept apart (face distance over the cut), so
with the veto clothing would never count, yet "same clothes, face a bit too far" is exactly the split a
person can confirm at a glance. A question is not a merge: the user decides. A pair with a person seen
only as a body is compared by clothing alone, against the stricter cut grouping holds faceless units to
(grouping.faceless.STRICTNESS), so outfits alike do not crowd out faces alike.

Pairs that can never be one person are left out: two people seen in the same sampled frame (two faces, or
two bodies, at once: the video's own cannot-link), and pairs the user already kept apart (a "no" answer,
a split, "not this person": any cannot-link of the edits log between their units). A "yes" answer merges
the two, so it leaves nothing to ask.

P people cost O(P^2 / block) memory-light passes of BLOCK rows; nothing is U x U.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..grouping import Fusion, build_units
from ..grouping.faceless import STRICTNESS
from ..runfolder import StoredRun
from .edits import replay
from .state import effective_config, grouping_options

BLOCK = 512


def _people_sums(stored: StoredRun):
    """Per person (ids ascending): face sum/count and clothing sum/count over its units, and the person
    index of every unit (-1 = nobody)."""
    extraction = stored.extraction
    units = build_units(extraction.table, extraction.faces, extraction.clothing)
    unit_person = stored.unit_person()
    ids = np.array(sorted(p["id"] for p in stored.people), np.int64)
    index = np.full(int(ids.max(initial=-1)) + 1, -1, np.int64)
    index[ids] = np.arange(len(ids))
    of_unit = np.where(unit_person >= 0, index[np.maximum(unit_person, 0)], -1) if len(ids) else \
        np.full(units.n, -1, np.int64)
    keep = of_unit >= 0

    def pool(values):
        out = np.zeros((len(ids),) + values.shape[1:])
        np.add.at(out, of_unit[keep], values[keep])
        return out

    face_sum, face_count = pool(units.face_sum), pool(units.face_count)
    cloth_sum = None if units.clothing_sum is None else pool(units.clothing_sum)
    return ids, of_unit, units, face_sum, face_count, cloth_sum, pool(units.clothing_count)


def _excluded(pairs: np.ndarray, of_unit: np.ndarray) -> set[tuple[int, int]]:
    """Unit pairs -> the person index pairs (i < j) they keep apart."""
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    if not len(pairs):
        return set()
    p = of_unit[pairs]
    p = p[(p >= 0).all(1) & (p[:, 0] != p[:, 1])]
    return set(map(tuple, np.sort(p, axis=1).tolist()))


def _relative(fusion: Fusion, face_a, face_b, has_face_a, has_face_b, cloth_a, cloth_b, has_cloth_a, has_cloth_b):
    """Fused relative distances between the rows of block a and all of b: face decides, clothing pulls
    (never past the veto); a pair without faces on both sides is placed by clothing alone, as strictly as
    grouping attaches faceless units."""
    fz = fusion.face(np.clip(1.0 - face_a @ face_b.T, 0.0, 2.0))
    both_face = has_face_a[:, None] & has_face_b[None, :]
    if cloth_a is not None:
        cz = fusion.clothing(np.clip(1.0 - cloth_a @ cloth_b.T, 0.0, 2.0))
        cz = np.where(has_cloth_a[:, None] & has_cloth_b[None, :], cz, np.nan)
    else:
        cz = np.full(fz.shape, np.nan)
    fused = np.where(both_face, fusion.fuse(fz, cz) if fusion.weight else fz, cz / STRICTNESS)
    return np.where(np.isnan(fused), np.inf, fused), np.where(both_face, fz, np.nan), cz


def suggestions(stored: StoredRun, top: int = 20, fusion: Fusion | None = None) -> list[dict]:
    """Up to `top` pairs of people, likeliest first: {a, b (person ids), relative_distance (< 1: the
    grouping itself would join them), face_distance, clothing_distance (relative; None = no evidence)}.
    `fusion`: another rule than the run's (for measurements)."""
    if fusion is None:
        config = effective_config(stored.extraction, stored.manifest)
        fusion = replace(grouping_options(config, stored.extraction)[0].fusion, veto=np.inf)  # see the module doc
    ids, of_unit, units, face_sum, face_count, cloth_sum, cloth_count = _people_sums(stored)
    n = len(ids)
    if n < 2 or top <= 0:
        return []
    face = face_sum / np.maximum(face_count, 1)[:, None]
    has_face = face_count > 0
    cloth = None if cloth_sum is None else cloth_sum / np.maximum(cloth_count, 1)[:, None]
    has_cloth = cloth_count > 0
    constraints, _ = replay(stored.edits, stored.table, stored.extraction.meta.get("fingerprint", ""))
    skip = _excluded(units.cannot, of_unit) | _excluded(constraints.cannot, of_unit)
    skip_a = np.array([a for a, _ in skip], np.int64)
    skip_b = np.array([b for _, b in skip], np.int64)
    best: list[tuple[float, int, int, float, float]] = []
    for r0 in range(0, n, BLOCK):
        r1 = min(n, r0 + BLOCK)
        z, fz, cz = _relative(fusion, face[r0:r1], face, has_face[r0:r1], has_face,
                              None if cloth is None else cloth[r0:r1], cloth, has_cloth[r0:r1], has_cloth)
        rows = np.arange(r0, r1)
        z[np.arange(r1 - r0)[:, None] >= (np.arange(n)[None, :] - r0)] = np.inf  # each pair once (j > i)
        mine = (skip_a >= r0) & (skip_a < r1)
        z[skip_a[mine] - r0, skip_b[mine]] = np.inf
        flat = z.ravel()
        k = min(top, int(np.isfinite(flat).sum()))
        if not k:
            continue
        pick = np.argpartition(flat, k - 1)[:k]
        for f in pick.tolist():
            i, j = divmod(f, n)
            best.append((float(flat[f]), int(rows[i]), j, float(fz[i, j]), float(cz[i, j])))
    best.sort(key=lambda x: (x[0], x[1], x[2]))
    out = []
    for z, i, j, f, c in best[:top]:
        out.append({"a": int(ids[i]), "b": int(ids[j]), "relative_distance": round(z, 4),
                    "face_distance": None if np.isnan(f) else round(f, 4),
                    "clothing_distance": None if np.isnan(c) else round(c, 4)})
    return out
