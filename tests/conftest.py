"""Shared test fixtures: the real models and media in ../shared, and small generated videos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared").resolve()
MODELS = SHARED / "models"
MEDIA = SHARED / "media"
VIDEOS = MEDIA / "videos"

# absolute, so tests that change directory still find the models
os.environ["FACECLUSTER_MODELS"] = str(Path(os.environ.get("FACECLUSTER_MODELS") or MODELS).resolve())


def write_video(path: Path, frames, fps: int = 25, codec: str = "libx264", fmt: str | None = None,
                options: dict | None = None, rotation: tuple | None = None) -> Path:
    """Encode BGR uint8 frames with PyAV (container format, muxer options and a display rotation, e.g.
    (-90,) or (ccw, hflip), if given)."""
    import av

    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format=fmt, options=options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(*rotation)
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    return VIDEOS


# The review app's tests (test_serve*.py) share one synthetic episode and its finished OUTDIR.
REVIEW_FACES = MEDIA / "faces" / "yywbxgl_video_faces"
REVIEW_EPISODE = {"seed": 4, "small": True, "identities": 6}
REVIEW_CONFIG = {"fps": 2.0}


@pytest.fixture(scope="session")
def review_episode(tmp_path_factory) -> dict:
    """{"outdir", "video", "truth"} of a small synthetic episode run with tests/configs/fast.toml, made once per
    session: copy "outdir" before changing it."""
    from facecluster.config import build_config

    needed = [REVIEW_FACES, MODELS / "face_detection_yunet_2023mar.onnx", MODELS / "MobileFaceNet_128d_paddle.onnx"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        pytest.skip(f"needs ../shared media and models: {', '.join(missing)}")
    from facecluster.evaluate.synth import synthesize_episode
    from facecluster.pipeline import run

    base = tmp_path_factory.mktemp("review-episode")
    video, truth = base / "episode.mp4", base / "truth.json"
    synthesize_episode(REVIEW_FACES, video, truth, face_model="yunet", **REVIEW_EPISODE)
    run(video, build_config(ROOT / "tests" / "configs" / "fast.toml", REVIEW_CONFIG), output_dir=base / "out")
    return {"outdir": base / "out", "video": video, "truth": truth}


def face_identities(outdir, truth, kind: str = "face") -> dict[int, str]:
    """Detection id -> true identity of every face of OUTDIR that matches a truth face (IoU >= 0.5);
    kind="body": of every body that matches a truth person box."""
    from facecluster.evaluate.metrics import match_frames
    from facecluster.evaluate.synth import load_truth
    from facecluster.runfolder import RunFolder

    rf = RunFolder(outdir)
    with rf.reading():
        stored = rf.load()
    table = stored.table
    faces = np.flatnonzero(table.is_face if kind == "face" else table.is_body)
    pred: dict[int, list] = {}
    for r in faces.tolist():
        pred.setdefault(int(table.frame_index[r]), []).append((r, table.boxes[r].tolist()))
    true: dict[int, list] = {}
    for frame in load_truth(truth)["frames"]:
        true[frame["frame_index"]] = [(o["identity"], o["box"]) for o in frame["objects"]
                                      if o["kind"] == ("face" if kind == "face" else "person")]
    pairs = match_frames(true, pred, set(stored.extraction.frames[:, 0].astype(int).tolist()))["pairs"]
    return {int(d): identity for identity, d in pairs}


def make_units(face, appearances=None, cannot=(), first_s=None):
    """grouping.units.Units straight from one face vector per unit (rows of `face`; a row is the unit's mean
    face vector, so it may be shorter than 1), for clustering tests without a video. `appearances`: sampled
    frames per unit (default 3); `cannot`: unit pairs seen in one frame; `first_s`: first time seen
    (default: the unit's index, so people are numbered in unit order)."""
    from facecluster.grouping import Units

    face = np.asarray(face, np.float64)
    n = len(face)
    pairs = np.sort(np.asarray(cannot, np.int64).reshape(-1, 2), axis=1)
    pairs = np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0).reshape(-1, 2)
    first = np.arange(n, dtype=np.float64) if first_s is None else np.asarray(first_s, np.float64)
    return Units(n, face, np.ones(n), None, np.zeros(n),
                 np.full(n, 3) if appearances is None else np.asarray(appearances), first, first.copy(), pairs)


def wait_js(page, expression: str, timeout_s: float = 20.0):
    """Poll a JavaScript expression until it is truthy (page.evaluate runs outside the page's CSP, which
    forbids the eval that page.wait_for_function polls with)."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(expression)
        if value or time.monotonic() > deadline:
            assert value, f"timed out waiting for {expression}"
            return value
        page.wait_for_timeout(100)
