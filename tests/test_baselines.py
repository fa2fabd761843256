"""Baselines re-cluster a run's stored face embeddings; harness.score scores them like a run."""

from __future__ import annotations

import numpy as np
import pytest

import facecluster
from facecluster import build_config
from facecluster.errors import ConfigError, OutputError
from facecluster.evaluate.baselines import DLIB_RAW_NORM, RECIPES, cluster_embeddings, run_baseline
from facecluster.evaluate.harness import evaluate, score
from facecluster.runfolder import RunFolder

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
        facecluster.run(video, build_config(ROOT / "tests" / "configs" / toml), output_dir=outs[name])
    return folder, truth, outs


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_baseline_is_scored_like_a_run(runs, recipe):
    _, truth, outs = runs
    source = outs[RECIPES[recipe].source]
    with RunFolder(source).reading() as rf:
        stored = rf.load()
    faces = stored.table[stored.table.is_face]  # the fast config also finds bodies: baselines take faces only
    table, frames, summary = run_baseline(source, recipe)
    assert len(table) == len(faces) == summary["faces"] > 0 and table.is_face.all()
    assert np.array_equal(table.boxes, faces.boxes) and np.array_equal(table.detection_id, faces.detection_id)
    people = set(table.person_id.tolist()) - {-1}
    assert people == set(range(len(people))) and len(people) == summary["people"]
    assert summary["noise"] == int((table.person_id < 0).sum()) and summary["recipe"] == recipe
    assert frames == set(stored.extraction.frames[:, 0].astype(int).tolist())
    scores = score(table, frames, truth)
    ref = evaluate(source, truth, write=False)
    assert scores["faces"]["detection"] == ref["faces"]["detection"]  # detection identical to its source
    assert 0.0 <= scores["faces"]["clustering"]["bcubed"]["f"] <= 1.0
    assert scores["faces"]["people"]["predicted"] == summary["people"]


def test_given_vectors_replace_the_stored_ones(runs):
    _, _, outs = runs
    table, _, summary = run_baseline(outs["fast"], "immich-dbscan")
    same = np.tile(np.eye(1, 128), (len(table), 1))  # every face the same: one person
    table, _, summary = run_baseline(outs["fast"], "immich-dbscan", vectors=same)
    assert summary["vectors"] == "given" and summary["people"] == 1 and (table.person_id == 0).all()
    with pytest.raises(ConfigError, match="vectors given for"):
        run_baseline(outs["fast"], "immich-dbscan", vectors=same[:1])


def test_recipe_needs_matching_embeddings(runs, tmp_path):
    _, _, outs = runs
    with pytest.raises(ConfigError, match="dlib"):
        run_baseline(outs["fast"], "face_recognition-dbscan")
    with pytest.raises(ConfigError, match="unknown baseline"):
        run_baseline(outs["fast"], "kmeans")
    (tmp_path / "photo.jpg").write_bytes(b"x")
    with pytest.raises(OutputError, match="not a facecluster output folder"):
        run_baseline(tmp_path, "immich-dbscan")


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
