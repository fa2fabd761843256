"""Baselines: the clustering recipes users would otherwise reach for, scored by the same harness.

Why: "facecluster groups people well" only means something next to what a user gets from the usual
recipes on the same video. Each baseline re-clusters the per-frame face embeddings that a facecluster
run already stored in its OUTDIR (facecluster.sqlite), so sampling, detection and embedding are shared
and only the grouping differs; no tracks and no cannot-link constraints, because the recipes have none.
The result is a normal OUTDIR-style folder (detections.csv with person_id, manifest.json with
sampled_frames) that `evaluate()` scores exactly like a facecluster run.

Recipes (as in the face_recognition / unknown-face-classifier / Immich code):
- face_recognition-dbscan: dlib HOG + dlib ResNet 128-d, DBSCAN(eps=0.5, euclidean, min_samples=1)
  on the raw per-frame descriptors (needs an OUTDIR made with the builtin config).
- face_recognition-cw: same descriptors, dlib.chinese_whispers_clustering(threshold=0.5).
- immich-dbscan: DBSCAN(min_samples=3, cosine distance eps=0.5) on the fast config's embeddings
  (yunet + arcface/MobileFaceNet); faces without 3 neighbours are noise (-1).

The OUTDIR stores L2-normalised vectors, but dlib's raw descriptors are not unit length (norm 1.25-1.62,
median 1.38-1.45 on the benchmark episodes) and the recipe's 0.5 is a raw euclidean distance; the unit
vectors are therefore scaled by DLIB_RAW_NORM (on unit vectors DBSCAN(0.5) chains almost everyone into
one person, which is not the recipe). That reproduced the exact-descriptor DBSCAN on 4 of 6 benchmark
episodes and its mean BCubed F; Chinese whispers reacts more to the small distance changes. Pass the
exact raw descriptors as `vectors` where they matter (scripts/bench_quality.py --exact-dlib).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import store
from ..errors import ConfigError, InputError

log = logging.getLogger("facecluster")

DLIB_RAW_NORM = 1.41  # median norm of dlib_face_recognition_resnet_model_v1 descriptors on real faces


@dataclass(frozen=True)
class Recipe:
    name: str
    embedder: str  # the face_embedder the source OUTDIR must have used
    method: str  # "dbscan" or "chinese_whispers"
    params: dict = field(default_factory=dict)
    scale: float = 1.0  # multiply the stored unit vectors by this (raw descriptor norm)
    source: str = ""  # facecluster config whose OUTDIR it re-clusters ("builtin" / "fast")


RECIPES = {
    "face_recognition-dbscan": Recipe("face_recognition-dbscan", "dlib", "dbscan",
                                      {"eps": 0.5, "min_samples": 1, "metric": "euclidean"},
                                      DLIB_RAW_NORM, "builtin"),
    "face_recognition-cw": Recipe("face_recognition-cw", "dlib", "chinese_whispers", {"threshold": 0.5},
                                  DLIB_RAW_NORM, "builtin"),
    "immich-dbscan": Recipe("immich-dbscan", "arcface", "dbscan",
                            {"eps": 0.5, "min_samples": 3, "metric": "cosine"}, 1.0, "fast"),
}


def cluster_embeddings(vectors: np.ndarray, method: str, **params) -> np.ndarray:
    """Cluster label per row (-1 = noise) with one recipe's algorithm; labels are renumbered 0..P-1
    in order of first appearance so they read like facecluster's person ids."""
    vectors = np.asarray(vectors, np.float64)
    if len(vectors) == 0:
        return np.zeros(0, np.int64)
    if method == "dbscan":
        from sklearn.cluster import DBSCAN

        raw = DBSCAN(eps=params.get("eps", 0.5), min_samples=params.get("min_samples", 1),
                     metric=params.get("metric", "euclidean")).fit_predict(vectors)
    elif method == "chinese_whispers":
        import dlib

        raw = np.asarray(dlib.chinese_whispers_clustering([dlib.vector(v.tolist()) for v in vectors],
                                                          float(params.get("threshold", 0.5))))
    else:
        raise ConfigError(f"unknown baseline method {method!r}; choose dbscan or chinese_whispers")
    return _renumber(np.asarray(raw, np.int64))


def _renumber(raw: np.ndarray) -> np.ndarray:
    out = np.full(len(raw), -1, np.int64)
    order = {}
    for i, label in enumerate(raw):
        if label >= 0:
            out[i] = order.setdefault(int(label), len(order))
    return out


def _read_source(source_outdir: Path) -> tuple[dict, dict, np.ndarray]:
    manifest_path = source_outdir / store.MANIFEST
    if not (source_outdir / "detections.csv").is_file() or not manifest_path.is_file():
        raise InputError(f"{source_outdir} is not a facecluster output folder (no detections.csv / "
                         f"manifest.json); make it with `facecluster run VIDEO -o {source_outdir}`")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    table = store.read_detections(source_outdir)
    faces = np.flatnonzero(table["kind"] == "face") if len(table["detection_id"]) else np.zeros(0, np.int64)
    table = {k: np.asarray(v)[faces] for k, v in table.items()}
    ids, vectors = store.read_embeddings(source_outdir, "face")
    if len(faces) and not np.array_equal(ids, table["detection_id"]):
        by_id = {int(d): i for i, d in enumerate(ids)}
        missing = [int(d) for d in table["detection_id"] if int(d) not in by_id]
        if missing:
            raise InputError(f"{source_outdir}: {len(missing)} face detections have no stored embedding "
                             f"(e.g. {missing[0]}); re-run `facecluster run`")
        vectors = vectors[[by_id[int(d)] for d in table["detection_id"]]]
    return manifest, table, vectors if len(faces) else np.zeros((0, 1), np.float32)


def run_baseline(source_outdir, outdir, recipe: str | Recipe, vectors: np.ndarray | None = None) -> dict:
    """Re-cluster the face embeddings stored in `source_outdir` with a baseline recipe and write an
    OUTDIR-style folder to `outdir`. Returns a summary dict (recipe, faces, people, noise).

    `vectors` replaces the stored embeddings (one row per face row of detections.csv, used as given,
    no scaling): e.g. exact raw dlib descriptors, to check the DLIB_RAW_NORM approximation."""
    recipe = RECIPES[recipe] if isinstance(recipe, str) and recipe in RECIPES else recipe
    if not isinstance(recipe, Recipe):
        raise ConfigError(f"unknown baseline {recipe!r}; choose one of: {', '.join(RECIPES)}")
    source_outdir, outdir = Path(source_outdir), Path(outdir)
    manifest, table, stored = _read_source(source_outdir)
    embedder = manifest.get("backends", {}).get("face_embedder")
    if embedder != recipe.embedder:
        raise ConfigError(f"baseline {recipe.name} needs embeddings from the {recipe.embedder!r} embedder "
                          f"(the {recipe.source} config); {source_outdir} was made with {embedder!r}")
    scale = recipe.scale
    if vectors is not None:
        given, scale = np.asarray(vectors, np.float64), 1.0
        if given.shape[0] != len(stored):
            raise ConfigError(f"{len(given)} vectors given for {len(stored)} faces in {source_outdir}")
        stored = given
    labels = cluster_embeddings(stored * scale, recipe.method, **recipe.params)
    table = dict(table)
    table["track_id"] = np.asarray(table["detection_id"], np.int64)  # no tracking: one "track" per face
    table["person_id"] = labels
    summary = {"recipe": recipe.name, "method": recipe.method, "params": recipe.params, "scale": scale,
               "vectors": "stored" if vectors is None else "given",
               "source": str(source_outdir), "faces": int(len(labels)),
               "people": int(len(set(labels[labels >= 0].tolist()))), "noise": int((labels < 0).sum())}
    out_manifest = {"tool": "facecluster-baseline", "baseline": summary, "input": manifest.get("input"),
                    "backends": manifest.get("backends"), "sampled_frames": manifest.get("sampled_frames", []),
                    "counts": {"face_detections": summary["faces"], "people": summary["people"],
                               "noise_detections": summary["noise"]}}
    store.check_output_dir(outdir)
    with store.StagingDir(outdir) as folder:
        store.write_detections(folder, table)
        store.write_json(folder / store.MANIFEST, out_manifest)
    log.info("baseline %s: %d faces -> %d people, %d noise (%s)", recipe.name, summary["faces"],
             summary["people"], summary["noise"], outdir)
    return summary
