"""The episode synthesizer: its ground truth matches what it drew, and a real detector agrees with it."""

import json
from collections import defaultdict
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from facecluster.cli import main
from facecluster.errors import ConfigError, InputError
from facecluster.evaluate.metrics import match_boxes
from facecluster.evaluate.synth import synthesize_episode

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FACES = SHARED / "media" / "faces" / "yywbxgl_video_faces"
YUNET = SHARED / "models" / "face_detection_yunet_2023mar.onnx"
SECONDS, SEED = 12, 5

pytestmark = pytest.mark.skipif(not (FACES.is_dir() and YUNET.is_file()),
                                reason="needs ../shared/media/faces and ../shared/models (YuNet)")


@pytest.fixture(scope="module")
def episode(tmp_path_factory):
    out = tmp_path_factory.mktemp("episode")
    info = synthesize_episode(FACES, out / "ep.mp4", out / "ep.json", seconds=SECONDS, seed=SEED, small=True,
                              face_model=str(YUNET))
    truth = json.loads((out / "ep.json").read_text())
    frames = []
    with av.open(str(out / "ep.mp4")) as c:
        for i, f in enumerate(c.decode(video=0)):
            frames.append(f.to_ndarray(format="bgr24") if i % 5 == 0 else None)
    return info, truth, frames, out


def faces_and_persons(frame):
    faces = [o for o in frame["objects"] if o["kind"] == "face"]
    persons = [o for o in frame["objects"] if o["kind"] == "person"]
    return faces, persons


def test_video_and_truth_agree(episode):
    info, truth, frames, _ = episode
    v = truth["video"]
    assert (v["width"], v["height"], v["fps"], v["frames"]) == (640, 360, 25, SECONDS * 25)
    assert len(frames) == v["frames"] == len(truth["frames"]) == info["frames"]
    assert frames[0].shape == (360, 640, 3)
    assert [f["frame_index"] for f in truth["frames"]] == list(range(v["frames"]))
    assert all(f["time_s"] == pytest.approx(f["frame_index"] / 25) for f in truth["frames"])
    shots = truth["shots"]
    assert shots[0]["start_frame"] == 0 and shots[-1]["end_frame"] == v["frames"] and len(shots) >= 3
    assert all(a["end_frame"] == b["start_frame"] for a, b in zip(shots, shots[1:]))
    for f in truth["frames"]:
        shot = shots[f["shot"]]
        assert shot["start_frame"] <= f["frame_index"] < shot["end_frame"]
        assert {o["identity"] for o in f["objects"]} <= set(shot["identities"])


def test_boxes_inside_frame_and_faces_inside_their_person(episode):
    _, truth, _, _ = episode
    W, H = truth["video"]["width"], truth["video"]["height"]
    several = 0
    for f in truth["frames"]:
        faces, persons = faces_and_persons(f)
        for o in f["objects"]:
            x1, y1, x2, y2 = o["box"]
            assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H, o
        for face in faces:
            mine = [p["box"] for p in persons if p["identity"] == face["identity"]]
            assert len(mine) == 1
            (px1, py1, px2, py2), (fx1, fy1, fx2, fy2) = mine[0], face["box"]
            assert px1 <= fx1 and py1 <= fy1 and fx2 <= px2 and fy2 <= py2
        assert len({o["identity"] for o in faces}) == len(faces)  # one face per identity per frame
        several += len(persons) >= 2
    assert several > 0  # shots with two or more people


def test_identities_recur_and_wear_the_same_clothes(episode):
    _, truth, frames, _ = episode
    appearances = defaultdict(set)
    colours = defaultdict(list)  # (identity, shot) -> torso colours measured in the video
    for f in truth["frames"]:
        faces, _ = faces_and_persons(f)
        for o in f["objects"]:
            appearances[o["identity"]].add(f["shot"])
        if frames[f["frame_index"]] is None:
            continue
        for face in (o for o in faces if "partial" not in o["tags"]):
            x1, y1, x2, y2 = face["box"]
            fw, fh = x2 - x1, y2 - y1
            ys, xs = int(y2 + 0.9 * fh), int((x1 + x2) / 2 - 0.35 * fw)
            patch = frames[f["frame_index"]][ys:int(ys + 0.8 * fh), xs:int(xs + 0.7 * fw)]
            if patch.size and ys + 0.8 * fh <= truth["video"]["height"]:
                colours[face["identity"], f["shot"]].append(patch.reshape(-1, 3).mean(axis=0))
    assert sum(len(s) >= 2 for s in appearances.values()) >= 2  # people come back after cuts
    header = {i["name"]: i for i in truth["identities"]}
    assert set(appearances) <= set(header)
    # each appearance's measured clothing colour is nearest to its own identity's mean colour
    seen = {k: np.median(v, axis=0) for k, v in colours.items()}
    means = {n: np.mean([c for (m, _), c in seen.items() if m == n], axis=0) for n in {m for m, _ in seen}}
    assert len(means) >= 2
    for (name, _), c in seen.items():
        nearest = min(means, key=lambda n: np.linalg.norm(c - means[n]))
        assert nearest == name


def test_same_seed_same_truth_other_seed_differs(episode, tmp_path):
    _, truth, _, _ = episode
    synthesize_episode(FACES, tmp_path / "ep.mp4", tmp_path / "ep.json", seconds=SECONDS, seed=SEED, small=True,
                       face_model=str(YUNET))
    assert json.loads((tmp_path / "ep.json").read_text()) == truth
    synthesize_episode(FACES, tmp_path / "b.mp4", tmp_path / "b.json", seconds=4, seed=SEED + 1, small=True,
                       face_model=str(YUNET))
    other = json.loads((tmp_path / "b.json").read_text())
    assert other["frames"][:100] != truth["frames"][:100]


def test_yunet_finds_the_truth_faces(episode):
    """Honest check of the truth face boxes: YuNet (score >= 0.6) on one frame per second."""
    _, truth, frames, _ = episode
    det = cv2.FaceDetectorYN.create(str(YUNET), "", (640, 360), 0.6)
    found = total = 0
    ious = []
    for f in truth["frames"][::25]:
        faces = [o["box"] for o in f["objects"] if o["kind"] == "face" and o["box"][3] - o["box"][1] >= 32]
        if not faces:
            continue
        _, d = det.detect(frames[f["frame_index"]])
        pred = np.zeros((0, 4)) if d is None else np.c_[d[:, :2], d[:, :2] + d[:, 2:4]]
        m = match_boxes(faces, pred, 0.5)
        found, total = found + len(m), total + len(faces)
        ious += [v for *_, v in m]
    assert total >= 10
    assert found / total >= 0.85, (found, total)
    assert np.median(ious) >= 0.75


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="faces folder not found"):
        synthesize_episode(tmp_path / "nope", tmp_path / "a.mp4", tmp_path / "a.json", face_model=None)
    with pytest.raises(ConfigError, match="must be even"):
        synthesize_episode(FACES, tmp_path / "a.mp4", tmp_path / "a.json", width=641, face_model=None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no labelled photos"):
        synthesize_episode(tmp_path / "empty", tmp_path / "a.mp4", tmp_path / "a.json", face_model=None)
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*"))


def test_synth_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("FACECLUSTER_MODELS", str(YUNET.parent))
    res = CliRunner().invoke(main, ["-q", "synth", str(FACES), "-o", str(tmp_path / "e.mp4"), "--truth",
                                    str(tmp_path / "e.json"), "--small", "--seconds", "2", "--size", "320x180"])
    assert res.exit_code == 0, res.output
    truth = json.loads((tmp_path / "e.json").read_text())
    assert truth["video"]["width"] == 320 and len(truth["frames"]) == 50 and (tmp_path / "e.mp4").stat().st_size
    res = CliRunner().invoke(main, ["synth", str(tmp_path / "nope"), "-o", str(tmp_path / "x.mp4"), "--truth",
                                    str(tmp_path / "x.json")])
    assert res.exit_code == 3 and "faces folder not found" in res.output
