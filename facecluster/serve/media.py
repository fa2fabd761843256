"""The run's video for the review app: the file itself (the browser plays it; Range requests are served
by the framework), and single frames decoded on demand for when the browser cannot play it (an AVI, an
MPEG-4 part 2 or HEVC file...). Frames are decoded with PyAV, turned upright like the run saw them, scaled
to a strip size and kept in a small in-memory cache (nothing is written into OUTDIR)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

from ..errors import InputError

log = logging.getLogger(__name__)
FRAME_WIDTH = 320
CACHE_FRAMES = 256
MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
        ".mkv": "video/x-matroska", ".ogv": "video/ogg", ".avi": "video/x-msvideo", ".gif": "image/gif"}


def video_mime(path: Path) -> str:
    return MIME.get(path.suffix.lower(), "application/octet-stream")


class FrameSource:
    """JPEG frames of one video by time, cached (LRU)."""

    def __init__(self, path: Path | None, width: int = FRAME_WIDTH, capacity: int = CACHE_FRAMES):
        self.path = path
        self.width = width
        self.capacity = capacity
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def jpeg(self, ms: int) -> bytes:
        """The frame shown at `ms` milliseconds (the last one at or before it), as JPEG."""
        with self._lock:
            if ms in self._cache:
                self._cache.move_to_end(ms)
                return self._cache[ms]
        data = self._decode(ms / 1000.0)
        with self._lock:
            self._cache[ms] = data
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return data

    def _decode(self, t: float) -> bytes:
        import av
        import cv2

        from ..video import Orientation, open_video

        if self.path is None or not self.path.is_file():
            raise InputError("the run's video is not available; start `facecluster serve` with --video PATH")
        container = open_video(self.path)
        try:
            stream = container.streams.video[0]
            tb = float(stream.time_base or 1e-6)
            start = float(stream.start_time * tb) if stream.start_time is not None else 0.0
            try:
                container.seek(int(max(0.0, t + start - 0.001) / tb), stream=stream, backward=True)
            except av.error.FFmpegError:
                container.seek(0, stream=stream)
            chosen = None
            for frame in container.decode(stream):
                ft = (frame.time or 0.0) - start
                if chosen is not None and ft > t + 1e-3:
                    break
                chosen = frame
                if ft >= t - 1e-3:
                    break
            if chosen is None:
                raise InputError(f"no frame at {t:.2f} s in {self.path}")
            image = Orientation.of(chosen, stream).apply(chosen.to_ndarray(format="bgr24"))
        except av.error.FFmpegError as exc:
            raise InputError(f"cannot decode {self.path} at {t:.2f} s ({exc})") from None
        finally:
            container.close()
        h, w = image.shape[:2]
        if w > self.width:
            image = cv2.resize(image, (self.width, max(1, round(h * self.width / w))), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 82])
        return buf.tobytes()
