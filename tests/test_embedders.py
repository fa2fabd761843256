"""Face embedders on real faces: identities separate, two-phase batching equals per-image embedding, flip
averaging is what it says; landmark refinement on a real close-up."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from facecluster import registry
from facecluster.embed.base import MAX_BATCH
from facecluster.registry import FaceDetectorOptions, FaceEmbedderOptions
from facecluster.types import l2_normalize

from .conftest import MEDIA

FACES = MEDIA / "faces"
BBT = FACES / "faceapi_bbt"
GLINT = FACES / "glint_celebs22"
ONNX_EMBEDDERS = [("arcface", "mobilefacenet-paddle"), ("arcface", "mobilefacenet-pytorch"),
                  ("sface", "sface-int8bq-fp32"), ("edgeface", "edgeface-xs"), ("edgeface", "edgeface-xxs")]


def embedder(name, model="", flip=None):
    return registry.create("face-embedder", name, FaceEmbedderOptions(model=model, flip=flip))


def detector(name="yunet", **options):
    return registry.create("face-detector", name, FaceDetectorOptions(threshold=0.5, **options))


def labelled(folder, identities, per_id):
    """{identity: [paths]} for the first `identities` identities of a labelled face set."""
    with open(folder / "identity_labels.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    by_id: dict[str, list] = {}
    for r in rows:
        if len(by_id.setdefault(r["identity"], [])) < per_id:
            by_id[r["identity"]].append(folder / r["file"])
    return dict(list(by_id.items())[:identities])


def separation(vectors, labels):
    """(largest same-identity distance, smallest different-identity distance, AUC)."""
    d = 1.0 - vectors @ vectors.T
    labels = np.asarray(labels)
    iu = np.triu_indices(len(labels), 1)
    same = (labels[:, None] == labels[None])[iu]
    s, o = d[iu][same], d[iu][~same]
    auc = float(np.mean(s[:, None] < o[None]))
    return float(np.median(s)), float(np.median(o)), auc


@pytest.fixture(scope="module")
def glint_chips():
    """Real 112x112 aligned faces (Glint360k crops are already 5-point aligned): 5 people x 4 faces."""
    chips, labels = [], []
    for identity, files in labelled(GLINT, 5, 4).items():
        for f in files:
            chips.append(cv2.imread(str(f)))
            labels.append(identity)
    return np.stack(chips), labels


@pytest.mark.parametrize("name, model", ONNX_EMBEDDERS)
def test_onnx_embedders_separate_real_aligned_faces(glint_chips, name, model):
    chips, labels = glint_chips
    emb = embedder(name, model)
    vectors = emb.embed_chips(chips)
    assert vectors.shape == (len(chips), emb.DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    same_med, diff_med, auc = separation(vectors, labels)
    assert auc > 0.97
    assert same_med < emb.SAME_PERSON_DISTANCE < diff_med


@pytest.mark.parametrize("model", ["sface-int8bq", "sface-int8bq-fp32"])
def test_sface_on_opencv_dnn_gives_onnxruntimes_vectors(glint_chips, model):
    from facecluster.onnx import OpenCVSession, load_session
    from facecluster.registry import resolve_model

    on_cpu = embedder("sface", model)
    assert isinstance(on_cpu.session, OpenCVSession)  # SFace runs on OpenCV's dnn on the CPU (faster)
    assert on_cpu.input_name == "data" and on_cpu.fixed_batch is None and on_cpu.DIM == 128
    reference = load_session(resolve_model(model, None), "sface")  # onnxruntime
    blob = on_cpu.blob(glint_chips[0][:5])
    ours = l2_normalize(on_cpu._run(blob))
    theirs = l2_normalize(reference.run(None, {"data": blob})[0])
    assert ours.shape == (5, 128)
    assert np.min(np.sum(ours * theirs, axis=1)) > 0.9999


def test_a_model_opencv_cannot_read_is_a_model_error(tmp_path):
    from facecluster.errors import ModelError
    from facecluster.models import ResolvedModel
    from facecluster.onnx import OpenCVSession, load_session

    bad = tmp_path / "sface.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 100)
    model = ResolvedModel("", bad, "", None)
    with pytest.raises(ModelError, match=r"cannot load SFace .*sface.onnx with OpenCV.*facecluster models verify"):
        OpenCVSession(model, "SFace")
    # what OpenCV cannot import goes to onnxruntime, which names the file too
    with pytest.raises(ModelError, match=r"cannot load SFace .*sface.onnx: .*facecluster models verify"):
        load_session(model, "SFace", engine="opencv")


@pytest.mark.parametrize("name, model", ONNX_EMBEDDERS + [("dlib", "")])
def test_embedders_separate_detected_faces(name, model):
    """The whole path: detector landmarks -> chips -> vectors, on the bbt face crops."""
    det, emb = detector(), embedder(name, model)
    vectors, labels = [], []
    for identity, files in labelled(BBT, 4, 3).items():
        for f in files:
            img = cv2.copyMakeBorder(cv2.imread(str(f)), 50, 50, 50, 50, cv2.BORDER_CONSTANT)
            found = det.detect(img)
            assert len(found) == 1, f
            vectors.append(emb.embed(img, found)[0])
            labels.append(identity)
    same_med, diff_med, auc = separation(np.array(vectors), labels)
    assert auc > 0.95
    assert same_med < emb.SAME_PERSON_DISTANCE < diff_med


@pytest.fixture(scope="module")
def two_frames():
    det = detector()
    frames = [cv2.imread(str(BBT / "bbt4.jpg")), cv2.imread(str(BBT / "bbt1.jpg"))]
    return frames, [det.detect(f) for f in frames]


@pytest.mark.parametrize("name, model", ONNX_EMBEDDERS)
@pytest.mark.parametrize("flip", [False, True])
def test_chips_of_two_frames_in_one_call_equal_per_frame_embedding(two_frames, name, model, flip):
    frames, dets = two_frames
    emb = embedder(name, model, flip)
    assert [len(d) for d in dets] == [6, 4]
    chips = [emb.chips(f, d) for f, d in zip(frames, dets)]
    assert chips[0].shape == (6, emb.CHIP_SIZE, emb.CHIP_SIZE, 3) and chips[0].dtype == np.uint8
    calls = []
    run = emb.session.run
    emb.session.run = lambda *a: calls.append(1) or run(*a)
    batched = emb.embed_chips(np.concatenate(chips))
    step = MAX_BATCH // 2 if flip else MAX_BATCH  # rows per call, bounded (memory)
    assert len(calls) == (-(-10 // step) if emb.fixed_batch is None else 10 * (1 + flip))
    emb.session.run = run
    single = np.concatenate([emb.embed(f, d) for f, d in zip(frames, dets)])
    np.testing.assert_allclose(batched, single, atol=2e-5)
    assert len({tuple(np.round(v[:4], 3)) for v in batched}) == 10


def test_dlib_chips_and_batch_match_embed(two_frames):
    frames, dets = two_frames
    emb = embedder("dlib")
    chips = [emb.chips(f, d) for f, d in zip(frames, dets)]
    assert chips[0].shape == (6, 150, 150, 3)
    np.testing.assert_allclose(emb.embed_chips(np.concatenate(chips)),
                               np.concatenate([emb.embed(f, d) for f, d in zip(frames, dets)]), atol=1e-5)


def test_dlib_in_helper_processes_gives_the_same_vectors_and_stops_cleanly(two_frames):
    """dlib keeps the GIL while it computes: a run's descriptors come from helper processes (split between
    them in order), equal to in-process ones; closing ends the helpers, and a helper that died is one
    ModelError, not a hang or a traceback."""
    import os
    import signal

    from facecluster.errors import ModelError

    frames, dets = two_frames
    here = embedder("dlib")
    chips = np.concatenate([here.chips(f, d) for f, d in zip(frames, dets)])
    away = registry.create("face-embedder", "dlib", FaceEmbedderOptions(processes=2))
    assert here.helpers is None and away.helpers is not None
    np.testing.assert_allclose(away.embed_chips(chips), here.embed_chips(chips), atol=1e-6)
    np.testing.assert_allclose(away.embed_chips(chips[:1]), here.embed_chips(chips[:1]), atol=1e-6)
    pids = [p.pid for p in away.helpers._procs]
    assert len(pids) == 2
    away.helpers.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    broken = registry.create("face-embedder", "dlib", FaceEmbedderOptions(processes=2))
    broken.embed_chips(chips[:2])
    os.kill(broken.helpers._procs[0].pid, signal.SIGKILL)
    with pytest.raises(ModelError, match="helper process computing dlib face descriptors stopped"):
        broken.embed_chips(chips)


HELPERS_OF_A_KILLED_RUN = """
import numpy as np
from facecluster import registry
from facecluster.registry import FaceEmbedderOptions
e = registry.create("face-embedder", "dlib", FaceEmbedderOptions(processes=2))
e.embed_chips(np.zeros((2, 150, 150, 3), np.uint8))
print(" ".join(str(p.pid) for p in e.helpers._procs), flush=True)
__import__("time").sleep(120)
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_dlib_helpers_end_when_their_run_is_killed_outright():
    """SIGKILL (or the OOM killer) gives the parent no chance to end its helpers; they end by themselves."""
    import signal
    import subprocess
    import sys
    import time

    run = subprocess.Popen([sys.executable, "-c", HELPERS_OF_A_KILLED_RUN], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in run.stdout.readline().split()]
    assert len(pids) == 2 and all(_running(p) for p in pids)
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 10
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(p) for p in pids)


def test_flip_is_the_mean_of_the_face_and_its_mirror(glint_chips):
    chips = glint_chips[0][:3]
    plain = embedder("edgeface", "edgeface-xs", flip=False)
    mirrored = plain.embed_chips(np.ascontiguousarray(chips[:, :, ::-1]))
    expected = l2_normalize(plain.embed_chips(chips) + mirrored)
    np.testing.assert_allclose(embedder("edgeface", "edgeface-xs", flip=True).embed_chips(chips), expected, atol=1e-5)
    assert not np.allclose(plain.embed_chips(chips), expected, atol=1e-3)


def test_flip_default_follows_the_embedder():
    for name, model in ONNX_EMBEDDERS[:1] + ONNX_EMBEDDERS[2:4]:
        emb = embedder(name, model)
        assert emb.flip == type(emb).FLIP_HELPS
        assert embedder(name, model, flip=not emb.flip).flip == (not emb.flip)


def test_no_faces_give_an_empty_matrix():
    from facecluster.types import Detections

    for name, model in (ONNX_EMBEDDERS[3], ("dlib", "")):
        emb = embedder(name, model)
        out = emb.embed(np.zeros((64, 64, 3), np.uint8), Detections.empty())
        assert out.shape == (0, emb.DIM) and out.dtype == np.float32
        assert emb.embed_chips(emb.chips(np.zeros((64, 64, 3), np.uint8), Detections.empty())).shape == (0, emb.DIM)


# Glint360k crops are 5-point aligned to one template; its landmark positions in the 112x112 crop, estimated as
# the mean of YuNet's and SCRFD's landmarks over 44 of the crops at natural size (both agree within 1.5 px)
GLINT_TEMPLATE = np.array([[38.5, 52.6], [74.0, 52.5], [54.4, 73.5], [41.9, 88.8], [71.4, 88.9]], np.float32)


def close_up(crop, face_px=600, frame=(720, 1280)):
    """The crop scaled so its face is `face_px` tall, centred in a black frame (cut at the frame's edges):
    (frame, scale, offset of the crop's origin)."""
    k = face_px / 112.0
    big = cv2.resize(crop, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR)
    h, w = frame
    oy, ox = (h - big.shape[0]) // 2, (w - big.shape[1]) // 2
    out = np.zeros((h, w, 3), np.uint8)
    out[max(0, oy):oy + big.shape[0], max(0, ox):ox + big.shape[1]] = big[max(0, -oy):max(0, -oy) + h,
                                                                           max(0, -ox):max(0, -ox) + w]
    return out, k, np.array([ox, oy], np.float32)


@pytest.mark.parametrize("refiner", ["scrfd", "yunet"])
def test_refinement_improves_landmarks_on_close_ups(glint_chips, refiner):
    """A 600 px face detected on a frame shrunk to 320 px: the refined landmarks sit closer to where the
    face's alignment template says they are."""
    plain = detector(max_side=320)
    refined = detector(max_side=320, refine_landmarks=refiner)
    eye_gap = np.linalg.norm(GLINT_TEMPLATE[1] - GLINT_TEMPLATE[0])
    errors = {"plain": [], "refined": []}
    for crop in glint_chips[0][::2]:
        frame, k, offset = close_up(crop)
        for label, det in (("plain", plain), ("refined", refined)):
            found = det.detect(frame)
            assert len(found) == 1
            landmarks = (found.landmarks[0] - offset) / k
            errors[label].append(np.linalg.norm(landmarks - GLINT_TEMPLATE, axis=1).mean() / eye_gap)
        assert np.allclose(found.boxes, plain.detect(frame).boxes)  # boxes are the detector's
    assert np.median(errors["refined"]) < 0.85 * np.median(errors["plain"])
