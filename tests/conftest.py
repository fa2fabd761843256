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


def write_video(path: Path, frames, fps: int = 25, codec: str = "libx264") -> Path:
    """Encode BGR uint8 frames with PyAV."""
    import av

    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    return VIDEOS
