"""label / merge / split: the user's corrections, recorded in edits.json and applied at once.

Why record tracks and not person ids: see edits.py; "tracks" are units (a face track, a body track, or
both joined), so a person seen only as a body can be labelled, merged and split like any other. Each
command turns "person N" into the units it holds now, appends one edit to the log, and re-applies the
whole log to the current grouping (already-satisfied edits change nothing), keeping person ids stable
where possible.
"""

from __future__ import annotations

import numpy as np

from ..cluster import constrained_average_linkage
from ..errors import ConfigError
from .edits import apply_edits, new_edit, number_people, read_edits, write_edits
from .outdir import RunOutput, check_folder, load, locked
from .state import TrackView, commit, people_names, seeded_edits, track_view, tracks_of

SPLIT_MODES = ("track", "strict")
STRICT_FACTORS = (0.75, 0.5, 0.35, 0.25)  # of the run's same-person distance, tried in turn


def _edit(folder, make_edits) -> tuple[list[dict], np.ndarray, TrackView]:
    """Lock, load, append the edits made by make_edits(out, view), apply the log, write everything."""
    folder = check_folder(folder)
    with locked(folder):
        out = load(folder)
        view = track_view(out)
        edits = seeded_edits(out, view, read_edits(folder))
        new = make_edits(out, view)
        edits += new
        labels, names = apply_edits(view.person, view.sizes, edits)
        ids = number_people(labels, view.sizes, previous=view.person)
        named = {int(ids[np.argmax(labels == lab)]): name for lab, name in names.items()}
        write_edits(folder, edits)
        action = {k: v for k, v in new[0].items() if k not in ("at", "tracks", "parts")}
        people = commit(out, view, ids, named, action=action)
    return people, ids, view


def _by_id(people: list[dict], ids) -> list[dict]:
    wanted = {int(i) for i in ids if i >= 0}
    return [p for p in people if p["id"] in wanted]


def label(folder, person_id: int, name: str) -> dict:
    """Name a person (an empty name removes it). The name follows the majority of its tracks."""
    name = " ".join(str(name).split())

    def make(out, view):
        return [new_edit("label", person=person_id, name=name, tracks=tracks_of(out, view, person_id))]

    people, ids, view = _edit(folder, make)
    tracks = np.flatnonzero(view.person == person_id)
    return _by_id(people, [np.bincount(ids[tracks][ids[tracks] >= 0]).argmax()])[0]


def merge(folder, person_ids: list[int]) -> dict:
    """One person from several; keeps the name of the first named person listed."""
    person_ids = list(dict.fromkeys(int(p) for p in person_ids))
    if len(person_ids) < 2:
        raise ConfigError("merge needs at least two different person ids, e.g. `facecluster merge OUTDIR 3 7`")

    def make(out, view):
        tracks = [t for p in person_ids for t in tracks_of(out, view, p)]
        edits = [new_edit("merge", people=person_ids, tracks=tracks)]
        names = people_names(out)
        first = next((names[p] for p in person_ids if p in names), None)
        if first:
            edits.append(new_edit("label", person=person_ids[0], name=first, tracks=tracks))
        return edits

    people, ids, view = _edit(folder, make)
    first_track = np.flatnonzero(view.person == person_ids[0])[0]
    return _by_id(people, [ids[first_track]])[0]


def split(folder, person_id: int, by: str = "track", tracks: list[int] | None = None) -> list[dict]:
    """Split a person: every track apart (by="track"), by re-clustering its tracks more strictly
    (by="strict"), or move the given `tracks` out into a new person. Returns the resulting people."""
    if by not in SPLIT_MODES:
        raise ConfigError(f"unknown split mode {by!r}; choose one of: {', '.join(SPLIT_MODES)}")

    def make(out, view):
        mine = tracks_of(out, view, person_id)
        if len(mine) < 2:
            raise ConfigError(f"person {person_id} has only one track ({int(view.sizes[mine].sum())} detections); "
                              f"there is nothing to split")
        if tracks:
            moved = sorted({int(t) for t in tracks})
            if not set(moved) < set(mine):
                raise ConfigError(f"--tracks must be some (not all) of person {person_id}'s tracks: "
                                  f"{', '.join(map(str, mine))}")
            parts = [[t for t in mine if t not in moved], moved]
        elif by == "track":
            parts = [[t] for t in sorted(mine, key=lambda t: -view.sizes[t])]
        else:
            parts = _strict_parts(out, view, mine, person_id)
        return [new_edit("split", person=person_id, by="tracks" if tracks else by, parts=parts)]

    people, ids, view = _edit(folder, make)
    return _by_id(people, np.unique(ids[view.person == person_id]))


def _unit_means(out: RunOutput, view: TrackView, space) -> tuple[np.ndarray, np.ndarray]:
    """(U, D) unit-length mean vector per unit of an embedding space (ids, vectors), and (U,) counts."""
    ids, vectors = space
    row_of = {int(d): i for i, d in enumerate(np.asarray(out.table["detection_id"]))}
    have = [(k, row_of[int(d)]) for k, d in enumerate(ids) if int(d) in row_of]
    sums = np.zeros((view.n_tracks, vectors.shape[1]))
    counts = np.zeros(view.n_tracks)
    if have:
        k, r = np.array(have).T
        units = view.unit_of_row[r]
        np.add.at(sums, units, vectors[k])
        np.add.at(counts, units, 1)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.maximum(norms, 1e-12), counts


def _strict_parts(out: RunOutput, view: TrackView, tracks: list[int], person_id: int) -> list[list[int]]:
    """Re-cluster one person's units at ever smaller distances until it falls apart. Units with faces are
    compared by face (as before persons existed); a unit without a face (body only) by clothing, its
    distance scaled from the clothing to the face same-person distance (no clothing: kept apart)."""
    tracks = list(tracks)
    spd = out.same_person_distance
    face_units = view.faces[tracks] > 0
    dist = np.full((len(tracks), len(tracks)), 2.0)
    if face_units.any():
        sums = np.zeros((view.n_tracks, out.emb.shape[1]))
        np.add.at(sums, view.unit_of_row[out.face_rows], out.emb)
        idx = np.flatnonzero(face_units)
        means = sums[np.array(tracks)[idx]] / np.maximum(view.faces[np.array(tracks)[idx]], 1)[:, None]
        dist[np.ix_(idx, idx)] = np.clip(1.0 - means @ means.T, 0.0, 2.0)  # mean pairwise cosine distance
    clothing = out.clothing()
    if not face_units.all() and clothing is not None and len(clothing[0]):
        cmeans, ccounts = _unit_means(out, view, clothing)
        has = ccounts[tracks] > 0
        cd = np.clip(1.0 - cmeans[tracks] @ cmeans[tracks].T, 0.0, 2.0) / (out.clothing_same_person_distance or 1.0)
        body = ~face_units[:, None] | ~face_units[None, :]
        use = body & has[:, None] & has[None, :]
        dist[use] = cd[use] * spd
    np.fill_diagonal(dist, 0.0)
    for factor in STRICT_FACTORS:
        groups = constrained_average_linkage(dist, np.zeros_like(dist, bool), factor * spd, view.sizes[tracks])
        if groups.max() > 0:
            parts = [[tracks[i] for i in np.flatnonzero(groups == g)] for g in np.unique(groups)]
            return sorted(parts, key=lambda p: -view.sizes[p].sum())
    raise ConfigError(f"the tracks of person {person_id} stay together even at {STRICT_FACTORS[-1]:.2f}x the "
                      f"same-person distance; use `--by track` (or `--tracks`) instead")
