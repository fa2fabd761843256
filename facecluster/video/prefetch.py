"""Decoding in a background thread while the caller detects and embeds."""

from __future__ import annotations

import queue
import threading
import time
from typing import Iterator

from ..types import Frame

_DONE = object()


def prefetch(frames: Iterator[Frame], depth: int = 3, timings: dict | None = None) -> Iterator[Frame]:
    """Decode in a background thread while the caller detects and embeds (both release the GIL), so
    the two cores are busy at once. Errors from decoding are re-raised in the caller's thread.
    The thread's own decoding time is added to timings["decode"]."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    timings = timings if timings is not None else {}
    timings.setdefault("decode", 0.0)

    def produce():
        try:
            started = time.perf_counter()
            for frame in frames:
                timings["decode"] += time.perf_counter() - started
                while not stop.is_set():
                    try:
                        q.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
                started = time.perf_counter()
            timings["decode"] += time.perf_counter() - started
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            q.put(exc)

    thread = threading.Thread(target=produce, name="facecluster-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
        if not thread.is_alive():
            frames.close()
