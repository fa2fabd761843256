"""VideoReader: decode a video once, sample frames at a fixed rate of stream time, number shots, survive
damaged files (stats.py has the rule), and continue an interrupted read where it stopped: by seeking to
the keyframe before the resume point where timestamps allow it, else by reading packets from the start
and decoding from that keyframe, else by decoding from the start without converting frames."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Iterator

from ..errors import InputError
from ..types import Frame
from .decode import RESUME_FORMAT, SKIP_MODES, ReadPass, ResumeFailed
from .probe import open_video, reason
from .stats import CapturedErrors, DecodeStats, judge

log = logging.getLogger("facecluster.video")
DEINTERLACE = ("auto", "on", "off")
_SEEK_BACKOFF_S = (0.0, 2.0, 10.0)  # seek this much before the resume point, then earlier if it landed late


class VideoReader:
    """Frames sampled at `fps` per second of stream time (the first decoded frame, then the first frame at
    or after each 1/fps step), with their decoded-frame index, continuous stream time and shot number,
    as BGR images in display orientation.

    `resume`: a dict from `resume_point()` of an earlier reader of the same file and settings; frames()
    then continues right after that frame, numbered as an uninterrupted read would number them.
    `skip`: which frames the decoder may drop between samples ("nonref" default, "none", or for
    measurements "bidir"/"nonkey", which can lose shot cuts).
    `deinterlace`: "auto" repairs the sampled frames the stream marks as interlaced (video/deinterlace.py),
    "on" every sampled frame, "off" none.
    `threads`: decoder threads (0: FFmpeg's frame+slice threads on every core, the fastest alone; 1: the
    least CPU per frame, for when inference keeps the other cores busy: 5.8 against 7.7 CPU seconds for a
    2-minute 720p clip at the same wall time).
    """

    def __init__(self, path: str | os.PathLike, fps: float, shot_threshold: float = 0.06,
                 max_seconds: float = 0.0, resume: dict | None = None, *, skip: str = "nonref",
                 threads: int = 0, deinterlace: str = "auto"):
        if not fps or fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if skip not in SKIP_MODES:
            raise ValueError(f"skip must be one of {sorted(SKIP_MODES)}, got {skip!r}")
        self.path = Path(path)
        self.fps, self.shot_threshold, self.max_seconds, self.skip = float(fps), shot_threshold, max_seconds, skip
        if deinterlace not in DEINTERLACE:
            raise ValueError(f"deinterlace must be one of {DEINTERLACE}, got {deinterlace!r}")
        self.threads, self.deinterlace = threads, deinterlace
        self.stats = DecodeStats(skip_between_samples=skip)
        self._resume = self._checked(resume) if resume else None
        self._before = self._resume["stats"] if self._resume else None
        self._history: deque[tuple[int, dict]] = deque(maxlen=64)
        self._lock = threading.Lock()
        self._started = False

    # -- resume points -----------------------------------------------------------------------------
    def _settings(self) -> dict:
        return {"fps": self.fps, "shot_threshold": self.shot_threshold, "max_seconds": self.max_seconds,
                "skip": self.skip, "deinterlace": self.deinterlace}

    def _checked(self, resume: dict) -> dict:
        if not isinstance(resume, dict) or resume.get("format") != RESUME_FORMAT:
            raise ValueError(f"not a video resume point (expected format {RESUME_FORMAT!r})")
        if resume["settings"] != self._settings():
            raise ValueError(f"resume point was made with other settings: {resume['settings']} != {self._settings()}")
        size = self.path.stat().st_size if self.path.is_file() else None
        if size is not None and size != resume["video"]["size_bytes"]:
            raise InputError(f"{self.path} changed since the interrupted run ({resume['video']['size_bytes']} bytes "
                             f"then, {size} now); run it again from the start")
        return resume

    def resume_point(self, after: int | None = None) -> dict | None:
        """JSON-able state to continue right after the frame with index `after` (default: the last
        yielded), which must be one of the last 64 yielded frames; None before the first frame."""
        with self._lock:
            for index, state in reversed(self._history):
                if after is None or index == after:
                    return state
        if after is None:
            return self._resume
        raise KeyError(f"frame {after} is not among the last {self._history.maxlen} sampled frames")

    def _remember(self, index: int, state: dict) -> None:
        with self._lock:
            self._history.append((index, state))

    def totals(self) -> dict:
        """Statistics of the whole video so far: this read's (`stats`) added to those of the interrupted reads
        it continues, up to the resume point (what a resumed run should record)."""
        return self.stats.combined(self._before)

    # -- reading -----------------------------------------------------------------------------------
    def frames(self) -> Iterator[Frame]:
        if self._started:
            raise RuntimeError("VideoReader.frames() can be iterated only once")
        self._started = True
        plans = self._plans()
        for i, plan in enumerate(plans):
            try:
                yield from self._timed(self._read(*plan))
                break
            except ResumeFailed as exc:
                self.stats.resume_note = f"{plan[0]} failed: {exc}"
                log.debug("resume by %s failed (%s)", plan[0], exc)
                if i == len(plans) - 1:
                    raise InputError(f"cannot continue the interrupted run of {self.path}: {exc}; "
                                     f"run it again from the start") from None
        judge(self.path, self.stats, self._before)

    def _timed(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """stats.seconds counts the reader's own time, not the caller's between frames."""
        try:
            while True:
                started = time.perf_counter()
                try:
                    frame = next(frames)
                except StopIteration:
                    return
                finally:
                    self.stats.seconds += time.perf_counter() - started
                yield frame
        finally:
            frames.close()

    def _plans(self) -> list[tuple]:
        r = self._resume
        if r is None:
            return [("", 0.0)]
        plans = []
        if r["seekable"]:
            plans += [("seek", b) for b in _SEEK_BACKOFF_S]
        else:
            self.stats.resume_note = ("timestamps restart or this format allows jumps" if r["by_pts"]
                                      else "packets carry no timestamps")
        if r["by_pts"]:
            plans.append(("scan", 0.0))
        return plans + [("start", 0.0)]

    def _read(self, resume_mode: str, backoff_s: float) -> Iterator[Frame]:
        import av

        container = open_video(self.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame+slice threads: measured fastest with both cores
            if self.threads:
                stream.thread_count = self.threads
            with CapturedErrors() as errors:
                yield from ReadPass(self, container, stream, errors, resume_mode, backoff_s).run()
        except av.error.FFmpegError as exc:  # anything the per-packet handling did not catch
            raise InputError(f"{self.path} could not be decoded ({reason(exc)}); re-copy or re-encode the "
                             f"file") from None
        finally:
            container.close()

