"""User corrections (edits.json) kept as constraints on TRACKS, and applied on top of any clustering.

Why tracks: person ids are renumbered by every re-cluster, but track ids come from the tracker and never
change for a run, so an edit recorded as "these tracks" still means the same faces after `recluster`.

The log is replayed in order into two pairwise relations over the tracks it mentions:
- merge(tracks): must-link every pair of them (and forget earlier cannot-links between them);
- split(parts): cannot-link every pair across parts (and forget earlier must-links between them);
so a later edit wins over an earlier one about the same pair. `apply_edits` then moves each must-linked
component into the person holding most of its detections, makes any other edited track that the
clustering left as noise a person of its own (the user has looked at it), and splits any person that
still holds a cannot-linked pair (greedy: biggest unit first into the first compatible part). Names: label(name,
tracks) gives the name to whichever person now holds most of those tracks; the latest label wins.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import OutputError
from .. import store

EDITS_NAME = "edits.json"
FORMAT = "facecluster-edits/1"


def read_edits(folder: Path) -> list[dict]:
    path = Path(folder) / EDITS_NAME
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        edits = data["edits"]
        if not isinstance(edits, list):
            raise ValueError("'edits' is not a list")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutputError(f"cannot read {path} ({exc}); fix it or delete it to drop all edits") from None
    return edits


def write_edits(folder: Path, edits: list[dict]) -> None:
    store.write_json(Path(folder) / EDITS_NAME, {"format": FORMAT, "edits": edits})


def new_edit(op: str, **fields) -> dict:
    return {"op": op, "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **fields}


def _constraints(edits: list[dict], n_tracks: int):
    """(involved track ids, must (K, K) bool, cannot (K, K) bool) over the tracks the edits mention."""
    def valid(tracks):
        return [int(t) for t in tracks if 0 <= int(t) < n_tracks]

    involved = sorted({t for e in edits if e.get("op") == "merge" for t in valid(e.get("tracks", []))} |
                      {t for e in edits if e.get("op") == "split" for p in e.get("parts", []) for t in valid(p)})
    local = {t: i for i, t in enumerate(involved)}
    k = len(involved)
    must, cannot = np.zeros((k, k), bool), np.zeros((k, k), bool)
    for e in edits:
        if e.get("op") == "merge":
            g = [local[t] for t in valid(e.get("tracks", []))]
            must[np.ix_(g, g)], cannot[np.ix_(g, g)] = True, False
        elif e.get("op") == "split":
            parts = [[local[t] for t in valid(p)] for p in e.get("parts", [])]
            for i, a in enumerate(parts):
                for b in parts[i + 1:]:
                    for x, y in ((a, b), (b, a)):
                        cannot[np.ix_(x, y)], must[np.ix_(x, y)] = True, False
    return np.asarray(involved, np.int64), must, cannot


def _components(must: np.ndarray) -> np.ndarray:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    if len(must) == 0:
        return np.zeros(0, np.int64)
    return connected_components(csr_matrix(must), directed=False)[1]


def apply_edits(track_labels: np.ndarray, track_sizes: np.ndarray, edits: list[dict]):
    """Track labels (-1 = noise) + the edit log -> (new track labels, {label: name})."""
    labels = np.asarray(track_labels, np.int64).copy()
    sizes = np.asarray(track_sizes, np.float64)
    involved, must, cannot = _constraints(edits, len(labels))
    comp = _components(must)
    next_label = int(labels.max(initial=-1)) + 1
    for c in np.unique(comp):
        tracks = involved[comp == c]
        if len(tracks) < 2:
            continue
        held = labels[tracks]
        if (held >= 0).any():
            weight = np.bincount(held[held >= 0], weights=sizes[tracks][held >= 0])
            labels[tracks] = int(np.argmax(weight))
        else:
            labels[tracks], next_label = next_label, next_label + 1
    for t in involved[labels[involved] < 0]:  # a track the user merged or split out is a person, not noise
        labels[t], next_label = next_label, next_label + 1
    for label in np.unique(labels[involved]) if len(involved) else []:
        members = np.flatnonzero(labels[involved] == label)
        if label < 0 or not cannot[np.ix_(members, members)].any():
            continue
        units = [members[comp[members] == c] for c in np.unique(comp[members])]
        units.sort(key=lambda u: -sizes[involved[u]].sum())
        parts: list[list[int]] = []
        for unit in units:
            for part in parts:
                if not cannot[np.ix_(unit, part)].any():
                    part.extend(unit.tolist())
                    break
            else:
                parts.append(unit.tolist())
        for part in parts[1:]:
            labels[involved[part]], next_label = next_label, next_label + 1
    return labels, resolve_names(labels, sizes, edits)


def resolve_names(labels: np.ndarray, sizes: np.ndarray, edits: list[dict]) -> dict[int, str]:
    """Each label edit names the person holding most of its tracks (ties: more detections)."""
    names: dict[int, str] = {}
    for e in edits:
        if e.get("op") != "label":
            continue
        tracks = np.array([t for t in e.get("tracks", []) if 0 <= t < len(labels)], np.int64)
        held = labels[tracks] if len(tracks) else np.zeros(0, np.int64)
        ok = held >= 0
        if not ok.any():
            continue
        votes = np.bincount(held[ok]) * (sizes.sum() + 1) + np.bincount(held[ok], weights=sizes[tracks][ok])
        target = int(np.argmax(votes))
        if e.get("name"):
            names[target] = str(e["name"])
        else:
            names.pop(target, None)
    return names


def number_people(labels: np.ndarray, sizes: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """Person id per track. Fresh: 0..P-1 in order of first track. With `previous` ids per track, each
    new person keeps the old id it shares most detections with, so ids stay put across edits."""
    out = np.full(len(labels), -1, np.int64)
    groups = sorted((int(x) for x in np.unique(labels) if x >= 0), key=lambda x: int(np.argmax(labels == x)))
    if previous is None:
        for pid, g in enumerate(groups):
            out[labels == g] = pid
        return out
    overlap = {}
    for g in groups:
        members = labels == g
        for old in np.unique(previous[members]):
            if old >= 0:
                overlap[(g, int(old))] = sizes[members & (previous == old)].sum()
    taken, kept = set(), {}
    for (g, old), _ in sorted(overlap.items(), key=lambda kv: -kv[1]):
        if g not in kept and old not in taken:
            kept[g] = old
            taken.add(old)
    next_id = max([int(previous.max(initial=-1))] + list(taken)) + 1
    for g in groups:
        if g not in kept:
            kept[g], next_id = next_id, next_id + 1
        out[labels == g] = kept[g]
    return out
