"""The one backend registry: names, errors, what can run here, the models a config needs, the CLI listing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from click.testing import CliRunner

from facecluster import registry
from facecluster.config import Config, build_config
from facecluster.errors import ConfigError, DependencyError
from facecluster.registry import FaceDetectorOptions, FaceEmbedderOptions

from .conftest import ROOT


@pytest.mark.parametrize("kind, bad, listed", [
    ("face-detector", "retinaface", "dlib-hog, mtcnn, scrfd, yunet"),
    ("face-embedder", "facenet", "arcface, dlib, edgeface, sface, torch"),
    ("body-detector", "detr", "ultralytics, yolo"),
    ("clothing-embedder", "clip", "hsv-hist, reid"),
    ("upscaler", "gan", "superres"),
    ("comparator", "nope", "phash"),
])
def test_unknown_names_list_the_valid_ones(kind, bad, listed):
    with pytest.raises(ConfigError, match=f"unknown .*'{bad}'; choose one of: .*{listed}"):
        registry.create(kind, bad)
    with pytest.raises(ConfigError, match="face-detector, face-embedder"):
        registry.names("face-detectors")


def test_names_and_options_come_from_one_table():
    assert registry.names("face-embedder") == ["arcface", "sface", "edgeface", "dlib", "torch"]
    assert "ssim" in registry.names("comparator") and "cnn" in registry.names("comparator")
    config = Config(face_detector="yunet", detect_threshold=0.7, detect_max_side=960, face_embedder="sface",
                    face_embedder_model="x.onnx", embed_flip="off", body_detector="yolo", body_threshold=0.3,
                    device="cpu", runtime="openvino", precision="bf16", models_dir="/m")
    det = registry.options_for("face-detector", config)
    assert det == FaceDetectorOptions(threshold=0.7, max_side=960, models_dir="/m", device="cpu", runtime="openvino",
                                      precision="bf16")
    assert registry.options_for("face-embedder", config) == FaceEmbedderOptions(
        model="x.onnx", flip=False, models_dir="/m", device="cpu", runtime="openvino", precision="bf16")
    assert registry.options_for("body-detector", config).threshold == 0.3
    assert registry.options_for("comparator", config) == {"models_dir": "/m"}
    with pytest.raises(TypeError, match="options_for"):
        registry.create("face-detector", "yunet", config)  # a Config is not a backend's options


def test_status_says_what_is_missing_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FACECLUSTER_MODELS", str(tmp_path))
    monkeypatch.setenv("FACECLUSTER_CACHE", str(tmp_path / "cache"))
    detectors = {s.name: s for s in registry.status("face-detector")}
    assert not detectors["yunet"].ready and detectors["yunet"].missing_models == ("yunet",)
    assert detectors["yunet"].fix == "facecluster models download yunet"
    assert detectors["yunet"].summary == "missing model yunet: facecluster models download yunet"
    clothing = {s.name: s for s in registry.status("clothing-embedder")}
    assert clothing["hsv-hist"].ready and clothing["hsv-hist"].summary == "ready"
    assert not clothing["reid"].ready and "osnet" in clothing["reid"].fix
    if importlib.util.find_spec("face_recognition_models"):  # dlib's models ship in a pip package
        assert {s.name: s for s in registry.status("face-embedder")}["dlib"].ready


def test_status_with_the_shared_models_is_ready():
    detectors = {s.name: s for s in registry.status("face-detector")}
    assert detectors["yunet"].ready and detectors["scrfd"].ready and detectors["yunet"].fix == ""
    assert {s.name: s for s in registry.status("face-embedder")}["edgeface"].ready


def test_missing_package_is_reported_and_refused(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "onnxruntime" else real(n, *a))
    scrfd = {s.name: s for s in registry.status("face-detector")}["scrfd"]
    assert not scrfd.ready and scrfd.summary == "missing package: pip install onnxruntime"
    with pytest.raises(DependencyError, match="needs onnxruntime; install it with `pip install onnxruntime`"):
        registry.create("face-embedder", "edgeface")


def test_required_models_of_the_fast_profile():
    config = build_config(ROOT / "tests" / "configs" / "fast.toml")
    needed = registry.required_models(config)
    expected = [registry.entry("face-detector", config.face_detector).models[0]]
    expected += [m for m in (config.face_embedder_model, config.body_detector_model, config.clothing_embedder_model)
                 if m]
    assert set(expected) <= set(needed)
    assert len(needed) == len(set(needed))
    if config.upscale:
        assert any(n.startswith(config.upscale.split("-")[0]) for n in needed)


def test_required_models_follow_backends_and_skip_user_files(tmp_path):
    own = tmp_path / "mine.onnx"
    own.write_bytes(b"x")
    assert registry.required_models(Config(face_detector="dlib-hog", face_embedder="dlib")) == \
        ["dlib-5-landmarks", "dlib-resnet"]
    config = Config(face_detector="scrfd", face_embedder="arcface", face_embedder_model=str(own),
                    body_detector="yolo", clothing_embedder="hsv-hist", upscale="espcn-x3")
    assert registry.required_models(config) == ["scrfd-500m", "yolox-nano", "espcn-x3"]


def test_importing_the_registry_loads_no_heavy_library():
    code = ("import sys, facecluster.registry, facecluster.similarity; "
            "print(sorted(m for m in ('cv2', 'onnxruntime', 'torch', 'dlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_backends_command_lists_each_kind_with_its_state(tmp_path, monkeypatch):
    from facecluster.cli.backends_cmd import backends_cmd

    monkeypatch.setenv("FACECLUSTER_MODELS", str(tmp_path))
    monkeypatch.setenv("FACECLUSTER_CACHE", str(tmp_path / "cache"))
    out = CliRunner().invoke(backends_cmd, []).output
    for title in ("face detectors:", "face embedders:", "body detectors:", "clothing embedders:", "upscalers:"):
        assert title in out
    assert "yunet     missing model yunet: facecluster models download yunet" in out
    assert "hsv-hist  ready" in out
    assert "installed" not in out
