"""Bad input never crashes with a traceback, never leaves a partial OUTDIR and never touches an earlier one.
(Damaged output folders, signals, full disks: test_faults.py.)"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from facecluster.cli import main

from .conftest import MODELS, ROOT, VIDEOS, write_video

FAST = str(ROOT / "tests" / "configs" / "fast.toml")


def _run(args, env=None):
    return CliRunner().invoke(main, ["-q", "run", *args], env=env, catch_exceptions=False)


def _snapshot(folder: Path) -> dict:
    """Every file but the private .facecluster/ (where a failed run may leave its checkpoint)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.relative_to(folder).parts[0] != ".facecluster"}


@pytest.fixture(scope="module")
def earlier_output(tmp_path_factory):
    """A successful run, to check that failed runs leave it untouched."""
    out = tmp_path_factory.mktemp("earlier") / "out"
    result = _run([str(VIDEOS / "secureface_rpi_test_4.avi"), "-o", str(out), "--config", FAST, "--max-seconds", "2"])
    assert result.exit_code == 0, result.output
    return out


def _truncated_mkv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (96, 128, 3), np.uint8) for _ in range(150)]
    full = write_video(tmp_path / "full.mkv", frames, codec="mpeg4")
    data = full.read_bytes()
    bad = tmp_path / "truncated.mkv"
    bad.write_bytes(data[: len(data) // 3])
    return bad


def _zero_frame_mkv(tmp_path: Path) -> Path:
    path = tmp_path / "zero.mkv"
    container = av.open(str(path), "w")
    stream = container.add_stream("mpeg4", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    container.start_encoding()  # write the header although no frame follows
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def _case(name, tmp_path):
    if name == "missing":
        return tmp_path / "nope.mp4", 3, "not found"
    if name == "text":
        (tmp_path / "notes.mp4").write_text("this is not a video\n" * 50)
        return tmp_path / "notes.mp4", 3, "cannot open"
    if name == "empty":
        (tmp_path / "empty.avi").write_bytes(b"")
        return tmp_path / "empty.avi", 3, "empty"
    if name == "truncated_mp4":
        src = (VIDEOS / "short_hamilton_clip.mp4").read_bytes()
        (tmp_path / "cut.mp4").write_bytes(src[: len(src) // 2])
        return tmp_path / "cut.mp4", 3, ""
    if name == "truncated_mkv":
        return _truncated_mkv(tmp_path), 3, "truncated"
    if name == "zero_frames":
        return _zero_frame_mkv(tmp_path), 3, "no decodable video frames"
    if name == "folder":
        return tmp_path, 3, "facecluster batch"  # says how to run a folder of videos
    raise ValueError(name)


@pytest.mark.parametrize("case", ["missing", "text", "empty", "truncated_mp4", "truncated_mkv", "zero_frames",
                                  "folder"])
def test_bad_video_is_one_line_error_and_keeps_earlier_output(case, tmp_path, earlier_output):
    video, code, message = _case(case, tmp_path)
    before = _snapshot(earlier_output)
    result = _run([str(video), "-o", str(earlier_output), "--config", FAST])
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facecluster: error:") and message in lines[0]
    assert "Traceback" not in result.output
    assert _snapshot(earlier_output) == before
    # beside OUTDIR only its lock (no staging folders)
    assert {p.name for p in earlier_output.parent.iterdir()} == {"out", ".out.facecluster.lock"}
    assert not [p.name for p in (earlier_output / ".facecluster").iterdir() if p.name not in ("run.lock", "checkpoint")]


def test_failed_run_leaves_no_new_outdir(tmp_path):
    out = tmp_path / "new_out"
    result = _run([str(tmp_path / "missing.mp4"), "-o", str(out)])
    assert result.exit_code == 3
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("outdir, message", [("/sys/facecluster-out", "cannot write"),
                                             ("{file}/out", "cannot write the output folder")])
def test_unwritable_output_dir(outdir, message, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = _run([str(VIDEOS / "secureface_rpi_test_4.avi"), "-o", outdir.format(file=afile)])
    assert result.exit_code == 5 and message in result.output
    assert "Traceback" not in result.output


def test_foreign_non_empty_output_dir_is_refused(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    result = _run([str(VIDEOS / "secureface_rpi_test_4.avi"), "-o", str(tmp_path)])
    assert result.exit_code == 5 and "not a facecluster output" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"] and (tmp_path / "mine.txt").read_text() == "precious"


def test_missing_model_is_exit_4_with_hint(tmp_path, earlier_output):
    before = _snapshot(earlier_output)
    env = {"FACECLUSTER_MODELS": str(tmp_path), "FACECLUSTER_CACHE": str(tmp_path / "cache")}
    result = _run([str(VIDEOS / "secureface_rpi_test_4.avi"), "-o", str(earlier_output), "--config", FAST], env)
    assert result.exit_code == 4 and "not found" in result.output and str(tmp_path) in result.output
    assert "models download" in result.output or "FACECLUSTER_MODELS" in result.output
    assert _snapshot(earlier_output) == before
    new = tmp_path / "new_out"
    result = _run([str(VIDEOS / "secureface_rpi_test_4.avi"), "-o", str(new), "--config", FAST], env)
    assert result.exit_code == 4 and not new.exists()  # no empty output folder left behind


def test_every_missing_model_is_named_at_once(tmp_path):
    """A fresh machine without the fast profile's models: one error names every missing file with one
    command that gets them all (not one failed start per model), and no output folder is made."""
    env = {"FACECLUSTER_MODELS": str(tmp_path / "empty"), "FACECLUSTER_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "out"
    result = _run([str(VIDEOS / "secureface_rpi_test_4.avi"), "-o", str(out), "--profile", "fast"], env)
    assert result.exit_code == 4, result.output
    assert "3 model files this config needs were not found (yunet sface-int8bq fsrcnn-x2" in result.output
    assert "`facecluster models download yunet sface-int8bq fsrcnn-x2`" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


def test_tampered_model_is_exit_4(tmp_path, earlier_output):
    for name in ("face_detection_yunet_2023mar.onnx", "MobileFaceNet_128d_paddle.onnx", "yolox_nano.onnx",
                 "osnet_x0_25_msmt17.onnx", "FSRCNN_x2.pb"):  # every file but the tampered one is fine
        shutil.copy(MODELS / name, tmp_path / name)
    with open(tmp_path / "MobileFaceNet_128d_paddle.onnx", "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00" * 16)
    before = _snapshot(earlier_output)
    result = _run([str(VIDEOS / "secureface_rpi_test_4.avi"), "-o", str(earlier_output), "--config", FAST],
                  {"FACECLUSTER_MODELS": str(tmp_path)})
    assert result.exit_code == 4 and "sha256" in result.output
    assert _snapshot(earlier_output) == before


def test_unknown_backend_lists_choices(tmp_path):
    result = _run([str(VIDEOS / "secureface_rpi_test_4.avi"), "-o", str(tmp_path / "o"), "--face-detector", "nope"])
    assert result.exit_code == 2 and "dlib-hog" in result.output and "yunet" in result.output


def test_runtime_openvino_without_openvino_is_exit_6_and_makes_nothing(tmp_path, earlier_output, monkeypatch):
    from facecluster import ov_session

    monkeypatch.setitem(__import__("sys").modules, "openvino", None)  # as if the package were not installed
    monkeypatch.setattr(ov_session, "_CORE", None)
    before = _snapshot(earlier_output)
    for out in (earlier_output, tmp_path / "new_out"):
        result = _run([str(VIDEOS / "secureface_rpi_test_4.avi"), "-o", str(out), "--config", FAST,
                       "--runtime", "openvino"])
        assert result.exit_code == 6, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "pip install 'facecluster[openvino]'" in lines[0] and "--runtime onnxruntime" in lines[0]
    assert _snapshot(earlier_output) == before and not (tmp_path / "new_out").exists()
    result = _run([str(VIDEOS / "secureface_rpi_test_4.avi"), "-o", str(tmp_path / "auto"), "--config", FAST,
                   "--max-seconds", "1"])
    assert result.exit_code == 0, result.output  # the default (auto) goes on without it
