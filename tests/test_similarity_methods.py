"""Each similarity method on real photos: an image vs its mild transform scores higher than vs an unrelated
image (for the transforms the method is meant to be invariant to); scores stay in [0, 1]; the vectorised
compare_many agrees with compare; "nothing to match" is a Score with a reason."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from facecluster.errors import DependencyError
from facecluster.similarity import METHODS, NoEncoding, Score, create
from facecluster.similarity.io import load_image

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
PHOTOS = SHARED / "media" / "photos"
MODELS = str(SHARED / "models")


def resize_jpeg(img):
    h, w = img.shape[:2]
    small = cv2.resize(img, (w * 3 // 5, h * 3 // 5), interpolation=cv2.INTER_AREA)
    return cv2.imdecode(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 50])[1], cv2.IMREAD_COLOR)


def crop(img):
    h, w = img.shape[:2]
    return img[int(h * 0.06):int(h * 0.94), int(w * 0.06):int(w * 0.94)]


def flip(img):
    return np.ascontiguousarray(img[:, ::-1])


def rotate(img):
    h, w = img.shape[:2]
    return cv2.warpAffine(img, cv2.getRotationMatrix2D((w / 2, h / 2), 7, 1.0), (w, h),
                          borderMode=cv2.BORDER_REFLECT)


def brighter(img):
    return cv2.convertScaleAbs(img, alpha=1.0, beta=25)


TRANSFORMS = {"resize_jpeg": resize_jpeg, "crop": crop, "flip": flip, "rotate": rotate, "brighter": brighter}
# the transforms each method is designed to tolerate
INVARIANT = {
    "ahash8": ["resize_jpeg", "brighter"], "ahash16": ["resize_jpeg", "brighter"],
    "phash": ["resize_jpeg", "brighter"], "dhash": ["resize_jpeg", "brighter"], "whash": ["resize_jpeg", "brighter"],
    **{f"hist-{m}": ["resize_jpeg", "crop", "flip", "rotate"]
       for m in ("correl", "chisqr", "intersect", "bhattacharyya")},
    **{f"{d}-{m}": ["resize_jpeg", "crop", "rotate", "brighter"] for d in ("orb", "sift") for m in ("bf", "flann")},
    "mse": ["resize_jpeg", "brighter"], "ssim": ["resize_jpeg", "brighter"],
    "shape": ["resize_jpeg", "flip"],
    "cnn": ["resize_jpeg", "crop", "flip", "rotate", "brighter"],
}


@pytest.fixture(scope="module")
def images():
    return {name: load_image(PHOTOS / f"{name}.jpg") for name in ("bus", "zidane")}


@pytest.fixture(scope="module")
def comparators():
    return {}


def get(comparators, name):
    if name not in comparators:
        comparators[name] = create(name, models_dir=MODELS)
    return comparators[name]


CASES = [(m, t) for m, ts in INVARIANT.items() for t in ts]


@pytest.mark.parametrize("method,transform", CASES, ids=[f"{m}-{t}" for m, t in CASES])
def test_transform_scores_higher_than_unrelated(images, comparators, method, transform):
    assert method in METHODS, f"{method} should be installed with facecluster's dependencies"
    c = get(comparators, method)
    for base, other in (("bus", "zidane"), ("zidane", "bus")):
        enc = c.encode(images[base])
        same = c.compare(enc, c.encode(TRANSFORMS[transform](images[base])))
        unrelated = c.compare(enc, c.encode(images[other]))
        assert isinstance(same, Score) and 0.0 <= same <= 1.0 and 0.0 <= unrelated <= 1.0
        assert same > unrelated, f"{method} {base} {transform}: {same!r} vs unrelated {unrelated!r}"


@pytest.mark.parametrize("method", [m for m in INVARIANT])
def test_self_similarity_and_vectorised_agree(images, comparators, method):
    assert method in METHODS, f"{method} should be installed with facecluster's dependencies"
    c = get(comparators, method)
    pool = [images["bus"], images["zidane"], resize_jpeg(images["bus"]), flip(images["zidane"]), crop(images["bus"])]
    encs = [c.encode(im) for im in pool]
    assert float(c.compare(encs[0], encs[0])) == pytest.approx(1.0, abs=1e-4)
    loop = np.array([float(c.compare(encs[1], e)) for e in encs])
    fast = c.compare_many(encs[1], c.stack(encs))
    np.testing.assert_allclose(fast, loop, atol=1e-4)


def test_histogram_mappings_match_opencv(images):
    a, b = (create("hist-correl").encode(images[k]) for k in ("bus", "zidane"))
    flags = {"correl": cv2.HISTCMP_CORREL, "intersect": cv2.HISTCMP_INTERSECT, "chisqr": cv2.HISTCMP_CHISQR_ALT,
             "bhattacharyya": cv2.HISTCMP_BHATTACHARYYA}
    raw = {m: cv2.compareHist(a, b, f) for m, f in flags.items()}
    expected = {"correl": max(raw["correl"], 0), "intersect": raw["intersect"], "chisqr": 1 - raw["chisqr"] / 4,
                "bhattacharyya": 1 - raw["bhattacharyya"]}
    for metric, value in expected.items():
        assert float(create(f"hist-{metric}").compare(a, b)) == pytest.approx(value, abs=1e-6)


@pytest.mark.parametrize("method", ["orb-bf", "orb-flann", "sift-bf", "sift-flann"])
def test_no_keypoints_is_a_result_with_reason(images, method):
    c = create(method)
    blank = np.full((200, 300, 3), 128, np.uint8)
    score = c.similarity(blank, images["bus"])
    assert float(score) == 0.0 and "no keypoints" in score.reason
    tiny = c.similarity(np.zeros((1, 1, 3), np.uint8), images["bus"])
    assert float(tiny) == 0.0 and "too small" in tiny.reason


def test_classic_ransac_option(images):
    from facecluster.similarity.features import FeatureComparator

    c = FeatureComparator("orb", "bf", ransac="classic")
    enc = c.encode(images["zidane"])
    first = c.compare(enc, c.encode(rotate(images["zidane"])))
    assert first == c.compare(enc, c.encode(rotate(images["zidane"]))) > c.compare(enc, c.encode(images["bus"]))
    assert "inliers" in first.reason


def test_shape_border_seed_and_no_foreground(images):
    c = create("shape", seed="border")
    enc = c.encode(images["bus"])
    assert not isinstance(enc, NoEncoding) and enc.ndim == 3 and enc.shape[1:] == (1, 2)
    assert float(c.compare(enc, c.encode(flip(images["bus"])))) > float(c.compare(enc, c.encode(images["zidane"])))
    score = c.similarity(np.zeros((8, 8, 3), np.uint8), images["bus"])
    assert float(score) == 0.0 and "too small" in score.reason


def test_cnn_feature_is_the_pooled_layer(images):
    """'472_quantized' is the global average pool of the last conv block ('627'), dequantised."""
    import onnxruntime as ort

    from facecluster.models import resolve
    from facecluster.similarity.learned import CnnComparator
    from facecluster.similarity.onnxgraph import add_output, initializer_values

    data = resolve("mobilenetv2-int8", MODELS).path.read_bytes()
    zero, scale = initializer_values(data, ["464_zero_point", "464_scale"])
    assert zero.shape == (1,) and scale.shape == (1,) and 0 < scale[0] < 1
    model = add_output(add_output(data, "472_quantized", 2, ("N", 1280)), "627", 1, ("N", 1280, 7, 7))
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    c = CnnComparator(models_dir=MODELS)
    pooled_q, conv = session.run(["472_quantized", "627"], {"input": c.preprocess(images["bus"])})
    pooled = (pooled_q.astype(np.float32) - zero[0]) * scale[0]
    np.testing.assert_allclose(pooled[0], conv[0].mean(axis=(1, 2)), atol=2 * scale[0])
    emb = c.encode(images["bus"])
    assert emb.shape == (1280,) and np.linalg.norm(emb) == pytest.approx(1.0, abs=1e-5)


def test_cnn_missing_model_is_model_error(tmp_path, monkeypatch, images):
    from facecluster.errors import ModelError

    monkeypatch.setenv("FACECLUSTER_MODELS", str(tmp_path))
    monkeypatch.setenv("FACECLUSTER_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelError, match="mobilenetv2"):
        create("cnn").encode(images["bus"])


def test_missing_package_is_dependency_error(monkeypatch):
    import importlib.util

    from facecluster.similarity import base

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "onnxruntime" else real(n, *a))
    monkeypatch.delitem(base.METHODS, "cnn")
    with pytest.raises(DependencyError, match="needs onnxruntime; install it with `pip install onnxruntime`"):
        create("cnn")


def test_registry_errors():
    from facecluster.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown similarity method 'nope'.*phash"):
        create("nope")
    if "autoencoder" in METHODS:
        with pytest.raises(ConfigError, match="--ae-model"):
            create("autoencoder")
