"""Unit-level view of a run and the single place where a changed grouping is written back.

A unit (the track_id column of detections.csv) is a face track, a person (body) track, or both joined;
every row of a unit belongs to one person, so a grouping is a person id per unit, and edits name units.

Why one `commit`: recluster and every edit must leave OUTDIR consistent (detections.csv/parquet,
people.json, people.csv, report.html, sqlite meta, manifest), so they all go through the same writer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from .. import store
from ..config import Config
from ..errors import ConfigError
from ..people import summarize_people
from .edits import new_edit
from .outdir import THUMBS_REL, RunOutput, update_meta, write_detections, write_people_csv

log = logging.getLogger("facecluster")


@dataclass
class TrackView:
    unit_of_row: np.ndarray  # (N,) unit (track) id of each row of the table, face and person rows
    sizes: np.ndarray  # (U,) detections per unit (face + body)
    faces: np.ndarray  # (U,) face detections per unit
    person: np.ndarray  # (U,) current person id per unit (-1 noise / no detections)

    @property
    def n_tracks(self) -> int:
        return len(self.sizes)


def track_view(out: RunOutput) -> TrackView:
    units = np.asarray(out.table["track_id"], np.int64)
    persons = np.asarray(out.table["person_id"], np.int64)
    ok = units >= 0
    n = int(units.max()) + 1 if ok.any() else 0
    person = np.full(n, -1, np.int64)
    person[units[ok]] = persons[ok]
    face = out.kind == "face" if len(units) else np.zeros(0, bool)
    return TrackView(units, np.bincount(units[ok], minlength=n), np.bincount(units[ok & face], minlength=n), person)


def tracks_of(out: RunOutput, view: TrackView, person_id: int) -> list[int]:
    """Unit (track) ids of a person; ConfigError listing the valid ids when there is no such person."""
    valid = out.person_ids()
    if person_id not in valid:
        listed = ", ".join(map(str, valid[:50])) + (" ..." if len(valid) > 50 else "")
        raise ConfigError(f"no person {person_id} in {out.folder}; valid person ids: {listed or '(none)'}")
    return np.flatnonzero(view.person == person_id).tolist()


def people_names(out: RunOutput) -> dict[int, str]:
    return {int(p["id"]): p["name"] for p in out.people if p.get("name")}


def seeded_edits(out: RunOutput, view: TrackView, edits: list[dict]) -> list[dict]:
    """Names that came with the run (not from label edits) become label edits, so they survive too."""
    if any(e.get("op") == "label" for e in edits):
        return edits
    return [new_edit("label", person=pid, name=name, tracks=tracks_of(out, view, pid))
            for pid, name in people_names(out).items()] + edits


def commit(out: RunOutput, view: TrackView, person_of_track: np.ndarray, names: dict[int, str],
           config: Config | None = None, same_person_distance: float | None = None,
           action: dict | None = None, meta: dict | None = None) -> list[dict]:
    """Write the new grouping (person id per unit, names per person id) everywhere in OUTDIR."""
    from ..report import write_report

    config = config or out.config
    table = dict(out.table)
    person = np.full(len(view.unit_of_row), -1, np.int64)
    ok = view.unit_of_row >= 0
    person[ok] = person_of_track[view.unit_of_row[ok]]
    table["person_id"] = person
    people = summarize_people(table, out.faces, config.fps, THUMBS_REL, names)
    folder = out.folder
    write_detections(folder, table)
    spd = same_person_distance if same_person_distance is not None else out.same_person_distance
    meta = {"config": config.to_dict(), "same_person_distance": spd, **(meta or {})}
    update_meta(folder, meta)
    store.write_json(folder / "people.json", {"people": people})
    write_people_csv(folder, people)
    manifest = dict(out.manifest)
    manifest["config"] = config.to_dict()
    manifest["same_person_distance"] = spd
    counts = dict(manifest.get("counts", {}))
    counts.update(people=len(people), noise_detections=int((person < 0).sum()))
    manifest["counts"] = counts
    if action:
        history = list(manifest.get("changes", []))[-99:]
        history.append({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **action})
        manifest["changes"] = history
    store.write_json(folder / store.MANIFEST, manifest)
    out.table, out.people, out.manifest = table, people, manifest
    out.meta.update(meta)
    write_report(folder, table=table, people=people, manifest=manifest)
    log.info("%s: %d people written", folder, len(people))
    return people
