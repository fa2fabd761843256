"""The user's corrections: label, merge, split, not-this-person, assign, undo, and answers to "are these
the same person?". The CLI and the review app call these same functions (one code path).

Each one, under the folder's write lock: turns "person N" into the units it holds now, appends edits to
edits.json, applies the whole log to the CURRENT grouping (so a correction changes what it says and
nothing else; `recluster` applies the same log inside clustering), keeps person ids where it can, and
commits every result file at once.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..grouping import Fusion, GroupingOptions, build_units, group
from ..grouping.units import subset
from ..runfolder import RunFolder, StoredRun
from .edits import active_edits, new_edit
from .state import corrected, effective_config, grouping_options, result_set, unit_sizes

SPLIT_MODES = ("track", "strict")
STRICT_FACTORS = (0.75, 0.5, 0.35, 0.25)  # of the run's same-person cut, tried in turn


def units_of(stored: StoredRun, person_id: int) -> list[int]:
    """Units of a person; ConfigError listing the valid ids when there is no such person."""
    for p in stored.people:
        if p["id"] == person_id:
            return list(p["units"])
    valid = [p["id"] for p in stored.people]
    listed = ", ".join(map(str, valid[:50])) + (" ..." if len(valid) > 50 else "")
    raise ConfigError(f"no person {person_id} in {stored.folder}; valid person ids: {listed or '(none)'}")


def unit_of_detection(stored: StoredRun, detection_id: int) -> int:
    table = stored.table
    if not 0 <= detection_id < len(table):
        raise ConfigError(f"no detection {detection_id} in {stored.folder}; detection ids are 0..{len(table) - 1} "
                          f"(see detections.csv or the tooltips in report.html)")
    return int(table.unit_id[detection_id])


def apply(folder, make) -> tuple[list[dict], np.ndarray, StoredRun]:
    """Lock, load, append the edits make(stored) returns, apply the log to the current grouping, commit.
    Returns (people, new person id per unit, the stored run before the change)."""
    rf = RunFolder(folder)
    with rf.writing():
        stored = rf.load()
        new = make(stored)
        edits = stored.edits + new
        extraction = stored.extraction
        # names not given by the user (a people library's) stay with their person
        keep = {p["id"]: p["name"] for p in stored.people if p.get("name") and p.get("name_source") == "library"}
        regrouped = corrected(extraction, stored.base(), edits, stored.grouping, previous=stored.unit_person(),
                              keep_names=keep)
        config = effective_config(extraction, stored.manifest)
        action = {k: v for k, v in new[-1].items() if k in ("op", "id", "name", "target")} if new else None
        results = result_set(extraction, config, regrouped, stored.manifest, rf.path, edits, action=action)
        rf.commit(results)
    return results.people, regrouped.unit_person, stored


def _edit(stored: StoredRun, op: str, **fields) -> dict:
    return new_edit(stored.edits, stored.table, stored.extraction.meta.get("fingerprint", ""), op, **fields)


def _person(people: list[dict], ids: np.ndarray, units: list[int]) -> dict:
    held = ids[units]
    held = held[held >= 0]
    pid = int(np.bincount(held).argmax()) if len(held) else -1
    return next(p for p in people if p["id"] == pid)


def label(folder, person_id: int, name: str) -> dict:
    """Name a person (an empty name removes it). The name follows the majority of its units."""
    name = " ".join(str(name).split())
    units: list[int] = []

    def make(stored):
        units.extend(units_of(stored, person_id))
        return [_edit(stored, "label", units=units, name=name)]

    people, ids, _ = apply(folder, make)
    return _person(people, ids, units)


def merge(folder, person_ids: list[int]) -> dict:
    """One person from several; keeps the name of the first named person listed."""
    person_ids = list(dict.fromkeys(int(p) for p in person_ids))
    if len(person_ids) < 2:
        raise ConfigError("merge needs at least two different person ids, e.g. `facecluster merge OUTDIR 3 7`")
    units: list[int] = []

    def make(stored):
        units.extend(u for p in person_ids for u in units_of(stored, p))
        names = {p["id"]: p.get("name") for p in stored.people}
        first = next((names[p] for p in person_ids if names.get(p)), None)
        return [_edit(stored, "merge", units=units, people=person_ids, **({"name": first} if first else {}))]

    people, ids, _ = apply(folder, make)
    return _person(people, ids, units)


def split(folder, person_id: int, by: str = "track", units: list[int] | None = None) -> list[dict]:
    """Split a person: every unit apart (by="track"), by grouping its units again with a stricter cut
    (by="strict"), or move the given `units` out into a new person. Returns the resulting people."""
    if by not in SPLIT_MODES:
        raise ConfigError(f"unknown split mode {by!r}; choose one of: {', '.join(SPLIT_MODES)}")
    mine: list[int] = []

    def make(stored):
        mine.extend(units_of(stored, person_id))
        sizes = unit_sizes(stored.extraction)
        if len(mine) < 2:
            raise ConfigError(f"person {person_id} has only one track ({int(sizes[mine].sum())} detections); "
                              f"there is nothing to split")
        if units:
            moved = sorted({int(u) for u in units})
            if not set(moved) < set(mine):
                raise ConfigError(f"--tracks must be some (not all) of person {person_id}'s tracks: "
                                  f"{', '.join(map(str, mine))}")
            parts = [[u for u in mine if u not in moved], moved]
        elif by == "track":
            parts = [[u] for u in sorted(mine, key=lambda u: -sizes[u])]
        else:
            parts = strict_parts(stored, mine, person_id)
        return [_edit(stored, "split", parts=parts, person=person_id, by="units" if units else by)]

    people, ids, _ = apply(folder, make)
    return [p for p in people if p["id"] in set(ids[mine].tolist())]


def strict_parts(stored: StoredRun, mine: list[int], person_id: int) -> list[list[int]]:
    """The person's units grouped again, through the same flow and fusion as clustering, at ever smaller
    fractions of the cut until they fall apart."""
    extraction = stored.extraction
    config = effective_config(extraction, stored.manifest)
    options, _ = grouping_options(config, extraction)
    units = subset(build_units(extraction.table, extraction.faces, extraction.clothing), np.asarray(mine))
    base = options.fusion
    for factor in STRICT_FACTORS:
        fusion = Fusion(base.face_cut * factor, base.clothing_cut * factor, base.weight, base.veto)
        strict = GroupingOptions(fusion, options.min_cluster_size, options.min_samples, 1, 0.0, "dense")
        labels = group(units, strict).unit_person
        labels[labels < 0] = labels.max(initial=-1) + 1 + np.arange((labels < 0).sum())
        if len(np.unique(labels)) > 1:
            parts = [[mine[i] for i in np.flatnonzero(labels == g)] for g in np.unique(labels)]
            sizes = unit_sizes(extraction)
            return sorted(parts, key=lambda p: -sizes[p].sum())
    raise ConfigError(f"the tracks of person {person_id} stay together even at {STRICT_FACTORS[-1]:.2f}x the "
                      f"same-person distance; use `--by track` (or `--tracks`) instead")


def not_person(folder, detection_id: int) -> dict:
    """"Not this person" on a sighting: its unit must never be with the person's other units again."""
    state: dict = {}

    def make(stored):
        unit = unit_of_detection(stored, detection_id)
        person = int(stored.unit_person()[unit])
        if person < 0:
            raise ConfigError(f"detection {detection_id} belongs to nobody; there is nothing to separate")
        others = [u for u in units_of(stored, person) if u != unit]
        if not others:
            raise ConfigError(f"detection {detection_id} is all that person {person} is made of")
        state["unit"] = unit
        return [_edit(stored, "split", parts=[others, [unit]], person=person, by="not-this-person")]

    people, ids, _ = apply(folder, make)
    return _person(people, ids, [state["unit"]])


def assign(folder, detection_ids: list[int], person_id: int) -> dict:
    """Give sightings (their units; e.g. unassigned faces or bodies) to a person."""
    units: list[int] = []

    def make(stored):
        target = units_of(stored, person_id)
        given = sorted({unit_of_detection(stored, int(d)) for d in detection_ids})
        units.extend(target + [u for u in given if u not in target])
        return [_edit(stored, "merge", units=units, people=[person_id], assigned=list(map(int, detection_ids)))]

    people, ids, _ = apply(folder, make)
    return _person(people, ids, units)


def answer(folder, person_a: int, person_b: int, same: bool) -> list[dict]:
    """An answer to "are these the same person?": yes merges them, no keeps them apart for good."""
    if same:
        return [merge(folder, [person_a, person_b])]
    parts: list[list[int]] = []

    def make(stored):
        parts.extend([units_of(stored, person_a), units_of(stored, person_b)])
        return [_edit(stored, "split", parts=parts, people=[person_a, person_b], by="answer")]

    people, ids, _ = apply(folder, make)
    wanted = set(ids[[u for p in parts for u in p]].tolist())
    return [p for p in people if p["id"] in wanted]


def undo(folder, edit_id: int | None = None) -> dict:
    """Switch off an edit (the latest one still in effect by default); an undo can itself be undone."""
    done: dict = {}

    def make(stored):
        active = active_edits(stored.edits)
        target = edit_id if edit_id is not None else (active[-1]["id"] if active else None)
        if target is None:
            raise ConfigError("there is no correction to undo")
        if not any(e["id"] == target for e in stored.edits):
            raise ConfigError(f"no edit {target} in {stored.folder}/edits.json")
        done["target"] = target
        return [_edit(stored, "undo", target=target)]

    apply(folder, make)
    return done
