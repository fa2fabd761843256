"""The OpenVINO runtime (optional extra): the same faces and vectors as onnxruntime / OpenCV within its
precision, chosen by --runtime, its converted-model cache, and what a run records."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facecluster import registry
from facecluster.errors import DependencyError
from facecluster.onnx import OpenCVSession, load_session, runtime_for, runtime_info
from facecluster.registry import FaceDetectorOptions, FaceEmbedderOptions
from facecluster.types import l2_normalize

from .conftest import MEDIA

pytest.importorskip("openvino")
from facecluster import ov_session  # noqa: E402

BBT = MEDIA / "faces" / "faceapi_bbt"
GLINT = MEDIA / "faces" / "glint_celebs22"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "ov-cache"
    monkeypatch.setenv("FACECLUSTER_OPENVINO_CACHE", str(folder))
    monkeypatch.setattr(ov_session, "_CORE", None)  # a Core reads its cache folder when made
    yield folder
    ov_session._CORE = None


def _embedder(runtime, precision="f32", model="sface-int8bq"):
    return registry.create("face-embedder", "sface", FaceEmbedderOptions(model=model, runtime=runtime,
                                                                          precision=precision))


def test_each_model_runs_where_it_measured_fastest(cache):
    """OpenVINO runs the embedders; the detectors stay on onnxruntime, which is as fast or faster for them."""
    detector = registry.create("face-detector", "yunet", FaceDetectorOptions(runtime="openvino"))
    assert type(detector.net.session).__name__ == "InferenceSession"
    assert isinstance(_embedder("openvino").session, ov_session.OpenVINOSession)
    assert isinstance(_embedder("onnxruntime").session, OpenCVSession)


@pytest.mark.parametrize("precision, least_cosine", [("f32", 0.99999), ("bf16", 0.995)])
def test_sface_on_openvino_gives_the_same_vectors_in_any_batch(cache, precision, least_cosine):
    chips = np.stack([cv2.imread(str(p)) for p in sorted(GLINT.glob("*/*.png"))[:12]])  # aligned 112x112
    ov, cpu = _embedder("openvino", precision), _embedder("onnxruntime")
    assert ov.session.get_inputs()[0].name == "data" and ov.session.get_outputs()[0].shape[-1] == 128
    a, b = ov.embed_chips(chips), cpu.embed_chips(chips)
    assert a.shape == b.shape == (12, 128)
    assert np.min(np.sum(a * b, axis=1)) > least_cosine  # bf16 only where the CPU has it; f32 elsewhere
    one_by_one = np.concatenate([ov.embed_chips(chips[i:i + 1]) for i in range(3)])
    assert np.min(np.sum(one_by_one * a[:3], axis=1)) > 0.999  # the batch is dynamic and does not matter


def test_runtime_choice(monkeypatch):
    assert runtime_for("onnxruntime", "cpu") == "onnxruntime"
    assert runtime_for("openvino", "cpu") == "openvino"
    assert runtime_for("auto", "cpu") == "openvino"
    monkeypatch.setattr(ov_session, "available", lambda: False)
    assert runtime_for("auto", "cpu") == "onnxruntime"
    with pytest.raises(Exception, match="unknown runtime 'tensorrt'; choose one of: auto, openvino, onnxruntime"):
        runtime_for("tensorrt", "cpu")


def test_runtime_openvino_without_the_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    monkeypatch.setattr(ov_session, "_CORE", None)
    with pytest.raises(DependencyError, match=r"pip install 'facecluster\[openvino\]'.*--runtime onnxruntime"):
        runtime_for("openvino", "cpu")
    assert runtime_for("auto", "cpu") == "onnxruntime"  # auto falls back quietly


def test_models_are_converted_once_and_a_damaged_entry_is_made_again(cache):
    model = registry.resolve_model("sface-int8bq", None)
    first = load_session(model, "sface", engine="openvino", runtime="openvino")
    entries = sorted(p.name for p in cache.glob("*.xml"))
    assert entries == [f"{model.sha256[:32]}-dangling-inputs.xml"]
    blob = np.random.default_rng(0).uniform(0, 255, (2, 3, 112, 112)).astype(np.float32)
    expected = first.run(None, {"data": blob})[0]
    xml = cache / entries[0]
    xml.with_suffix(".bin").write_bytes(b"\0" * 1000)  # damaged: too short for the weights
    for compiled in cache.glob("*.blob"):  # OpenVINO's own compiled copy would be used instead of the file
        compiled.unlink()
    again = load_session(model, "sface", engine="openvino", runtime="openvino")
    assert np.allclose(again.run(None, {"data": blob})[0], expected, atol=1e-5)
    assert xml.with_suffix(".bin").stat().st_size > 1_000_000  # converted again


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("FACECLUSTER_OPENVINO_CACHE", str(blocked / "cache"))
    monkeypatch.setattr(ov_session, "_CORE", None)
    try:
        session = load_session(registry.resolve_model("yunet", None), "yunet", engine="openvino", runtime="openvino")
        assert isinstance(session, ov_session.OpenVINOSession)
        assert blocked.read_text() == "not a folder"
    finally:
        ov_session._CORE = None


def test_a_run_records_its_runtime(tmp_path, cache):
    from facecluster import build_config, profiles, run

    video = MEDIA / "videos" / "secureface_rpi_test_3.avi"
    if not video.is_file():
        pytest.skip("secureface_rpi_test_3.avi not in ../shared/media")
    found = {}
    for runtime in ("openvino", "onnxruntime"):
        config = build_config(profiles.path("fast"), {"runtime": runtime, "max_seconds": 6.0})
        result = run(video, config, output_dir=tmp_path / runtime)
        manifest = json.loads((tmp_path / runtime / "manifest.json").read_text())
        recorded = manifest["backends"]["runtime"]
        assert recorded["name"] == runtime and recorded["version"] and recorded["precision"] == "f32"
        engines = {m["name"]: m.get("engine") for m in manifest["models"]}
        assert engines["sface-int8bq"] == ("openvino" if runtime == "openvino" else "opencv")
        assert engines["yunet"] is None  # the detectors run on onnxruntime either way
        found[runtime] = (int(result.table.is_face.sum()), result.n_people)
    assert found["openvino"] == found["onnxruntime"]
    assert runtime_info("onnxruntime", "cpu")["name"] == "onnxruntime"


def test_openvino_is_imported_without_its_usage_report():
    """`import openvino` alone forks a process that reports the import to Google Analytics (unless opted out);
    through facecluster nothing forks and the telemetry package stays unloaded."""
    import subprocess

    code = ("import os, sys, time\nforks = []\nos.register_at_fork(before=lambda: forks.append(1))\n"
            "from facecluster import ov_session\nov_session.core()\nimport openvino\ntime.sleep(0.5)\n"
            "print(len(forks), 'openvino_telemetry' in sys.modules)")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["0", "False"]


def test_a_conversion_that_fails_halfway_leaves_nothing_behind(cache, monkeypatch):
    openvino = ov_session.import_openvino()

    def full_disk(model, path, compress_to_fp16=True):
        Path(path).write_text("<half")
        Path(path).with_suffix(".bin").write_bytes(b"\0" * 10)
        raise RuntimeError("No space left on device")

    monkeypatch.setattr(openvino, "save_model", full_disk)
    session = load_session(registry.resolve_model("yunet", None), "yunet", engine="openvino", runtime="openvino")
    assert isinstance(session, ov_session.OpenVINOSession)  # loaded from the model file instead
    assert not [p for p in cache.iterdir() if p.suffix in (".xml", ".bin")]
