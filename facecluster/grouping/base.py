"""The one grouping flow, from units to numbered people (pyannote-audio's pattern: the base owns the flow,
a clustering backend only clusters):

    units (face / clothing means, cannot-link pairs)
      -> the user's must-links pool units, their cannot-links join the video's own
      -> backend.cluster(): units with a face, by fused face+clothing distance (grouping.evidence)
      -> faceless units (bodies never seen with a face) join a person by clothing, or form their own
      -> people numbered 0..P-1 by first appearance

`run`, `recluster`, the edit commands, `split --strict`, the review app and the archive library all come
through here, so a grouping means the same thing everywhere.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from ..errors import unknown_name
from .evidence import Fusion
from .faceless import attach_faceless
from .units import Units, merge_units
from .weak import attach_weak, weak_units

log = logging.getLogger(__name__)
# runs with more units than this take the scalable backend: the dense one holds several U x U matrices
# (measured 0.6 GB at 5k units, 1.9 GB at 10k; scripts/bench_cluster_scale.py)
LARGE_UNITS = 5000


@dataclass(frozen=True)
class GroupingOptions:
    fusion: Fusion
    min_cluster_size: int = 2  # HDBSCAN's, in units (dense backend)
    min_samples: int = 1
    min_person_detections: int = 2  # a person of one unit needs this many sampled frames, else noise
    clothing_window_s: float = 0.0  # dense backend: trust clothing only between units this close in time
    backend: str = "auto"  # "auto", "dense" or "scalable"
    reliable_face: float = 0.0  # px: units whose faces are all smaller join people afterwards (grouping.weak)


@dataclass
class Constraints:
    """The user's corrections as unit constraints: each `must` list is one person, each `cannot` pair
    two people."""

    must: list[list[int]] = field(default_factory=list)
    cannot: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    keep: list[int] = field(default_factory=list)  # units the user looked at: a person, never noise


@dataclass
class Grouping:
    unit_person: np.ndarray  # (U,) person id per unit, -1 = nobody
    backend: str
    fusion: Fusion
    stats: dict

    @property
    def n_people(self) -> int:
        return int(self.unit_person.max()) + 1 if len(self.unit_person) else 0


class ClusteringBackend(ABC):
    NAME: str

    @abstractmethod
    def cluster(self, units: Units, face_units: np.ndarray, cannot: list[set], options: GroupingOptions
                ) -> np.ndarray:
        """Labels (0..L-1, -1 = noise) for the units `face_units` (those with a face); `cannot` holds, per
        unit of `units`, the units it must not share a person with."""


def backends() -> dict[str, type[ClusteringBackend]]:
    from .dense import DenseBackend
    from .scalable import ScalableBackend

    return {b.NAME: b for b in (DenseBackend, ScalableBackend)}


def choose_backend(name: str, n_units: int) -> ClusteringBackend:
    table = backends()
    if name == "auto":
        name = "scalable" if n_units > LARGE_UNITS else "dense"
    if name not in table:
        raise unknown_name("clustering backend", name, list(table) + ["auto"])
    return table[name]()


def components(n: int, groups) -> np.ndarray:
    """Connected components of items 0..n-1 where each group (a list of items) joins its items: one root item
    per item. The user's must-links (pooling, applying corrections, replaying edits) all go through here."""
    parent = np.arange(n)

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for group in groups:
        for u in group[1:]:
            parent[root(u)] = root(group[0])
    return np.array([root(u) for u in range(n)], np.int64)


def _pool(units: Units, constraints: Constraints) -> tuple[Units, np.ndarray]:
    """Units pooled by the user's must-links: (pooled units, pooled index of each original unit)."""
    roots = components(units.n, [[int(u) for u in group if 0 <= int(u) < units.n] for group in constraints.must])
    _, index = np.unique(roots, return_inverse=True)
    if len(index) and index.max() + 1 == units.n:
        return units, np.arange(units.n)
    return merge_units(units, index), index


def _sets(pairs: np.ndarray, n: int) -> list[set]:
    out: list[set] = [set() for _ in range(n)]
    for a, b in pairs.tolist():
        if a != b:
            out[a].add(b)
            out[b].add(a)
    return out


def _number(labels: np.ndarray, first_s: np.ndarray) -> np.ndarray:
    """Labels -> person ids 0..P-1 by first appearance (ties: lower label first)."""
    out = np.full(len(labels), -1, np.int64)
    valid = labels >= 0
    if not valid.any():
        return out
    ids = np.unique(labels[valid])
    first = np.full(ids.max() + 1, np.inf)
    np.minimum.at(first, labels[valid], first_s[valid])
    order = ids[np.lexsort((ids, first[ids]))]
    rank = np.full(ids.max() + 1, -1, np.int64)
    rank[order] = np.arange(len(order))
    out[valid] = rank[labels[valid]]
    return out


def group(units: Units, options: GroupingOptions, constraints: Constraints | None = None) -> Grouping:
    """People from units; see the module doc."""
    constraints = constraints or Constraints()
    pooled, index = _pool(units, constraints)
    user = index[np.asarray(constraints.cannot, np.int64).reshape(-1, 2)] if len(constraints.cannot) else \
        np.zeros((0, 2), np.int64)
    pairs = np.concatenate([pooled.cannot, np.sort(user, axis=1)])
    cannot = _sets(pairs, pooled.n)
    backend = choose_backend(options.backend, pooled.n)
    labels = np.full(pooled.n, -1, np.int64)
    weak = weak_units(pooled, options.reliable_face)
    face_units = np.flatnonzero(pooled.has_face & ~weak)
    if len(face_units):
        labels[face_units] = backend.cluster(pooled, face_units, cannot, options)
    weak_joined = attach_weak(pooled, labels, weak, cannot, options)
    attached = attach_faceless(pooled, labels, cannot, options)
    kept = np.unique(index[[u for u in constraints.keep if 0 <= u < units.n]]).astype(np.int64)
    for u in kept[labels[kept] < 0].tolist():
        labels[u] = labels.max(initial=-1) + 1
    people = _number(labels, pooled.first_s)
    stats = {"units": units.n, "pooled_units": pooled.n, "face_units": int(len(face_units)),
             "faceless_attached": attached, "weak_units": int(weak.sum()), "weak_joined": weak_joined, "people": int(people.max(initial=-1) + 1),
             "user_must": len(constraints.must), "user_cannot": int(len(user)), "backend": backend.NAME}
    log.debug("grouping: %s", stats)
    return Grouping(people[index], backend.NAME, options.fusion, stats)
