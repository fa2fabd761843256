"""Model calls in helper processes, for backends whose Python bindings keep the GIL while they compute.

dlib's ResNet keeps it for ~120 ms a face: in one process the frame workers and the decoder stalled
behind every embedding call (builtin profile, 2-minute clip: 44 s wall, 60 of the 88 CPU-seconds two
cores offer). The helpers are spawned, never forked (the run has threads), load the model once, ignore
the terminal's signals (the parent handles them and ends its helpers), end by themselves when the parent
is gone, and a call's items are split between them in order.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import weakref
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

import numpy as np

from ..errors import ModelError

_model = None  # in a helper: what `load` returned


def _start(load: Callable, args: tuple) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    threading.Thread(target=_end_with_parent, args=(os.getppid(),), daemon=True).start()
    global _model
    _model = load(*args)


def _end_with_parent(parent: int) -> None:
    """A parent killed outright (SIGKILL, out of memory) never closes the helpers' queue: each helper holds
    the queue's write end itself, so it would wait forever."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _ready() -> bool:
    return True


def _call(fn: Callable, items: np.ndarray) -> np.ndarray:
    return fn(_model, items)


class HelperProcesses:
    """`processes` helpers, each holding load(*args); map(fn, items) = concatenated fn(model, part)."""

    def __init__(self, processes: int, load: Callable, args: tuple, what: str):
        self.processes, self.what = processes, what
        self._pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start, initargs=(load, args))
        self._closer = weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
        for _ in range(processes):  # start them now, beside the rest of the run's start-up
            self._pool.submit(_ready)

    def map(self, fn: Callable, items: np.ndarray) -> np.ndarray:
        parts = [p for p in np.array_split(items, min(self.processes, max(len(items), 1))) if len(p)]
        try:
            futures = [self._pool.submit(_call, fn, p) for p in parts]
            return np.concatenate([f.result() for f in futures])
        except BrokenProcessPool:
            raise ModelError(f"a helper process computing {self.what} stopped (out of memory?); run the "
                             f"command again") from None

    def close(self) -> None:
        """End the helpers and wait for them (dropping the object ends them without waiting)."""
        self._closer.detach()
        self._pool.shutdown(wait=True, cancel_futures=True)
