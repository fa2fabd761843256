"""Baselines: the clustering recipes users would otherwise reach for, scored by the same harness.

Why: "facecluster groups people well" only means something next to what a user gets from the usual
recipes on the same video. Each baseline re-clusters the per-frame face embeddings that a facecluster
run already stored in its OUTDIR (facecluster.sqlite), so sampling, detection and embedding are shared
and only the grouping differs; no tracks and no cannot-link constraints, because the recipes have none.
The result is the source's face rows with the recipe's person ids, scored by harness.score like a run.

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

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, InputError

log = logging.getLogger(__name__)

DLIB_RAW_NORM = 1.41  # median norm of dlib_face_recognition_resnet_model_v1 descriptors on real faces


@dataclass(frozen=True)
class Recipe:
    name: str
    embedders: tuple[str, ...]  # the face_embedder(s) the source OUTDIR may have used
    method: str  # "dbscan" or "chinese_whispers"
    params: dict = field(default_factory=dict)
    scale: float = 1.0  # multiply the stored unit vectors by this (raw descriptor norm)
    source: str = ""  # facecluster config whose OUTDIR it re-clusters ("builtin" / "fast")


RECIPES = {
    "face_recognition-dbscan": Recipe("face_recognition-dbscan", ("dlib",), "dbscan",
                                      {"eps": 0.5, "min_samples": 1, "metric": "euclidean"},
                                      DLIB_RAW_NORM, "builtin"),
    "face_recognition-cw": Recipe("face_recognition-cw", ("dlib",), "chinese_whispers", {"threshold": 0.5},
                                  DLIB_RAW_NORM, "builtin"),
    "immich-dbscan": Recipe("immich-dbscan", ("arcface", "sface", "edgeface"), "dbscan",
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


def run_baseline(source_outdir, recipe: str | Recipe, vectors: np.ndarray | None = None):
    """Re-cluster the face embeddings stored in `source_outdir` with a baseline recipe.
    Returns (table: the source's face rows with the recipe's person ids, sampled frames, summary).

    `vectors` replaces the stored embeddings (one row per face row, used as given, no scaling): e.g. exact
    raw dlib descriptors, to check the DLIB_RAW_NORM approximation."""
    from ..runfolder import RunFolder

    recipe = RECIPES[recipe] if isinstance(recipe, str) and recipe in RECIPES else recipe
    if not isinstance(recipe, Recipe):
        raise ConfigError(f"unknown baseline {recipe!r}; choose one of: {', '.join(RECIPES)}")
    rf = RunFolder(source_outdir)
    with rf.reading():
        source = rf.load()
    embedder = (source.manifest.get("backends") or {}).get("face_embedder")
    if embedder not in recipe.embedders:
        raise ConfigError(f"baseline {recipe.name} needs embeddings from the {' or '.join(recipe.embedders)} "
                          f"embedder; {source_outdir} was made with {embedder!r}")
    table = source.table
    faces = table[table.is_face]
    ids, stored = source.extraction.faces
    if not np.array_equal(ids, faces.detection_id):
        raise InputError(f"{source_outdir}: not every face has a stored embedding; re-run `facecluster run`")
    scale = recipe.scale
    if vectors is not None:
        given, scale = np.asarray(vectors, np.float64), 1.0
        if given.shape[0] != len(stored):
            raise ConfigError(f"{len(given)} vectors given for {len(stored)} faces in {source_outdir}")
        stored = given
    labels = cluster_embeddings(np.asarray(stored, np.float64) * scale, recipe.method, **recipe.params)
    faces = faces.replace(person_id=labels)
    summary = {"recipe": recipe.name, "method": recipe.method, "params": recipe.params, "scale": scale,
               "vectors": "stored" if vectors is None else "given", "source": str(source_outdir),
               "faces": int(len(labels)), "people": int(len(set(labels[labels >= 0].tolist()))),
               "noise": int((labels < 0).sum())}
    log.info("baseline %s: %d faces -> %d people, %d noise", recipe.name, summary["faces"], summary["people"],
             summary["noise"])
    return faces, set(source.extraction.frames[:, 0].astype(int).tolist()), summary
