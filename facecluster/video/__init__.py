"""Video input: probe, decode and sample frames at a fixed rate of stream time, number shots so that later
stages never link faces across a cut, apply rotation metadata, make restarting timestamps continuous,
count decoder errors, and continue an interrupted read (VideoReader.resume_point)."""

from __future__ import annotations

import os
from typing import Iterator

from ..types import Frame
from .decode import decode_only
from .orient import Orientation
from .prefetch import prefetch
from .probe import VideoInfo, open_video, probe
from .reader import VideoReader
from .shots import THUMB, ShotDetector, luma_thumbnail
from .stats import DecodeStats

__all__ = ["DecodeStats", "Orientation", "ShotDetector", "THUMB", "VideoInfo", "VideoReader", "decode_only",
           "luma_thumbnail", "open_video", "prefetch", "probe", "sample_frames"]


def sample_frames(path: str | os.PathLike, fps: float, shot_threshold: float = 0.06,
                  max_seconds: float = 0.0, info: VideoInfo | None = None) -> Iterator[Frame]:
    """VideoReader(...).frames() (kept for callers that need no resume point or statistics)."""
    yield from VideoReader(path, fps, shot_threshold, max_seconds).frames()
