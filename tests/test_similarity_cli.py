"""`facecluster compare`, `search` and `autoencoder train` through click's CliRunner, plus the autoencoder."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from facecluster.cli import main
from facecluster.errors import DependencyError

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
PHOTOS = SHARED / "media" / "photos"
MODELS = str(SHARED / "models")
BUS, ZIDANE = str(PHOTOS / "bus.jpg"), str(PHOTOS / "zidane.jpg")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], env={"FACECLUSTER_MODELS": MODELS})


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_gallery")
    rng = np.random.default_rng(1)
    for i, src in enumerate([cv2.imread(BUS), cv2.imread(ZIDANE)] * 20):
        h, w = src.shape[:2]
        y, x = rng.integers(0, h // 4), rng.integers(0, w // 4)
        crop = src[y:y + h * 3 // 4, x:x + w * 3 // 4]
        cv2.imwrite(str(root / f"g{i:02d}.jpg"), cv2.resize(crop, (96, 96 * crop.shape[0] // crop.shape[1])))
    return root


def test_compare_default_table():
    result = run("compare", BUS, ZIDANE)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["method", "score", "ms", "reason"]
    assert {line.split()[0] for line in lines[2:]} == {"ahash16", "hist-chisqr", "orb-bf", "ssim", "cnn"}


def test_compare_json_and_repeated_methods():
    result = run("compare", BUS, BUS, "-m", "dhash", "-m", "orb-flann", "-m", "dhash", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert [r["method"] for r in rows] == ["dhash", "orb-flann"]
    assert all(r["score"] == 1.0 for r in rows) and "inliers" in rows[1]["reason"]


def test_compare_all_lists_every_method():
    result = run("compare", BUS, ZIDANE, "--all", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["method"]: r for r in json.loads(result.stdout)["results"]}
    assert len(rows) == 19 and rows["autoencoder"]["score"] is None
    assert "--ae-model" in rows["autoencoder"]["reason"]
    assert all(0.0 <= r["score"] <= 1.0 for r in rows.values() if r["score"] is not None)


@pytest.mark.parametrize("args,code,message", [
    (["-m", "nope"], 2, "unknown similarity method 'nope'"),
    (["-m", "autoencoder"], 2, "--ae-model"),
    (["-m", "autoencoder", "--ae-model", "/nonexistent/ae.pt"], None, "autoencoder"),
])
def test_compare_errors(args, code, message):
    result = run("compare", BUS, ZIDANE, *args)
    expected = code if code is not None else (4 if _has_torch() else 6)
    assert result.exit_code == expected and message in result.stderr and "Traceback" not in result.output


def _has_torch():
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def test_search_table_json_and_cache(gallery):
    first = run("search", BUS, gallery, "-m", "ahash8", "--top", "3")
    assert first.exit_code == 0, first.output
    rows = first.stdout.splitlines()
    assert rows[0].split() == ["rank", "score", "path", "reason"] and len(rows) == 5
    assert "40 encoded, 0 from cache" in first.stderr
    second = run("search", BUS, gallery, "-m", "ahash8", "--top", "3", "--json")
    data = json.loads(second.stdout)
    assert data["stats"]["encoded"] == 0 and data["stats"]["reused"] == 40
    assert [r["rank"] for r in data["results"]] == [1, 2, 3]
    assert Path(data["results"][0]["path"]).parent == gallery


def test_search_errors(gallery, tmp_path):
    assert run("search", BUS, tmp_path / "nowhere").exit_code == 3
    assert run("search", tmp_path / "missing.jpg", gallery).exit_code == 3
    assert run("search", BUS, gallery, "--top", "0").exit_code == 2
    empty = run("search", BUS, tmp_path, "--json")
    assert empty.exit_code == 0 and json.loads(empty.stdout)["results"] == []


def test_autoencoder_missing_torch_is_dependency_error(monkeypatch):
    import importlib.util

    from facecluster.similarity import autoencoder

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(DependencyError, match="pip install torch"):
        autoencoder.train(".", "x.pt")


def test_autoencoder_train_compare_and_search(gallery, tmp_path):
    import torch  # noqa: F401  (CI installs the optional torch extra)
    model = tmp_path / "ae.pt"
    trained = run("autoencoder", "train", gallery, "-o", model, "--epochs", "3")
    assert trained.exit_code == 0, trained.output
    assert model.is_file() and "40 images" in trained.stdout and "epoch 3/3" in trained.stderr

    from facecluster.similarity import create

    c = create("autoencoder", ae_model=str(model))
    bus, zidane = cv2.imread(BUS), cv2.imread(ZIDANE)
    for img, other in ((bus, zidane), (zidane, bus)):
        small = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
        jpeg = cv2.imdecode(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 50])[1], cv2.IMREAD_COLOR)
        enc = c.encode(img)
        assert c.compare(enc, c.encode(jpeg)) > c.compare(enc, c.encode(other))
    found = run("search", BUS, gallery, "-m", "autoencoder", "--ae-model", model, "--json", "-k", "2")
    assert found.exit_code == 0, found.output
    assert len(json.loads(found.stdout)["results"]) == 2
    (tmp_path / "junk.pt").write_bytes(b"junk")
    bad = run("compare", BUS, ZIDANE, "-m", "autoencoder", "--ae-model", tmp_path / "junk.pt")
    assert bad.exit_code == 4 and "cannot load autoencoder" in bad.stderr


def test_autoencoder_train_needs_images(tmp_path):
    import torch  # noqa: F401  (CI installs the optional torch extra)
    result = run("autoencoder", "train", tmp_path, "-o", tmp_path / "m.pt", "--epochs", "1")
    assert result.exit_code == 3 and "at least 2 readable images" in result.stderr
