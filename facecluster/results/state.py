"""From a stored extraction to a committed result set: the one path by which `run`, `recluster`, every
edit and `report` turn units into people and write them.

    options, info = grouping_options(config, extraction)
    regrouped = regroup(extraction, config, edits)                 # cluster + the user's corrections
    folder.commit(result_set(extraction, config, regrouped, ...))  # people, exports, report, manifest
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..config import Config, build_config, option_table
from ..grouping import Fusion, GroupingOptions, build_units, group
from ..grouping.constraints import apply_constraints
from ..people import summarize_people
from ..runfolder import Extraction, ResultSet
from .edits import active_edits, replay, resolve_names, stable_ids

log = logging.getLogger(__name__)
GROUP_OPTIONS = tuple(f.name for f in option_table(("group",)))


@dataclass
class Regrouped:
    unit_person: np.ndarray  # (U,) person id per unit, -1 = nobody
    base: np.ndarray  # (U,) the clustering before the user's corrections (they are applied on top of it)
    names: dict[int, str] = field(default_factory=dict)
    name_sources: dict[int, str] = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # how: cut, fusion, backend, corrections applied


def priors(extraction: Extraction) -> tuple[float, float | None]:
    """The face and clothing embedders' same-person distances recorded by the run."""
    meta = extraction.meta
    return float(meta["face_prior"]), (float(meta["clothing_prior"]) if meta.get("clothing_prior") else None)


def grouping_options(config: Config, extraction: Extraction) -> tuple[GroupingOptions, dict]:
    face_prior, clothing_prior = priors(extraction)
    face_cut, source = (config.cluster_distance, "config") if config.cluster_distance else (face_prior, "embedder prior")
    evidence = {}
    if config.calibrate_cut and not config.cluster_distance:
        from ..grouping.calibrate import video_cut

        face_cut, evidence = video_cut(extraction.table, extraction.faces, face_prior)
        source = evidence["source"]
    has_clothing = extraction.clothing is not None and len(extraction.clothing[0]) > 0
    fusion = Fusion(face_cut, clothing_prior or 1.0, config.clothing_weight if has_clothing else 0.0,
                    config.clothing_veto)
    info = {"face_cut": round(face_cut, 4), "cut_source": source, **({"cut_evidence": evidence} if evidence else {}),
            "face_prior": face_prior, "clothing_cut": clothing_prior, "clothing_weight": fusion.weight,
            "clothing_veto": fusion.veto}
    info["reliable_face"] = config.reliable_face
    return GroupingOptions(fusion, config.min_cluster_size, config.min_samples, config.min_person_detections,
                           config.clothing_window_s, reliable_face=config.reliable_face), info


def unit_sizes(extraction: Extraction) -> np.ndarray:
    """Sightings per unit (rows), the weight of a unit when corrections are resolved."""
    return np.bincount(extraction.table.unit_id, minlength=extraction.table.n_units).astype(np.float64)


def renumber(unit_person: np.ndarray, first_s: np.ndarray) -> np.ndarray:
    """Person ids 0..P-1 by first appearance."""
    out = np.full(len(unit_person), -1, np.int64)
    ids = np.unique(unit_person[unit_person >= 0])
    if not len(ids):
        return out
    first = np.full(ids.max() + 1, np.inf)
    valid = unit_person >= 0
    np.minimum.at(first, unit_person[valid], first_s[valid])
    order = ids[np.lexsort((ids, first[ids]))]
    rank = np.full(ids.max() + 1, -1, np.int64)
    rank[order] = np.arange(len(order))
    out[valid] = rank[unit_person[valid]]
    return out


def regroup(extraction: Extraction, config: Config, edits: list[dict], library=None) -> Regrouped:
    """Cluster the units, then apply the user's corrections on top. Corrections are applied to the
    clustering, not inside it, so each one does exactly what it says, undo restores what was there, and
    every command (run, recluster, an edit) lands on the same grouping for the same corrections.
    With a people `library` (facecluster.library.Library), people it recognises get their names, and people
    it surely recognises as one library person (never in one frame) are joined before the corrections."""
    options, info = grouping_options(config, extraction)
    units = build_units(extraction.table, extraction.faces, extraction.clothing)
    grouping = group(units, options)
    info.update(backend=grouping.backend, **{k: v for k, v in grouping.stats.items()
                                             if k in ("faceless_attached", "people")})
    base, joins = grouping.unit_person, []
    if library is not None:
        from ..library import join_recognised

        base, joins = join_recognised(library, extraction, base)
    regrouped = corrected(extraction, base, edits, info)
    if library is not None:
        from ..library import name_people

        regrouped = name_people(library, extraction, regrouped, joins)
    return regrouped


def corrected(extraction: Extraction, base: np.ndarray, edits: list[dict], info: dict,
              previous: np.ndarray | None = None, keep_names: dict[int, str] | None = None) -> Regrouped:
    """The corrections of `edits` on the clustering `base`. With `previous` (the grouping shown so far)
    person ids stay put where they can; without, people are numbered by first appearance."""
    constraints, labels = replay(edits, extraction.table, extraction.meta.get("fingerprint", ""))
    sizes = unit_sizes(extraction)
    fixed = apply_constraints(base, sizes, constraints)
    if previous is None:
        first = np.full(len(base), np.inf)
        np.minimum.at(first, extraction.table.unit_id, extraction.table.time_s)
        unit_person = renumber(fixed, first)
    else:
        unit_person = stable_ids(fixed, sizes, previous)
    start = {p: n for p, n in (keep_names or {}).items() if (unit_person == p).any()}
    names = resolve_names(unit_person, sizes, labels, start=start)
    sources = {p: ("library" if start.get(p) == names[p] else "edit") for p in names}
    return Regrouped(unit_person, np.asarray(base, np.int64), names, sources, {**info, "corrections": len(active_edits(edits))})


def effective_config(extraction: Extraction, manifest: dict | None, overrides: dict | None = None) -> Config:
    """The run's config, with the grouping options last used (manifest) and then `overrides` on top."""
    base = dict(extraction.meta.get("config") or {})
    if manifest:
        base.update({k: v for k, v in (manifest.get("config") or {}).items() if k in GROUP_OPTIONS})
    return build_config(base=base, overrides=overrides or {})


def result_set(extraction: Extraction, config: Config, regrouped: Regrouped, manifest: dict, folder: Path,
               edits: list[dict] | None, action: dict | None = None, **moves) -> ResultSet:
    """Everything a commit writes. `manifest`: the run's manifest so far (input, models, timings...)."""
    from ..report import render_report

    table = extraction.table.replace(person_id=regrouped.unit_person[extraction.table.unit_id]
                                     if len(extraction.table) else extraction.table.person_id)
    duration = analysed_seconds(extraction, config)
    people = summarize_people(table, regrouped.unit_person, extraction.faces, config.fps, duration,
                              regrouped.names, regrouped.name_sources)
    if regrouped.info.get("library"):
        from ..library import annotate

        annotate(people, regrouped.info)  # similarity of library names, suggestions of unsure matches
    manifest = dict(manifest)
    for key in ("tool", "format", "generation", "run_id", "files"):
        manifest.pop(key, None)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest.setdefault("created", now)
    manifest["updated"] = now
    manifest["config"] = config.to_dict()
    manifest["grouping"] = regrouped.info
    counts = dict(manifest.get("counts") or {})
    counts.update(people=len(people), face_detections=int(table.is_face.sum()),
                  body_detections=int(table.is_body.sum()), units=int(table.n_units),
                  unassigned_detections=int((table.person_id < 0).sum()), sampled_frames=int(len(extraction.frames)))
    manifest["counts"] = counts
    manifest["analysed_seconds"] = round(duration, 3)
    if action:
        manifest["changes"] = list(manifest.get("changes") or [])[-99:] + [{"at": now, **action}]
    unassigned = np.flatnonzero(regrouped.unit_person < 0).tolist()
    html = render_report(folder, table, people, manifest, edits or [], extraction.frames)
    return ResultSet(extraction.run_id, table, people, regrouped.info, manifest, html, edits, unassigned,
                     base=regrouped.base, **moves)


def analysed_seconds(extraction: Extraction, config: Config) -> float:
    """Seconds of video the run looked at: the container's duration (or max_seconds), never less than the
    last sampled frame plus one sampling step."""
    video = extraction.meta.get("video") or {}
    duration = float(video.get("duration_s") or 0.0)
    if config.max_seconds:
        duration = min(duration, config.max_seconds) if duration else config.max_seconds
    if len(extraction.frames):
        duration = max(duration, float(extraction.frames[-1, 1] - extraction.frames[0, 1]) + 1.0 / config.fps)
    return duration


def rewrite(folder) -> Path:
    """Commit the stored grouping again as it is (report.html and every export re-rendered)."""
    from ..runfolder import RunFolder

    rf = RunFolder(folder)
    with rf.writing():
        stored = rf.load()
        config = effective_config(stored.extraction, stored.manifest)
        names = {p["id"]: p["name"] for p in stored.people if p.get("name")}
        sources = {p["id"]: p.get("name_source") or "edit" for p in stored.people if p.get("name")}
        regrouped = Regrouped(stored.unit_person(), stored.base(), names, sources, stored.grouping)
        rf.commit(result_set(stored.extraction, config, regrouped, stored.manifest, rf.path, None))
    return rf.path
