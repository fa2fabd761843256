"""What a read decoded and lost, and the rule that turns losses into a warning or an error.

The seconds of video lost are the gaps in the packet timeline next to a decoder error, one frame per packet
that failed to decode, and the time between the last frame and the declared end. Up to 10% of the declared
duration plus 1 s (a few frames of slack for short clips) is a warning naming the seconds lost: most of the
video is there and its people are found, so stopping would throw away a useful result (a 120 s file cut at
92% loses ~9.6 s: a warning). Past that the results would misrepresent the video (people seen only in the
lost part are missing, screen times are wrong): an InputError saying to re-copy or re-encode the file.
Decoder errors that lose less than 0.5 s (e.g. a broadcast recording starting between keyframes) warn only
from 10 errors on; fewer are logged at INFO.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass

from ..errors import InputError

log = logging.getLogger("facecluster.video")

LOST_FRACTION, LOST_SLACK_S = 0.10, 1.0  # error past 10% of the duration + 1 s lost
WARN_LOST_S, WARN_ERRORS = 0.5, 10


@dataclass
class DecodeStats:
    """What one read did. Counters (ADDITIVE) cover this read only, so that a resumed run adds them to the
    interrupted run's (`combined`); the other fields describe the whole video as seen at the end."""

    frames_decoded: int = 0  # pictures out of the decoder, including those decoded again to resume
    frames_sampled: int = 0
    packets: int = 0  # video packets read (one per frame in nearly every file)
    decode_errors: int = 0  # packets that failed, corrupt packets/frames, FFmpeg error messages
    corrupt_frames: int = 0
    seconds_lost: float = 0.0  # gaps next to errors + failed packets + ended_early_s
    timestamp_jumps_fixed: int = 0
    frames_discarded: int = 0  # decoded again to reach the resume point
    interlaced_frames: int = 0  # sampled frames the stream marks as interlaced
    deinterlaced_frames: int = 0  # sampled frames repaired (deinterlace.py), by the `deinterlace` setting
    seconds: float = 0.0  # wall time spent reading
    first_error: str = ""
    ended_early_s: float = 0.0  # the stream stopped this long before its declared end
    declared_duration_s: float = 0.0
    decoded_span_s: float = 0.0  # first to last decoded frame of the whole video, one frame included
    rotation: int = 0  # clockwise degrees applied to the pictures
    mirrored: bool = False
    pixel_aspect: str = ""  # "64:45": the stream's pixels were not square and were stretched square
    skip_between_samples: str = "nonref"
    resumed: str = ""  # "", "seek", "scan" (packets read from the start, decoded from a keyframe), "start"
    resume_note: str = ""  # why a resume did not seek

    ADDITIVE = ("frames_decoded", "frames_sampled", "packets", "decode_errors", "corrupt_frames", "seconds_lost",
                "timestamp_jumps_fixed", "frames_discarded", "interlaced_frames", "deinterlaced_frames", "seconds")

    def to_dict(self) -> dict:
        return asdict(self)

    def combined(self, before: dict | None) -> dict:
        """This read's statistics added to those of the reads before it (a dict from to_dict or combined)."""
        out = self.to_dict()
        for k, v in (before or {}).items():
            if k in self.ADDITIVE:
                out[k] += v
            elif k == "first_error" and v:
                out[k] = v
        return out


_log_lock = threading.Lock()
_log_users = 0
_log_level_before = None  # the level the first of the reads open at once found, restored by the last one


class CapturedErrors:
    """FFmpeg's error messages during a read (PyAV keeps libav logging off by default): counted as decoder
    errors instead of being printed. Turned on for the read only."""

    def __enter__(self):
        import av.logging

        global _log_users, _log_level_before
        with _log_lock:
            if _log_users == 0:
                _log_level_before = av.logging.get_level()
                av.logging.set_level(av.logging.ERROR)
            _log_users += 1
        self._capture = av.logging.Capture(local=False)
        self.logs = self._capture.__enter__()
        return self

    def take(self) -> list[str]:
        if not self.logs:
            return []
        out = [f"{name}: {' '.join(text.split())}" for level, name, text in self.logs if level <= 16]  # AV_LOG_ERROR
        self.logs.clear()
        return out

    def __exit__(self, *exc):
        import av.logging

        global _log_users
        self._capture.__exit__(*exc)
        with _log_lock:
            _log_users -= 1
            if _log_users == 0:  # reads may end in another order than they began
                av.logging.set_level(_log_level_before)



def judge(path, s: DecodeStats, before: dict | None) -> None:
    """Warning or InputError from what was lost in a whole read (this one and `before`), by the rule above."""
    total = s.combined(before)
    if total["frames_decoded"] == 0:
        raise InputError(f"{path} contains no decodable video frames")
    lost, errors, first = total["seconds_lost"], total["decode_errors"], total["first_error"]
    duration = s.declared_duration_s or (s.decoded_span_s + lost)
    what = f"{errors} decoder error{'s' * (errors != 1)}" + (f", first: {first}" if first else "")
    why = "; ".join(([f"{s.ended_early_s:.1f} s missing at the end"] if s.ended_early_s else []) + [what])
    if lost > LOST_FRACTION * duration + LOST_SLACK_S:
        raise InputError(f"{path} is damaged or truncated: {lost:.1f} s of its {duration:.1f} s could not be "
                         f"decoded ({why}); re-copy or re-encode the file")
    if lost >= WARN_LOST_S or errors >= WARN_ERRORS:
        log.warning("%s: %.1f s of %.1f s could not be decoded (%s); that part is not analysed. Re-copy or "
                    "re-encode the file to include it", path, lost, duration, why)
    elif errors:
        log.info("%s: %s, %.1f s lost", path, what, lost)
    if total["timestamp_jumps_fixed"]:
        log.info("%s: timestamps restart %d time(s); read as one continuous timeline", path,
                 total["timestamp_jumps_fixed"])
