"""Model calls in helper processes, for backends whose Python bindings keep the GIL while they compute.

dlib's ResNet keeps it for ~120 ms a face: in one process the frame workers and the decoder stalled
behind every embedding call (builtin profile, 2-minute clip: 44 s wall, 60 of the 88 CPU-seconds two
cores offer). Each helper is `python -m facecluster.embed.helpers` with pipes for stdin and stdout (not
multiprocessing: its spawn re-runs the caller's main script, which breaks scripts without a __main__
guard). A helper loads the model once, answers arrays with arrays, ignores the terminal's Ctrl-C and
hang-up (the parent handles them and ends its helpers) and ends when its stdin closes, which includes
the parent being killed outright. A call's items are split between the helpers in order.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import signal
import struct
import subprocess
import sys
import weakref

import numpy as np

from ..errors import ModelError

_LENGTH = struct.Struct("<Q")


def _send(stream, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    data = buf.getvalue()
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream) -> np.ndarray | None:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return np.load(io.BytesIO(data), allow_pickle=False)


class HelperProcesses:
    """`processes` helpers, each holding module.load(*args); map(items) = concatenated module.fn(model, part)."""

    def __init__(self, processes: int, module: str, load: str, fn: str, args: list, what: str):
        self.what = what
        command = [sys.executable, "-m", __name__, module, load, fn, json.dumps(args)]
        self._procs = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                       for _ in range(processes)]
        self._closer = weakref.finalize(self, _end, self._procs)

    def map(self, items: np.ndarray) -> np.ndarray:
        parts = [p for p in np.array_split(items, min(len(self._procs), max(len(items), 1))) if len(p)]
        try:
            for proc, part in zip(self._procs, parts):
                _send(proc.stdin, part)
            results = [_receive(proc.stdout) for proc, _ in zip(self._procs, parts)]
        except (OSError, ValueError):  # a pipe closed by a helper that died
            results = [None]
        if any(r is None for r in results):
            raise ModelError(f"a helper process computing {self.what} stopped (out of memory?); run the "
                             f"command again")
        return np.concatenate(results)

    def close(self) -> None:
        """End the helpers and wait for them (dropping the object does the same)."""
        self._closer()


def _end(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        try:
            proc.stdin.close()  # the helper's signal to end
        except OSError:
            pass
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def main(argv: list[str]) -> None:
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    module_name, load, fn, args = argv
    source, sink = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything the imports or the model print goes to stderr, not into the answers
    module = importlib.import_module(module_name)
    model = getattr(module, load)(*json.loads(args))
    call = getattr(module, fn)
    while (items := _receive(source)) is not None:
        _send(sink, call(model, items))


if __name__ == "__main__":
    main(sys.argv[1:])
