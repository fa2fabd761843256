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
        build_config(ROOT / "configs" / name)
    assert {f.name for f in option_table()} >= set(read_config_file(ROOT / "configs" / "fast.toml"))


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
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_verifies_and_reports_progress(model_server, tmp_path):
    seen = []
    path = models.download("yunet", tmp_path / "cache", mirror=model_server,
                           progress=lambda done, total: seen.append((done, total)))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == models.REGISTRY["yunet"].sha256
    assert seen[-1][0] == seen[-1][1] == path.stat().st_size


def test_download_rejects_wrong_checksum_and_leaves_nothing(model_server, tmp_path):
    dest = tmp_path / "cache"
    with pytest.raises(ModelError, match="sha256"):
        models.download("fsrcnn-small-x2", dest, mirror=model_server + "/bad")
    assert not any(p.name.endswith(".pb") for p in dest.iterdir())


def test_download_unreachable_server_is_model_error(tmp_path):
    with pytest.raises(ModelError, match="could not download"):
        models.download("yunet", tmp_path, mirror="http://127.0.0.1:9", timeout=2)


def test_models_cli_download_then_resolve(model_server, tmp_path, monkeypatch):
    monkeypatch.setenv("FACECLUSTER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FACECLUSTER_MODELS", str(tmp_path / "none"))
    result = CliRunner().invoke(main, ["-q", "models", "download", "yunet", "--mirror", model_server])
    assert result.exit_code == 0, result.output
    assert models.resolve("yunet").path.parent == tmp_path / "cache"
    verify = CliRunner().invoke(main, ["models", "verify", "yunet"])
    assert verify.exit_code == 0 and "ok" in verify.output
