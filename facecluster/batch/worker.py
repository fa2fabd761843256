"""One episode on one worker: plain Python (Ray only wraps it), so it can be tested and reused alone.

Why one thread of everything: a batch fills the cores with episodes, one task per core; an episode
that also spread its decoding, ONNX inference, OpenCV and BLAS over every core would make N tasks fight
over N cores (the same oversubscription pipeline._single_threaded_opencv avoids inside one run).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")


class _Collect(logging.Handler):
    """Warnings of the run, returned with its result (workers' logs do not reach the user's terminal)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _limit_threads() -> None:
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    import cv2

    cv2.setNumThreads(1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def check_models(config, expected: list[str]) -> None:
    """Every model file this worker would load must have a sha256 the driver expects (models.resolve has
    already checked the registry's pinned hash): a node with other files would make an archive whose
    episodes cannot be compared."""
    from .. import registry
    from ..errors import ModelError

    if not expected:
        return
    for name in registry.required_models(config):
        model = registry.resolve_model(name, config.models_dir or None)
        if model.sha256 not in expected:
            raise ModelError(f"model {name} on {socket.gethostname()} ({model.path}) has sha256 "
                             f"{model.sha256[:16]}..., not the file the batch was started with; give every worker "
                             f"the same model files (FACECLUSTER_MODELS)")


def process_episode(job: dict) -> dict:
    """job: name, video, outdir, config (dict), library (path or None), models (expected sha256s).
    Returns the episode's result row; never raises for a problem of the episode itself."""
    from ..config import build_config
    from ..errors import FaceclusterError

    started = time.perf_counter()
    collect = _Collect()
    logger = logging.getLogger("facecluster")
    logger.addHandler(collect)
    if logger.level == logging.NOTSET or logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)
    row = {"name": job["name"], "host": socket.gethostname(), "pid": os.getpid()}
    try:
        _limit_threads()
        from ..pipeline import run
        from ..video import probe

        config = build_config(base=job["config"], overrides={"workers": 1})
        probe(Path(job["video"]))  # a bad file fails here, before its folder is made
        check_models(config, job.get("models") or [])
        library = None
        if job.get("library"):
            from ..library import Library

            library = Library.open(job["library"], readonly=True)
        try:
            result = run(job["video"], config, output_dir=job["outdir"], library=library)
        finally:
            if library is not None:
                library.close()
        m = result.manifest
        row.update(status="done", people=len(result.people),
                   named_by_library=sum(p.get("name_source") == "library" for p in result.people),
                   suggested_by_library=sum(bool(p.get("library_suggestion")) for p in result.people),
                   named=sum(bool(p.get("name")) for p in result.people),
                   resumed_frames=int(m.get("resumed_frames") or 0), speed_x_realtime=m.get("speed_x_realtime"),
                   generation=m.get("generation"))
    except FaceclusterError as exc:
        row.update(status="failed", reason=str(exc), error=type(exc).__name__, exit_code=exc.exit_code)
    except Exception as exc:  # a bug: the episode fails alone, with what is needed to report it
        row.update(status="failed", reason=f"internal error ({type(exc).__name__}: {exc}); please report it",
                   error=type(exc).__name__, exit_code=1, traceback=traceback.format_exc(limit=8))
    finally:
        logger.removeHandler(collect)
    row["wall_s"] = round(time.perf_counter() - started, 2)
    if collect.messages:
        row["warnings"] = collect.messages[-20:]
    return row
