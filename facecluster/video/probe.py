"""Opening a video file with one-line errors, and what the container says about it (`probe`)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import InputError
from .orient import Orientation


@dataclass
class VideoInfo:
    path: str
    size_bytes: int
    codec: str
    width: int  # in display orientation (after rotation metadata)
    height: int
    fps: float
    duration_s: float
    frame_count: int  # from the container; 0 when unknown
    start_time_s: float
    rotation: int = 0  # degrees the coded picture is turned clockwise for display (0, 90, 180, 270)
    pixel_aspect: str = ""  # "64:45" when the coded pixels are not square (width and height are square-pixel)

    def to_dict(self) -> dict:
        return asdict(self)


def open_video(path: str | os.PathLike):
    """An input container with at least one video stream, or InputError saying what is wrong."""
    import av

    path = Path(path)
    if not path.exists():
        raise InputError(f"input video not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a folder, not a video file: {path}; give one video, or run every video "
                         f"in it with `facecluster batch {path} -o ARCHIVE_DIR`")
    if not os.access(path, os.R_OK):
        raise InputError(f"cannot read input video {path}: permission denied")
    if path.stat().st_size == 0:
        raise InputError(f"input video {path} is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except av.error.EOFError:
        raise InputError(f"{path} contains no decodable video frames (it ends right after its header)") from None
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot open {path} as a video ({reason(exc)}); is it a video file? "
                         f"If it was cut short while copying, copy it again") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path} has no video stream (mp4, avi, mkv, mov, webm and GIF are supported)")
    return container


def reason(exc) -> str:
    return getattr(exc, "strerror", None) or str(exc).split(":")[0] or type(exc).__name__


def nominal_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    return float(rate) if rate > 0 else 25.0


def declared_duration(container, stream) -> float:
    """Seconds the container says the video stream lasts; 0 when unknown."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1e6
    return 0.0


def first_frame_orientation(container, stream) -> Orientation:
    """Rotation metadata travels as side data on decoded frames, so look at the first one; a file
    whose first frame does not decode is reported by the reader, not here (the pixel aspect still counts)."""
    import av

    from .orient import pixel_aspect

    try:
        for frame in container.decode(stream):
            return Orientation.of(frame, stream)
    except (av.error.FFmpegError, ValueError):
        pass
    return Orientation(pixel_aspect=pixel_aspect(stream))


def probe(path: str | os.PathLike) -> VideoInfo:
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 1000000)
        start = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        width, height, codec = stream.width, stream.height, stream.codec_context.name
        info = VideoInfo(str(path), Path(path).stat().st_size, codec, width, height, nominal_fps(stream),
                         declared_duration(container, stream), int(stream.frames or 0), start)
        orientation = first_frame_orientation(container, stream)
        info.width, info.height = orientation.display_size(width, height)
        info.rotation = orientation.rotation
        info.pixel_aspect = orientation.pixel_aspect_text
        return info
    finally:
        container.close()
