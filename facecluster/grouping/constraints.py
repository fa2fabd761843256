"""Apply unit constraints to an existing grouping without clustering again: what an edit command does, so
a correction changes what it says and nothing else.

- each must-linked component moves into the person holding most of its sightings (a new person if none);
- a unit the user looked at that is nobody's becomes a person of its own;
- a person holding a cannot-linked pair is split: its must-linked components, biggest first, each into the
  first part it has no cannot-link with.
(`group` respects the same constraints inside clustering; this is the same contract after the fact.)
"""

from __future__ import annotations

import numpy as np

from .base import Constraints, components


def apply_constraints(unit_person: np.ndarray, sizes: np.ndarray, constraints: Constraints) -> np.ndarray:
    labels = np.asarray(unit_person, np.int64).copy()
    n = len(labels)
    sizes = np.asarray(sizes, np.float64)
    groups = [[int(u) for u in g if 0 <= int(u) < n] for g in constraints.must]
    comp = components(n, [g for g in groups if len(g) > 1])
    next_label = int(labels.max(initial=-1)) + 1
    for root in np.unique(comp[[u for g in groups for u in g]]) if groups else []:
        members = np.flatnonzero(comp == root)
        if len(members) < 2:
            continue
        held = labels[members]
        if (held >= 0).any():
            weight = np.bincount(held[held >= 0], weights=sizes[members][held >= 0])
            labels[members] = int(np.argmax(weight))
        else:
            labels[members], next_label = next_label, next_label + 1
    for u in constraints.keep:
        if 0 <= u < n and labels[u] < 0:
            labels[u], next_label = next_label, next_label + 1
    cannot = np.asarray(constraints.cannot, np.int64).reshape(-1, 2)
    cannot = cannot[(cannot >= 0).all(1) & (cannot < n).all(1)]
    partners: dict[int, set] = {}
    for a, b in cannot.tolist():
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)
    violated = {int(labels[a]) for a, b in cannot.tolist() if labels[a] >= 0 and labels[a] == labels[b]}
    for person in sorted(violated):
        members = np.flatnonzero(labels == person)
        units = [members[comp[members] == c] for c in np.unique(comp[members])]
        units.sort(key=lambda u: -sizes[u].sum())
        parts: list[set] = []
        for unit in units:
            blocked = set().union(*(partners.get(int(u), set()) for u in unit))
            for part in parts:
                if not (blocked & part):
                    part.update(unit.tolist())
                    break
            else:
                parts.append(set(unit.tolist()))
        for part in parts[1:]:
            labels[sorted(part)], next_label = next_label, next_label + 1
    return labels
