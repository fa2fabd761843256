"""End-to-end: real clips with known people counts, a synthetic episode with known identities, outputs."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

import facecluster
from facecluster import build_config
from facecluster.cli import main
from facecluster.evaluate.harness import evaluate
from facecluster.table import COLUMNS
from facecluster.video import sample_frames

from .conftest import MEDIA, ROOT, VIDEOS

FAST = build_config(ROOT / "tests" / "configs" / "fast.toml")
BUILTIN = build_config(ROOT / "tests" / "configs" / "default.toml")


@pytest.mark.parametrize("video, people", [
    ("secureface_rpi_test_3.avi", 2),
    ("secureface_rpi_test_4.avi", 2),
    ("intel_head-pose-face-detection-female-and-male.gif", 2),
    ("intel_face-demographics-walking-and-pause.gif", 3),
])
def test_fast_config_counts_people_on_real_clips(video, people):
    assert facecluster.run(VIDEOS / video, FAST).n_people == people


@pytest.mark.parametrize("video, people", [
    ("secureface_rpi_test_3.avi", 2),
    ("secureface_rpi_test_4.avi", 2),
])
def test_builtin_config_counts_people_where_hog_finds_faces(video, people):
    assert facecluster.run(VIDEOS / video, BUILTIN).n_people == people


@pytest.fixture(scope="module")
def episode(tmp_path_factory):
    from facecluster.evaluate.synth import synthesize_episode

    folder = tmp_path_factory.mktemp("episode")
    video, truth = folder / "episode.mp4", folder / "truth.json"
    synthesize_episode(MEDIA / "faces" / "faceapi_bbt", video, truth, small=True, seed=2)
    return video, truth


@pytest.mark.parametrize("config", [FAST, BUILTIN], ids=["fast", "builtin"])
def test_synthetic_episode_grouping_matches_identities(episode, config, tmp_path):
    video, truth = episode
    result = facecluster.run(video, config, output_dir=tmp_path / "out")
    scores = evaluate(tmp_path / "out", truth, write=False)["faces"]
    assert scores["clustering"]["bcubed"]["f"] >= 0.95, scores
    if config is FAST:
        assert scores["detection"]["recall"] >= 0.9
        assert result.n_people == len(json.loads(truth.read_text())["identities"])
    table = result.detections
    assert result.manifest["counts"]["people"] == result.n_people == len(json.loads((tmp_path / "out" / "people.json")
                                                                                   .read_text())["people"])
    for frame in np.unique(table["frame_index"]):
        faces = (table["frame_index"] == frame) & (table["person_id"] >= 0) & (table["kind"] == "face")
        persons = table["person_id"][faces]
        assert len(persons) == len(set(persons)), f"two faces of frame {frame} share a person"


def test_shot_cuts_match_synthetic_truth(episode):
    video, truth = episode
    truth_shot = [f["shot"] for f in json.loads(truth.read_text())["frames"]]
    frames = [(f.index, f.shot) for f in sample_frames(video, fps=2.0)]
    for (i0, s0), (i1, s1) in zip(frames, frames[1:]):
        assert (truth_shot[i0] == truth_shot[i1]) == (s0 == s1), (i0, i1)


def test_outputs_are_complete_and_consistent(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["-q", "run", str(VIDEOS / "secureface_rpi_test_4.avi"), "-o", str(out),
                                       "-c", str(ROOT / "tests" / "configs" / "fast.toml")])
    assert result.exit_code == 0, result.output
    with open(out / "detections.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    assert tuple(header) == COLUMNS
    kind = header.index("kind")
    assert {r[kind] for r in rows[1:]} == {"face", "body"}
    by_id = {r[0]: r for r in rows[1:]}
    linked = 0
    for r in rows[1:]:
        link = r[header.index("body_detection_id")]
        if r[kind] == "face" and link != "-1":
            linked += 1
            assert by_id[link][header.index("face_detection_id")] == r[0]
            assert by_id[link][header.index("unit_id")] == r[header.index("unit_id")]
    assert linked > 0
    people = json.loads((out / "people.json").read_text())["people"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(people) == manifest["counts"]["people"] == 2
    for p in people:
        assert (out / p["thumbnail"]).is_file()
        assert p["first_seen_s"] <= p["last_seen_s"] and p["screen_time_s"] > 0
    assert {m["name"] for m in manifest["models"]} == {"yunet", "mobilefacenet-paddle", "yolox-nano", "osnet-x0.25",
                                                     "fsrcnn-x2"}
    assert all(len(m["sha256"]) == 64 for m in manifest["models"])
    assert manifest["input"]["width"] == 640 and manifest["config"]["face_detector"] == "yunet"
    assert {"decode", "detect", "embed", "group", "total"} <= set(manifest["timings_s"])
    n = sum(r[kind] == "face" for r in rows[1:])
    assert len(list((out / "thumbs" / "faces").glob("*.jpg"))) == n
    assert len(list((out / "thumbs" / "bodies").glob("*.jpg"))) == len(rows) - 1 - n
    with sqlite3.connect(out / "facecluster.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM vectors WHERE space = 'face'").fetchone()[0] == n
        assert con.execute("SELECT COUNT(*) FROM vectors WHERE space = 'clothing'").fetchone()[0] > 0
    csv_sha = hashlib.sha256((out / "detections.csv").read_bytes()).hexdigest()
    assert manifest["files"]["detections.csv"]["sha256"] == csv_sha
    assert sorted(p.name for p in (out / ".facecluster").iterdir()) == ["run.lock"]  # no checkpoint or staging left
    import pyarrow.parquet as pq

    assert pq.read_table(out / "detections.parquet").num_rows == len(rows) - 1


def test_api_without_output_dir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = facecluster.run(VIDEOS / "short_hamilton_clip.mp4", FAST)
    assert list(tmp_path.iterdir()) == []
    times = result.detections["time_s"]
    assert np.all(np.diff(times) >= 0) and times.min() >= 0.85  # stream timestamps (clip starts at 0.852 s)
    assert result.embeddings.shape == ((result.detections["kind"] == "face").sum(), 128)
    assert np.allclose(np.linalg.norm(result.embeddings, axis=1), 1.0, atol=1e-4)


def test_short_input_and_gif_decode():
    frames = list(sample_frames(VIDEOS / "faceapi_test_video.mp4", fps=1.0))
    assert len(frames) == 1 and frames[0].image.shape == (460, 820, 3)
    gif = list(sample_frames(VIDEOS / "intel_classroom.gif", fps=2.0))
    assert len(gif) >= 5 and all(f.image.dtype == np.uint8 for f in gif)


def test_run_says_how_to_sample_a_short_clip_more(tmp_path):
    """A 3 s clip at 1 frame a second is 3 frames of evidence: `run` suggests a rate (never above the
    clip's own) that gives it about 20; a clip sampled enough gets no note."""
    result = CliRunner().invoke(main, ["run", str(VIDEOS / "intel_classroom.gif"), "-o", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert "note: only 3 frames sampled (1 a second of 3.0 s)" in result.output and "--fps 7" in result.output
    assert result.output.strip().splitlines()[-1].endswith(f"facecluster serve {tmp_path / 'a'}")  # what next
    result = CliRunner().invoke(main, ["run", str(VIDEOS / "intel_classroom.gif"), "-o", str(tmp_path / "b"),
                                       "--fps", "7"])
    assert result.exit_code == 0 and "note:" not in result.output


@pytest.mark.parametrize("ext, codec", [("mp4", "libx264"), ("mkv", "libx264"), ("mov", "libx264"),
                                        ("webm", "libvpx-vp9"), ("avi", "mpeg4")])
def test_containers_sample_at_the_requested_rate(tmp_path, ext, codec):
    from .conftest import write_video

    frames = [np.full((48, 64, 3), (i * 7) % 255, np.uint8) for i in range(50)]  # 2 s at 25 fps
    video = write_video(tmp_path / f"clip.{ext}", frames, fps=25, codec=codec)
    sampled = list(sample_frames(video, fps=2.0))
    assert [f.index for f in sampled] == [0, 13, 25, 38]  # first frame at or after each 0.5 s step
    assert np.allclose([f.time_s for f in sampled], [0, 0.5, 1.0, 1.5], atol=0.05)


def test_run_with_annotate_writes_the_labelled_video(tmp_path):
    import av

    out, annotated = tmp_path / "out", tmp_path / "annotated.mp4"
    result = CliRunner().invoke(main, ["-q", "run", str(VIDEOS / "secureface_rpi_test_4.avi"), "-o", str(out),
                                       "-c", str(ROOT / "tests" / "configs" / "fast.toml"), "--annotate", str(annotated)])
    assert result.exit_code == 0, result.output
    with av.open(str(annotated)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(VIDEOS / "secureface_rpi_test_4.avi")) as container:
        assert frames == sum(1 for _ in container.decode(video=0))


def test_each_frame_worker_has_its_own_frame_models():
    """OpenCV's nets are not thread-safe (two workers sharing one FSRCNN crashed): the models of the frame stage
    are per worker, the embedders (main thread only) are shared."""
    from facecluster import profiles
    from facecluster.extract import Backends, Extractor

    config = build_config(profiles.path("fast-bodies"), {"workers": 2})
    extractor = Extractor(config, Backends.build(config))
    first, second = (stage.models for stage in extractor.stages)
    assert len(extractor.stages) == 2
    for part in ("face_detector", "body_detector", "upscaler"):
        assert getattr(first, part) is not None and getattr(first, part) is not getattr(second, part)
    assert extractor.stages[0].b.face_embedder is extractor.stages[1].b.face_embedder


def test_synth_and_run_print_no_opencv_noise(tmp_path):
    """OpenCV 5 logs a warning whenever a dnn net is given a target (cv2.FaceDetectorYN does): users see none."""
    import subprocess
    import sys

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "facecluster.cli", *map(str, args)], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return [line for line in proc.stderr.splitlines() if "WARN" in line.upper() and not line.startswith("WARNING:")]

    video = tmp_path / "ep.mp4"
    assert not cli("synth", MEDIA / "faces" / "faceapi_bbt", "-o", video, "--truth", tmp_path / "ep.json", "--small",
                   "--seconds", "4")
    assert not cli("run", video, "-o", tmp_path / "out", "--profile", "fast-bodies")
    assert (tmp_path / "out" / "people.json").is_file()
