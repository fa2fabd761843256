"""Folder search on >= 1,000 generated images: same top-K as brute force, cache reused when files are unchanged."""

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from facecluster.similarity import METHODS, NoEncoding, create
from facecluster.similarity.io import list_images, load_image
from facecluster.similarity.search import CACHE_DIRNAME, encode_folder, rank, search

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
PHOTOS = SHARED / "media" / "photos"
MODELS = str(SHARED / "models")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """1,000 small augmented crops of the shared photos in big/, 120 more in small/ (1,120 in all)."""
    root = tmp_path_factory.mktemp("gallery")
    rng = np.random.default_rng(5)
    sources = [cv2.imread(str(p)) for p in sorted(PHOTOS.glob("*.jpg"))]
    for sub, count in (("big", 1000), ("small", 120)):
        (root / sub).mkdir()
        for i in range(count):
            src = sources[i % len(sources)]
            h, w = src.shape[:2]
            f = rng.uniform(0.35, 1.0)
            ch, cw = int(h * f), int(w * f)
            y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            side = int(rng.integers(40, 72))
            img = cv2.resize(src[y:y + ch, x:x + cw], (side, side * ch // cw), interpolation=cv2.INTER_AREA)
            if rng.random() < 0.5:
                img = img[:, ::-1]
            img = cv2.convertScaleAbs(img, alpha=1.0, beta=float(rng.integers(-30, 30)))
            cv2.imwrite(str(root / sub / f"img{i:04d}.png"), img)
    return root


def brute_force(comparator, query, folder, top):
    paths = list_images(folder)
    q = comparator.encode(query)
    scores = np.array([float(comparator.compare(q, comparator.encode(load_image(p)))) for p in paths])
    order = np.lexsort((np.arange(len(paths)), -scores))[:top]
    return [str(paths[i]) for i in order], scores[order], scores


def assert_same_ranking(hits, expected_paths, expected_scores, all_scores):
    np.testing.assert_allclose([h.score for h in hits], expected_scores, atol=1e-5)
    for h, path, score in zip(hits, expected_paths, expected_scores):
        # paths must agree unless another image has (numerically) the same score
        if np.sum(np.abs(all_scores - score) < 1e-5) == 1:
            assert h.path == path


QUERY = PHOTOS / "bus.jpg"


@pytest.mark.parametrize("method", ["ahash16", "hist-chisqr", "hist-correl", "ssim"])
def test_thousand_images_top_k_matches_brute_force_and_cache_is_reused(folder, tmp_path, method):
    c = create(method)
    query = load_image(QUERY)
    cache = tmp_path / "cache"
    hits, first = search(c, query, folder, top=10, cache_dir=cache)
    assert first.files == 1120 and first.encoded == 1120 and first.reused == 0 and len(hits) == 10
    paths, scores, all_scores = brute_force(c, query, folder, 10)
    assert_same_ranking(hits, paths, scores, all_scores)
    hits2, second = search(c, query, folder, top=10, cache_dir=cache)
    assert second.encoded == 0 and second.reused == 1120
    assert [(h.path, h.score) for h in hits2] == [(h.path, h.score) for h in hits]


@pytest.mark.parametrize("method,count", [("cnn", 120), ("orb-bf", 60), ("sift-flann", 30), ("shape", 25)])
def test_small_folder_model_and_loop_methods(folder, tmp_path, method, count):
    assert method in METHODS, f"{method} should be installed with facecluster's dependencies"
    c = create(method, models_dir=MODELS, **({"seed": "border"} if method == "shape" else {}))
    sub = tmp_path / "sub"
    sub.mkdir()
    for p in sorted((folder / "small").iterdir())[:count]:
        shutil.copy(p, sub / p.name)
    query = load_image(sub / "img0003.png")
    hits, stats = search(c, query, sub, top=5, use_cache=False)
    assert stats.encoded == count and not (sub / CACHE_DIRNAME).exists()
    paths, scores, all_scores = brute_force(c, query, sub, 5)
    assert_same_ranking(hits, paths, scores, all_scores)
    assert hits[0].path.endswith("img0003.png") and hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_default_cache_location_changes_and_failures(tmp_path):
    src = cv2.imread(str(QUERY))
    for i in range(30):
        cv2.imwrite(str(tmp_path / f"p{i:02d}.jpg"), cv2.resize(src, (40 + i, 60 + i)))
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    c = create("dhash")
    hits, stats = search(c, QUERY, tmp_path, top=40)
    assert (tmp_path / CACHE_DIRNAME / f"{c.cache_key()}.npz").is_file()
    assert stats.files == 31 and stats.failed == 1 and len(hits) == 31
    assert hits[-1].path.endswith("broken.jpg") and "not a readable image" in hits[-1].reason
    cv2.imwrite(str(tmp_path / "p05.jpg"), cv2.resize(src, (90, 30)))  # changed content, size and mtime
    (tmp_path / "p06.jpg").unlink()
    _, again = search(c, QUERY, tmp_path, top=5)
    assert again.files == 30 and again.encoded == 1 and again.reused == 29
    (tmp_path / CACHE_DIRNAME / f"{c.cache_key()}.npz").write_bytes(b"damaged")
    _, rebuilt = search(c, QUERY, tmp_path, top=5)
    assert rebuilt.encoded == 30


def test_tuple_encodings_round_trip_through_cache(tmp_path):
    src = cv2.imread(str(QUERY))
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"q{i}.png"), cv2.resize(src, (120 + 10 * i, 160)))
    cv2.imwrite(str(tmp_path / "flat.png"), np.full((50, 50, 3), 7, np.uint8))
    c = create("orb-bf")
    _, encs = encode_folder(c, tmp_path)
    _, cached = encode_folder(c, tmp_path)
    assert isinstance(cached[0], NoEncoding) and "no keypoints" in cached[0].reason  # flat.png sorts first
    for a, b in zip(encs[1:], cached[1:]):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    ranked = rank(c, cached[1], cached, 5)
    assert ranked[0][0] == 1 and ranked[-1] == (0, 0.0, "no keypoints")
