"""Baselines re-cluster a run's stored embeddings into a normal OUTDIR that `evaluate()` scores."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import facecluster
from facecluster import build_config
from facecluster.errors import ConfigError, InputError
from facecluster.evaluate.baselines import DLIB_RAW_NORM, RECIPES, cluster_embeddings, run_baseline
from facecluster.evaluate.harness import evaluate
from facecluster.store import DETECTION_COLUMNS

from .conftest import MEDIA, ROOT

FACES = MEDIA / "faces" / "face_recognition_examples"
pytestmark = pytest.mark.skipif(not FACES.is_dir(), reason="needs ../shared/media/faces")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A short synthetic episode run through the builtin and fast configs (the baselines' sources)."""
    from facecluster.evaluate.synth import synthesize_episode

    folder = tmp_path_factory.mktemp("baselines")
    video, truth = folder / "ep.mp4", folder / "ep.json"
    synthesize_episode(FACES, video, truth, seconds=10, seed=4, small=True)
    outs = {}
    for name, toml in (("builtin", "default.toml"), ("fast", "fast.toml")):
        outs[name] = folder / name
        facecluster.run(video, build_config(ROOT / "configs" / toml), output_dir=outs[name])
    return folder, truth, outs


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_baseline_outdir_is_scored_like_a_run(runs, recipe):
    folder, truth, outs = runs
    source = outs[RECIPES[recipe].source]
    out = folder / f"bl-{recipe}"
    summary = run_baseline(source, out, recipe)
    with open(out / "detections.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(source / "detections.csv", newline="") as fh:
        src_rows = [r for r in csv.DictReader(fh) if r["kind"] == "face"]  # the fast config also finds bodies
    assert list(rows[0]) == DETECTION_COLUMNS and len(rows) == len(src_rows) == summary["faces"] > 0
    assert [r["x1"] for r in rows] == [r["x1"] for r in src_rows]  # same detections, new grouping
    people = {int(r["person_id"]) for r in rows} - {-1}
    assert people == set(range(len(people))) and len(people) == summary["people"]
    manifest = json.loads((out / "manifest.json").read_text())
    src_manifest = json.loads((source / "manifest.json").read_text())
    assert manifest["sampled_frames"] == src_manifest["sampled_frames"]
    assert manifest["baseline"]["recipe"] == recipe
    scores = evaluate(out, truth, write=False)
    ref = evaluate(source, truth, write=False)
    assert scores["faces"]["detection"] == ref["faces"]["detection"]  # detection identical to its source
    assert 0.0 <= scores["faces"]["clustering"]["bcubed"]["f"] <= 1.0
    assert scores["faces"]["people"]["predicted"] == summary["people"]
    run_baseline(source, out, recipe)  # an earlier baseline OUTDIR is replaced


def test_recipe_needs_matching_embeddings(runs, tmp_path):
    _, _, outs = runs
    with pytest.raises(ConfigError, match="dlib"):
        run_baseline(outs["fast"], tmp_path / "x", "face_recognition-dbscan")
    with pytest.raises(ConfigError, match="unknown baseline"):
        run_baseline(outs["fast"], tmp_path / "x", "kmeans")
    with pytest.raises(InputError):
        run_baseline(tmp_path, tmp_path / "y", "immich-dbscan")


def test_recipes_on_known_points():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 128))
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    pts = np.vstack([a + 0.01 * rng.normal(size=(4, 128)), b + 0.01 * rng.normal(size=(3, 128)), -a])
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    expect = [0, 0, 0, 0, 1, 1, 1, 2]
    assert cluster_embeddings(pts * DLIB_RAW_NORM, "dbscan", eps=0.5, min_samples=1).tolist() == expect
    cw = cluster_embeddings(pts * DLIB_RAW_NORM, "chinese_whispers", threshold=0.5)
    assert cw.tolist() == expect
    # Immich: min 3 faces within cosine 0.5, the lone face is noise
    assert cluster_embeddings(pts, "dbscan", eps=0.5, min_samples=3, metric="cosine").tolist() == expect[:7] + [-1]
    assert cluster_embeddings(np.zeros((0, 128)), "dbscan").shape == (0,)
    with pytest.raises(ConfigError):
        cluster_embeddings(pts, "kmeans")
