"""`recluster`: group the stored units again with new clustering settings, in seconds.

Why it is cheap: detection, embedding, tracking and the joining of face and body tracks into units (the
slow part, which needs the video) are stored in OUTDIR; only the grouping of units into people is redone
(fusion.assign_people on face and person rows with the stored face and clothing spaces, the same code
`run` uses), then the user's edits are re-applied as unit constraints. Options that change what was
detected or tracked (fps, detector, ...) cannot be honoured without the video, so they are refused with
a pointer to `run`.
"""

from __future__ import annotations

import importlib
import logging
import time

import numpy as np

from ..config import build_config
from ..errors import ConfigError
from .edits import apply_edits, number_people, read_edits, write_edits
from .outdir import RunOutput, check_folder, load, locked
from .state import commit, seeded_edits, track_view

log = logging.getLogger("facecluster")

# options that only affect clustering or outputs, so recluster can apply them
RECLUSTER_OPTIONS = ("cluster_distance", "min_cluster_size", "min_samples", "min_person_detections",
                     "clothing_weight", "clothing_window_s", "max_thumbs_per_person")


def embedder_default_distance(out: RunOutput) -> float:
    """The embedder's calibrated same-person distance (what cluster_distance = 0 means)."""
    meta = out.meta
    if meta.get("embedder_same_person_distance"):
        return float(meta["embedder_same_person_distance"])
    stored = out.config
    if not stored.cluster_distance:
        return out.same_person_distance
    from .. import backends

    entry = backends._EMBEDDERS.get(stored.face_embedder)
    try:
        return float(getattr(importlib.import_module(entry[0]), entry[1]).SAME_PERSON_DISTANCE)
    except (TypeError, ImportError, AttributeError):
        log.warning("cannot find the default distance of embedder %r; using the run's %.3f",
                    stored.face_embedder, out.same_person_distance)
        return out.same_person_distance


def check_overrides(overrides: dict | None) -> dict:
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    build_config(overrides=overrides)  # unknown names / bad values -> ConfigError listing valid ones
    refused = sorted(set(overrides) - set(RECLUSTER_OPTIONS))
    if refused:
        raise ConfigError(f"{', '.join(refused)} change(s) what was detected or tracked, which needs the video; "
                          f"use `facecluster run` for that. recluster accepts: {', '.join(RECLUSTER_OPTIONS)}")
    return overrides


def _subset(space, detection_ids):
    """An embedding space (ids, vectors) restricted to the given detection ids (None stays None)."""
    if space is None or len(space[0]) == 0:
        return space
    keep = np.isin(space[0], detection_ids)
    return space if keep.all() else (space[0][keep], space[1][keep])


def recluster(folder, overrides: dict | None = None) -> list[dict]:
    """Re-cluster OUTDIR from its stored embeddings and units with `overrides` on top of the stored
    config, re-apply edits.json, rewrite all outputs; returns the new people (people.json entries)."""
    from ..fusion import assign_people

    overrides = check_overrides(overrides)
    folder = check_folder(folder)
    started = time.perf_counter()
    with locked(folder):
        out = load(folder)
        config = build_config(base=out.config.to_dict(), overrides=overrides)
        default = embedder_default_distance(out)
        view = track_view(out)  # before re-clustering: seeded_edits reads the current grouping
        labels = np.full(view.n_tracks, -1, np.int64)
        rows = view.unit_of_row >= 0
        if rows.any():
            table = {k: np.asarray(v)[rows] for k, v in out.table.items()}
            kept = table["detection_id"]
            faces, clothing = _subset(out.faces, kept), _subset(out.clothing(), kept)
            labels[view.unit_of_row[rows]] = assign_people(
                table, faces, clothing, config, config.cluster_distance or default,
                (out.clothing_same_person_distance or 1.0) if clothing is not None else 1.0)
        edits = seeded_edits(out, view, stored := read_edits(folder))
        if len(edits) != len(stored):
            write_edits(folder, edits)
        labels, names = apply_edits(labels, view.sizes, edits)
        ids = number_people(labels, view.sizes)
        named = {int(ids[np.argmax(labels == lab)]): name for lab, name in names.items()}
        took = round(time.perf_counter() - started, 3)
        people = commit(out, view, ids, named, config, config.cluster_distance or default,
                        action={"op": "recluster", "overrides": overrides, "edits_applied": len(edits),
                                "seconds": took},
                        meta={"embedder_same_person_distance": default})
    log.info("recluster %s: %d people in %.2f s", folder, len(people), time.perf_counter() - started)
    return people
