"""The user's corrections (edits.json) as constraints on UNITS, replayed onto any grouping.

Why units: person ids change with every re-clustering, units do not for a given extraction. Each edit also
keeps a few anchors per unit (frame index and box of some of its detections), so when the video is run
again with other extraction settings (other units) the edit is carried over to the units that now hold
those detections.

Ops: label(units, name) names whoever holds most of those units; merge(units) must-links them; split
(parts) cannot-links every pair across parts; undo(target) switches an earlier edit off (an undo can be
undone). Later edits win over earlier ones about the same pair.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import numpy as np

from ..grouping import Constraints, components
from ..table import RunTable
from ..types import iou_matrix

log = logging.getLogger(__name__)
ANCHORS_PER_UNIT = 3
ANCHOR_IOU = 0.5


def anchors(table: RunTable, units) -> dict[str, list[list[float]]]:
    """A few (frame_index, x1, y1, x2, y2) of each unit, spread over its rows."""
    out = {}
    order = np.argsort(table.unit_id, kind="stable")
    bounds = np.searchsorted(table.unit_id[order], [[u, u + 1] for u in units]) if len(units) else []
    for u, (lo, hi) in zip(units, bounds):
        rows = order[lo:hi]
        pick = rows[np.linspace(0, len(rows) - 1, min(ANCHORS_PER_UNIT, len(rows))).round().astype(int)] \
            if len(rows) else []
        out[str(int(u))] = [[int(table.frame_index[r]), *(round(float(v), 1) for v in table.boxes[r])] for r in pick]
    return out


def new_edit(edits: list[dict], table: RunTable, extraction: str, op: str, **fields) -> dict:
    """An edit with the next id, its time, the extraction it was made on and anchors of its units."""
    units = sorted({int(u) for key in ("units",) for u in fields.get(key, [])} |
                   {int(u) for part in fields.get("parts", []) for u in part})
    edit = {"id": max([e.get("id", 0) for e in edits], default=0) + 1, "op": op,
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "extraction": extraction, **fields}
    if units:
        edit["anchors"] = anchors(table, units)
    return edit


def active_edits(edits: list[dict]) -> list[dict]:
    """Edits not switched off by a later (itself active) undo."""
    undone, keep = set(), []
    for e in reversed(edits):
        if e.get("id") in undone:
            continue
        if e.get("op") == "undo":
            undone.add(e.get("target"))
        keep.append(e)
    return [e for e in reversed(keep) if e.get("op") != "undo"]


class _Remap:
    """Old unit ids (of another extraction) -> current units, through the edits' anchors."""

    def __init__(self, table: RunTable, extraction: str):
        self.table, self.extraction = table, extraction
        self.by_frame: dict[int, np.ndarray] = {}
        if len(table):
            order = np.argsort(table.frame_index, kind="stable")
            frames, starts = np.unique(table.frame_index[order], return_index=True)
            for f, rows in zip(frames.tolist(), np.split(order, starts[1:])):
                self.by_frame[f] = rows
        self.lost = 0

    def units(self, edit: dict, units) -> list[int]:
        n = self.table.n_units
        if edit.get("extraction") == self.extraction:
            return [int(u) for u in units if 0 <= int(u) < n]
        out = []
        for u in units:
            votes = []
            for frame, *box in edit.get("anchors", {}).get(str(int(u)), []):
                rows = self.by_frame.get(int(frame))
                if rows is None:
                    continue
                iou = iou_matrix(np.array([box], np.float32), self.table.boxes[rows])[0]
                if iou.max(initial=0) >= ANCHOR_IOU:
                    votes.append(int(self.table.unit_id[rows[int(iou.argmax())]]))
            if votes:
                out.append(int(np.bincount(votes).argmax()))
            else:
                self.lost += 1
        return sorted(set(out))


def replay(edits: list[dict], table: RunTable, extraction: str) -> tuple[Constraints, list[tuple[list[int], str]]]:
    """The active edits as unit constraints (+ every touched unit kept as a person) and the labels
    [(units, name)] in order."""
    remap = _Remap(table, extraction)
    steps = []
    for e in active_edits(edits):
        if e["op"] in ("merge", "label"):
            units = remap.units(e, e["units"])
            steps.append((e["op"], [units], e.get("name")))
            if e["op"] == "merge" and e.get("name"):  # a merge keeps the name of the first named person
                steps.append(("label", [units], e["name"]))
        elif e["op"] == "split":
            steps.append(("split", [remap.units(e, p) for p in e["parts"]], None))
    if remap.lost:
        log.warning("%d unit(s) named by earlier corrections were not found in this run (other detections); "
                    "those parts of the corrections were dropped", remap.lost)
    involved = sorted({u for op, groups, _ in steps if op != "label" for g in groups for u in g})
    local = {u: i for i, u in enumerate(involved)}
    k = len(involved)
    must, cannot = np.zeros((k, k), bool), np.zeros((k, k), bool)
    labels = []
    for op, groups, name in steps:
        if op == "label":
            labels.append((groups[0], name or ""))
        elif op == "merge":
            g = [local[u] for u in groups[0]]
            must[np.ix_(g, g)], cannot[np.ix_(g, g)] = True, False
        else:
            parts = [[local[u] for u in p] for p in groups]
            for i, a in enumerate(parts):
                for b in parts[i + 1:]:
                    for x, y in ((a, b), (b, a)):
                        cannot[np.ix_(x, y)], must[np.ix_(x, y)] = True, False
    ids = np.asarray(involved, np.int64)
    comp = components(k, np.argwhere(np.triu(must, 1)).tolist())
    groups = [ids[comp == c].tolist() for c in np.unique(comp) if (comp == c).sum() > 1]
    a, b = np.nonzero(np.triu(cannot, 1))
    return Constraints(must=groups, cannot=np.stack([ids[a], ids[b]], 1) if len(a) else np.zeros((0, 2), np.int64),
                       keep=involved), labels


def resolve_names(unit_person: np.ndarray, sizes: np.ndarray, labels: list[tuple[list[int], str]],
                  start: dict[int, str] | None = None) -> dict[int, str]:
    """Each label names the person holding most of its units (ties: more sightings); the latest wins; an
    empty name removes one. `start`: names to begin with (e.g. from a people library)."""
    names: dict[int, str] = dict(start or {})
    for units, name in labels:
        units = np.asarray([u for u in units if 0 <= u < len(unit_person)], np.int64)
        held = unit_person[units] if len(units) else np.zeros(0, np.int64)
        ok = held >= 0
        if not ok.any():
            continue
        votes = np.bincount(held[ok]) * (sizes.sum() + 1) + np.bincount(held[ok], weights=sizes[units][ok])
        target = int(np.argmax(votes))
        if name:
            names[target] = name
        else:
            names.pop(target, None)
    return names


def stable_ids(unit_person: np.ndarray, sizes: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Person ids that stay put across an edit: each person keeps the old id it shares most sightings
    with; new people get fresh ids (in order of their labels)."""
    out = np.full(len(unit_person), -1, np.int64)
    both = (unit_person >= 0) & (previous >= 0)
    pairs, inverse = np.unique(np.stack([unit_person[both], previous[both]], 1), axis=0, return_inverse=True)
    weight = np.bincount(inverse.reshape(-1), weights=sizes[both], minlength=len(pairs))
    kept, taken = {}, set()
    for k in np.lexsort((pairs[:, 1], pairs[:, 0], -weight)).tolist():
        g, old = int(pairs[k, 0]), int(pairs[k, 1])
        if g not in kept and old not in taken:
            kept[g] = old
            taken.add(old)
    groups = np.unique(unit_person[unit_person >= 0])
    next_id = max([int(previous.max(initial=-1))] + list(taken)) + 1
    mapping = np.full(int(groups.max(initial=-1)) + 1, -1, np.int64)
    for g in groups.tolist():
        if g not in kept:
            kept[g], next_id = next_id, next_id + 1
        mapping[g] = kept[g]
    out[unit_person >= 0] = mapping[unit_person[unit_person >= 0]]
    return out
