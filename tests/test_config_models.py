"""Config table precedence and validation; model registry resolution, verification and download."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading

import pytest
from click.testing import CliRunner

from facecluster import models
from facecluster.cli import main
from facecluster.config import Config, build_config, option_table, read_config_file, to_toml
from facecluster.errors import ConfigError, ModelError

from .conftest import MODELS, ROOT


def test_cli_beats_file_beats_default(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('fps = 2.0\nface_detector = "yunet"\n[clustering]\nmin_cluster_size = 3\n')
    c = build_config(cfg, {"fps": 0.5, "face_embedder": None})
    assert (c.fps, c.face_detector, c.min_cluster_size, c.face_embedder) == (0.5, "yunet", 3, "dlib")


@pytest.mark.parametrize("overrides, message", [
    ({"fps": 0}, "outside"),
    ({"fps": "fast"}, "must be float"),
    ({"min_cluster_size": 1.5}, "must be int"),
    ({"no_such_option": 1}, "unknown config option"),
])
def test_invalid_config_is_a_config_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_config(overrides=overrides)


def test_config_toml_round_trip_and_shipped_configs(tmp_path):
    c = Config(fps=2.5, face_detector="yunet")
    (tmp_path / "c.toml").write_text(to_toml(c))
    assert build_config(tmp_path / "c.toml") == c
    for name in ("default.toml", "fast.toml"):
        build_config(ROOT / "tests" / "configs" / name)
    assert {f.name for f in option_table()} >= set(read_config_file(ROOT / "tests" / "configs" / "fast.toml"))


def test_bad_toml_is_one_line_error(tmp_path):
    (tmp_path / "bad.toml").write_text("fps = = 2")
    with pytest.raises(ConfigError, match="not valid TOML"):
        build_config(tmp_path / "bad.toml")


def test_resolve_finds_shared_and_builtin_models():
    assert models.resolve("yunet").sha256 == models.REGISTRY["yunet"].sha256
    assert models.resolve("dlib-resnet").path.name == "dlib_face_recognition_resnet_model_v1.dat"
    assert models.resolve(str(MODELS / "yolox_nano.onnx")).name == "yolox-nano"


def test_missing_model_error_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("FACECLUSTER_MODELS", str(tmp_path))
    monkeypatch.setenv("FACECLUSTER_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelError) as err:
        models.resolve("yunet")
    text = str(err.value)
    assert "face_detection_yunet_2023mar.onnx" in text and str(tmp_path) in text and "models download" in text


def test_tampered_model_is_rejected(tmp_path, monkeypatch):
    bad = tmp_path / "face_detection_yunet_2023mar.onnx"
    bad.write_bytes((MODELS / bad.name).read_bytes()[:-10] + b"0123456789")
    monkeypatch.setenv("FACECLUSTER_MODELS", str(tmp_path))
    with pytest.raises(ModelError, match="sha256"):
        models.resolve("yunet")


def test_unknown_model_lists_valid_names():
    with pytest.raises(ConfigError, match="yunet"):
        models.resolve("no-such-model")


@pytest.fixture
def model_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ../shared/models plus a corrupted copy of one file."""
    served = tmp_path / "served"
    served.mkdir()
    for name in ("face_detection_yunet_2023mar.onnx", "FSRCNN-small_x2.pb"):
        shutil.copy(MODELS / name, served / name)
    (served / "bad").mkdir()
    (served / "bad" / "FSRCNN-small_x2.pb").write_bytes(b"not a model")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_verifies_and_reports_progress(model_server, tmp_path):
    seen = []
    path = models.download("yunet", tmp_path / "cache", mirror=model_server, mirror_only=True,
                           progress=lambda done, total: seen.append((done, total)))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == models.REGISTRY["yunet"].sha256
    assert seen[-1][0] == seen[-1][1] == path.stat().st_size


def test_download_rejects_wrong_checksum_and_leaves_nothing(model_server, tmp_path):
    dest = tmp_path / "cache"
    with pytest.raises(ModelError, match="sha256"):
        models.download("fsrcnn-small-x2", dest, mirror=model_server + "/bad", mirror_only=True)
    assert not any(p.name.endswith(".pb") for p in dest.iterdir())


def test_download_unreachable_server_is_model_error(tmp_path):
    with pytest.raises(ModelError, match="could not download"):
        models.download("yunet", tmp_path, mirror="http://127.0.0.1:9", timeout=2, mirror_only=True)


def test_models_cli_download_then_resolve(model_server, tmp_path, monkeypatch):
    monkeypatch.setenv("FACECLUSTER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FACECLUSTER_MODELS", str(tmp_path / "none"))
    result = CliRunner().invoke(main, ["-q", "models", "download", "yunet", "--mirror", model_server, "--mirror-only"])
    assert result.exit_code == 0, result.output
    assert models.resolve("yunet").path.parent == tmp_path / "cache"
    verify = CliRunner().invoke(main, ["models", "verify", "yunet"])
    assert verify.exit_code == 0 and "ok" in verify.output


# ---- onnxruntime sessions: model-file fixes, device, log noise --------------------------------------------
def _aligned_faces(n_per_person=2):
    """Real 5-point aligned 112x112 face crops (glint_celebs22), as an SFace input blob (RGB 0-255)."""
    import cv2
    import numpy as np

    from .conftest import MEDIA

    folders = sorted((MEDIA / "faces" / "glint_celebs22").iterdir())[:5]
    files = [f for d in folders for f in sorted(d.iterdir())[:n_per_person]]
    chips = np.stack([cv2.resize(cv2.imread(str(f)), (112, 112)) for f in files])
    return np.ascontiguousarray(chips[..., ::-1].astype(np.float32).transpose(0, 3, 1, 2))


def test_official_sface_int8bq_file_loads_and_matches_the_fp32_export():
    import numpy as np

    from facecluster.onnx import load_session

    fixed = load_session(models.resolve("sface-int8bq"), "SFace int8bq")
    ref = load_session(models.resolve("sface-int8bq-fp32"), "SFace fp32")
    assert [i.name for i in fixed.get_inputs()] == ["data"]  # the dangling weight inputs are gone
    blob = _aligned_faces()
    a = fixed.run(None, {"data": blob})[0]  # one batch: the fix also makes the batch size dynamic
    b = ref.run(None, {"data": blob})[0]
    a, b = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (a, b))
    assert len(a) == len(blob) and (a * b).sum(1).min() >= 0.9999


def test_unfixable_file_is_a_model_error(tmp_path):
    from facecluster.onnx import load_session

    bad = tmp_path / "face_recognition_sface_2021dec_int8bq.onnx"
    bad.write_bytes(b"\x08\x06:\xff\xff\xff\x7f")  # truncated protobuf
    with pytest.raises(ModelError, match="cannot (read|load)"):
        load_session(models.ResolvedModel("sface-int8bq", bad, "0" * 64, "dangling-inputs"), "SFace")


def test_device_cuda_without_cuda_is_one_line_and_auto_falls_back_once(caplog):
    import logging

    from facecluster import onnx
    from facecluster.errors import DependencyError

    if "CUDAExecutionProvider" in onnx.import_onnxruntime().get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    model = models.resolve("yunet")
    with pytest.raises(DependencyError, match=r"facecluster\[gpu\]") as err:
        onnx.load_session(model, "YuNet", device="cuda")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="cpu, cuda, auto"):
        onnx.load_session(model, "YuNet", device="tpu")
    onnx._notices.clear()
    with caplog.at_level(logging.INFO, logger="facecluster"):
        for _ in range(2):
            session = onnx.load_session(model, "YuNet", device="auto")
    assert session.get_providers() == ["CPUExecutionProvider"]
    notices = [r for r in caplog.records if "run on the CPU" in r.getMessage()]
    assert len(notices) == 1 and notices[0].levelno == logging.INFO


def test_loading_and_running_models_prints_nothing(capfd, caplog):
    """onnxruntime's own warnings (e.g. the SFace export's declared output shape) and unpinned-file notes
    stay out of a normal run's output."""
    import logging

    from facecluster.onnx import load_session

    with caplog.at_level(logging.WARNING):
        session = load_session(models.resolve("sface-int8bq-fp32"), "SFace")
        session.run(None, {"data": _aligned_faces(1)[:4]})
        models.resolve("yolox-nano")  # no pinned sha256: not worth a warning
    out, err = capfd.readouterr()
    assert err == "" and out == "" and not caplog.records
