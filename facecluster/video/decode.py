"""One pass over a video: demux, make timestamps continuous, decode with frames skipped between samples,
number shots, sample, count errors, and (when resuming) get back to the frame where a read stopped.

Decoding cost: frames between samples only feed the shot-cut detector, so by default the decoder skips
the frames that no other frame refers to (skip_frame NONREF) except near each sampling point; the sampled
frames are the same as when decoding everything (see `_near_sample`), and the cut detector, which allows
for pans, finds the same cuts (measured in scripts/bench_decode.py).
"""

from __future__ import annotations

import logging
import math
import os
import time
from fractions import Fraction
from typing import Iterator

import numpy as np

from ..types import Frame
from .deinterlace import deinterlace
from .orient import Orientation
from .probe import declared_duration, nominal_fps, open_video, reason
from .shots import ShotDetector, luma_thumbnail
from .stats import CapturedErrors
from .timeline import FrameCounter, Timeline

log = logging.getLogger("facecluster.video")

SKIP_MODES = {"none": "DEFAULT", "nonref": "NONREF", "bidir": "BIDIR", "nonkey": "NONKEY"}
RESUME_FORMAT = "facecluster-video-resume/1"
_GAP_FRAMES = 1.5  # a packet-timeline gap longer than this many frames lost the frames in it
_ERROR_NEAR_S = 1.0  # ... if a decoder error was seen from this long before the gap on
_MAX_GOP = 20_000  # packets kept while scanning for the keyframe before a resume point


class ResumeFailed(Exception):
    """The resume strategy tried could not reach the resume point; the next one is tried."""


def to_bgr(frame) -> np.ndarray:
    import cv2

    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        # raw I420 planes + cvtColor is ~1.8x faster than PyAV's own bgr24 conversion
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
    return frame.to_ndarray(format="bgr24")


class ReadPass:
    """One pass over the container: demux, fix timestamps, decode with per-packet skipping, sample."""

    def __init__(self, reader, container, stream, errors: CapturedErrors, resume_mode: str,
                 backoff_s: float):
        import av

        self.r, self.container, self.stream, self.errors = reader, container, stream, errors
        self.stats = reader.stats
        self.tb = stream.time_base or Fraction(1, 1_000_000)
        self.frame_s = 1.0 / nominal_fps(stream)
        self.step = 1.0 / reader.fps
        self.margin = 2.5 * self.frame_s  # frames within this of a grid point are never skipped
        discont = bool(container.format.flags & av.format.Flags.ts_discont.value)
        self.discont_format = discont
        self.timeline = Timeline(self.tb, self.frame_s, forward_jumps=discont)
        self.counter = FrameCounter(self._packet_gap)
        self.shots = ShotDetector(reader.shot_threshold)
        self.t0: float | None = None
        self.next_k = 0
        self.prev_t: float | None = None
        self.last_error_t = -math.inf
        self.last_packet_t = 0.0
        self.max_pts: int | None = None
        self.skip_state = "DEFAULT"
        self.orientation: Orientation | None = None
        self.target: dict | None = None
        self.resume_mode = resume_mode
        self.backoff_s = backoff_s
        self.gop: list | None = None  # packets kept since the last keyframe while scanning to a resume point
        self.at_limit = False  # max_seconds reached
        self.jumps_before = 0  # restarts before the resume point (counted by the interrupted read)
        self.size_bytes = reader.path.stat().st_size
        self.stats.declared_duration_s = declared_duration(container, stream)
        start = stream.start_time
        self.declared_start = float(start * self.tb) if start is not None else (
            container.start_time / 1e6 if container.start_time is not None else None)
        if resume_mode:
            self._restore(reader._resume)

    # -- resume --------------------------------------------------------------------------------------
    def _restore(self, r: dict) -> None:
        if str(self.tb) != r["time_base"]:
            raise ResumeFailed(f"time base {self.tb} differs from {r['time_base']}")
        self.target = r
        self.t0 = r["sampling"]["t0"]
        self.next_k = r["sampling"]["next_k"]
        self.shots.restore(r["shots"])
        self.stats.resumed = self.resume_mode
        if self.resume_mode == "seek":
            target = r["frame"]["pts"] - round(self.backoff_s / self.tb)
            self.container.seek(target, stream=self.stream, backward=True)
        elif self.resume_mode == "scan":
            self.gop = []

    def _reached(self, frame, index: int, t: float) -> bool:
        """During the resume approach: True once the resume frame is passed (and verified)."""
        f = self.target["frame"]
        if self.target["by_pts"]:
            if frame.pts is None or frame.pts < f["pts"]:
                return False
            if frame.pts > f["pts"]:  # a seek that landed after it (the next plan seeks earlier), or another video
                raise ResumeFailed(f"the frame at {f['time_s']:.3f} s was not found again")
        elif index < f["index"]:
            return False
        thumb = np.asarray(luma_thumbnail(frame), np.float32) / np.float32(255.0)
        if self.shots.prev is not None and float(np.abs(thumb - self.shots.prev).mean()) > 0.01:
            raise ResumeFailed(f"the frame at {f['time_s']:.3f} s looks different")
        self.counter.resume(frame.pts if self.target["by_pts"] else None, f["index"] + 1)
        self.jumps_before = self.timeline.jumps
        self.prev_t = f["time_s"]
        self.target = None
        return True

    def _save(self, index: int, pts: int | None, t: float) -> None:
        state = {
            "format": RESUME_FORMAT,
            "video": {"path": str(self.r.path), "size_bytes": self.size_bytes},
            "settings": self.r._settings(),
            "time_base": str(self.tb),
            "frame": {"index": index, "pts": pts, "time_s": t},
            "sampling": {"t0": self.t0, "next_k": self.next_k},
            "shots": self.shots.state(),
            "timeline": {"offset": self.timeline.offset, "jumps": self.timeline.jumps},
            "by_pts": self.counter.by_pts and pts is not None,
            "seekable": bool(self.counter.by_pts and pts is not None and not self.discont_format
                             and self.timeline.offset == 0 and self.timeline.jumps == 0),
            "stats": self.stats.combined(self.r._before),
        }
        self.r._remember(index, state)

    # -- errors and losses ---------------------------------------------------------------------------
    def _error(self, text: str, n: int = 1) -> None:
        if self.target is not None:
            return  # counted by the interrupted read
        self.stats.decode_errors += n
        self.stats.first_error = self.stats.first_error or text[:200]
        self.last_error_t = self.last_packet_t

    def _collect_logs(self) -> None:
        messages = self.errors.take()
        if messages:
            self._error(messages[0], len(messages))

    def _packet_gap(self, prev_pts: int, pts: int) -> None:
        if self.target is not None:
            return
        a, b = float(prev_pts * self.tb), float(pts * self.tb)
        self._gap(a, b)

    def _gap(self, a: float, b: float) -> None:
        if b - a > _GAP_FRAMES * self.frame_s and self.last_error_t >= a - _ERROR_NEAR_S:
            self.stats.seconds_lost += b - a - self.frame_s

    # -- the loop ------------------------------------------------------------------------------------
    def _packets(self):
        """Video packets; after a demuxer error, reading goes on from where the demuxer can resync."""
        import av

        failures = 0
        while True:
            try:
                for packet in self.container.demux(self.stream):
                    if packet.size:
                        yield packet
                return
            except av.error.EOFError:
                return
            except av.error.FFmpegError as exc:
                self._error(f"demuxer: {reason(exc)}")
                failures += 1
                if failures > 20:
                    return

    def _skip_for(self, pts: int | None) -> str:
        mode = SKIP_MODES[self.r.skip]
        if pts is None or not self.counter.by_pts:
            return "DEFAULT"
        if self.target is not None:  # frames before the resume point only serve as references
            return "NONREF" if pts < self.target["frame"]["pts"] else "DEFAULT"
        if mode == "DEFAULT" or self.t0 is None:
            return "DEFAULT"
        return "DEFAULT" if self._near_sample(float(pts * self.tb)) else mode

    def _near_sample(self, t: float) -> bool:
        """Whether a frame at t may be the sampled frame of a grid point: the sampled frame is the first one
        at or after its grid point, at most one frame interval later, so frames more than `margin` after
        the last grid point can be skipped without changing which frames are sampled."""
        k = math.floor((t - self.t0 + 1e-6) / self.step)
        return t - (self.t0 + k * self.step) <= self.margin

    def _decode(self, packet) -> list:
        import av

        try:
            return self.stream.decode(packet)
        except av.error.EOFError:
            return []
        except (av.error.FFmpegError, ValueError) as exc:
            if self.target is None and packet is not None:
                self.stats.seconds_lost += self.frame_s
            self._error(f"{self.stream.codec_context.name}: {reason(exc)}")
            return []

    def run(self) -> Iterator[Frame]:
        cc = self.stream.codec_context
        for packet in self._packets():
            self.timeline.fix(packet)
            pts = packet.pts
            if pts is not None:
                self.last_packet_t = float(pts * self.tb)
                self.max_pts = pts if self.max_pts is None else max(self.max_pts, pts)
            if packet.is_corrupt:
                self._error("corrupt packet")
            self.stats.packets += self.target is None
            self.counter.push(pts)
            if self.gop is not None:  # scanning to the resume point: decode from the last keyframe only
                if pts is None or pts <= self.target["frame"]["pts"]:
                    if packet.is_keyframe:
                        self.gop.clear()
                    elif len(self.gop) > _MAX_GOP:
                        raise ResumeFailed("no keyframes marked in the packets")
                    self.gop.append(packet)
                    continue
                pending, self.gop = self.gop + [packet], None
            else:
                pending = [packet]
            for p in pending:
                want = self._skip_for(p.pts)
                if want != self.skip_state:
                    cc.skip_frame = want
                    self.skip_state = want
                frames = self._decode(p)
                self._collect_logs()
                for frame in frames:
                    if (out := self._frame(frame)) is not None:
                        yield out
                if self.at_limit:
                    break
            if self.at_limit:
                break
        else:
            for p in self.gop or []:  # the resume point is in the last group of pictures
                for frame in self._decode(p):
                    self._frame(frame)
            for frame in self._decode(None):
                if (out := self._frame(frame)) is not None:
                    yield out
        self._collect_logs()
        if self.target is not None:
            raise ResumeFailed("the video ended before the resume point")
        self._finish()

    def _frame(self, frame):
        """The Frame to yield, or None."""
        s = self.stats
        if self.at_limit:
            return None
        s.frames_decoded += 1
        index = self.counter.index_of(frame.pts)
        if frame.pts is not None:
            t = float(frame.pts * self.tb)
        else:
            t = self.prev_t + self.frame_s if self.prev_t is not None else 0.0
        if self.prev_t is not None and t < self.prev_t:
            t = self.prev_t  # never backwards; restarts were fixed on the packets
        if self.target is not None:
            if not self._reached(frame, index, t):
                s.frames_discarded += 1
            return None
        if frame.is_corrupt:
            s.corrupt_frames += 1
            self._error("corrupt frame")
        if not self.counter.by_pts and self.prev_t is not None:
            self._gap(self.prev_t, t)
        self.prev_t = t
        if self.t0 is None:
            self.t0 = t
        if self.r.max_seconds and t - self.t0 >= self.r.max_seconds:
            self.at_limit = True
            return None
        shot = self.shots.update(luma_thumbnail(frame))
        if t < self.t0 + self.next_k * self.step - 1e-6:
            return None
        self.next_k += 1
        while self.t0 + self.next_k * self.step <= t:  # variable frame rate or gaps: stay on the grid
            self.next_k += 1
        if self.orientation is None:
            self.orientation = Orientation.of(frame, self.stream)
            s.rotation, s.mirrored = self.orientation.rotation, self.orientation.mirrored
            s.pixel_aspect = self.orientation.pixel_aspect_text
            if self.orientation.unsupported:
                log.warning("%s: rotation metadata of %.0f degrees is not a multiple of 90 and is ignored",
                            self.r.path, self.orientation.unsupported)
        image = to_bgr(frame)
        s.interlaced_frames += bool(frame.interlaced_frame)
        if self.r.deinterlace == "on" or (self.r.deinterlace == "auto" and frame.interlaced_frame):
            image, _ = deinterlace(image)  # before rotation: fields are lines of the coded picture
            s.deinterlaced_frames += 1
        if self.orientation:
            image = self.orientation.apply(image)
        s.frames_sampled += 1
        self._save(index, frame.pts, t)
        return Frame(index, t, shot, image)

    def _finish(self) -> None:
        s = self.stats
        s.timestamp_jumps_fixed = self.timeline.jumps - self.jumps_before
        if self.t0 is not None and self.prev_t is not None:
            s.decoded_span_s = self.prev_t - self.t0 + self.frame_s
        if self.at_limit or self.t0 is None or not s.declared_duration_s:
            return
        if self.timeline.jumps or (self.r._before or {}).get("timestamp_jumps_fixed"):
            return  # a declared duration means nothing once timestamps restart
        last = float(self.max_pts * self.tb) if self.max_pts is not None and self.counter.by_pts else self.prev_t
        start = self.declared_start if self.declared_start is not None else self.t0
        missing = start + s.declared_duration_s - (last + self.frame_s)
        if missing > _GAP_FRAMES * self.frame_s:
            s.ended_early_s = missing
            s.seconds_lost += missing


def decode_only(path: str | os.PathLike) -> dict:
    """Decode every frame and convert none: the speed no pipeline can beat ("decode limit")."""
    import av

    container = open_video(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = nominal_fps(stream)
        started = time.perf_counter()
        n, first, last = 0, None, None
        try:
            for frame in container.decode(stream):
                n += 1
                if frame.time is not None:
                    first = frame.time if first is None else first
                    last = frame.time
        except av.error.FFmpegError:
            pass
        seconds = time.perf_counter() - started
    finally:
        container.close()
    span = (last - first + 1.0 / fps) if first is not None else n / fps
    return {"seconds": seconds, "frames": n, "video_seconds": span}
