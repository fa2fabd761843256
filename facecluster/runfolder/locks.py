"""File locks (fcntl.flock): released by the kernel when the process dies, so a killed command never
leaves a folder locked."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time
from pathlib import Path

from ..errors import OutputError

log = logging.getLogger(__name__)


def lock_path(folder: Path) -> Path:
    """The lock of OUTDIR lives beside it: PARENT/.NAME.facecluster.lock (of the real folder, so every path
    to it, symlinks included, finds the same lock)."""
    real = Path(os.path.realpath(folder))
    return real.parent / f".{real.name}.facecluster.lock"


@contextlib.contextmanager
def folder_lock(folder: Path, exclusive: bool, timeout_s: float = 60.0):
    """Hold OUTDIR's lock: shared for commands that read, exclusive for those that write. Waits up to
    timeout_s for another command. A reader on a read-only filesystem goes on without a lock (nothing can
    write there either)."""
    path = lock_path(folder)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        if not exclusive and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            yield
            return
        raise OutputError(f"cannot write in {path.parent} ({exc.strerror}); facecluster needs to write beside "
                          f"the output folder; check its permissions or choose another output folder") from None
    deadline = time.monotonic() + timeout_s
    said = False
    try:
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OutputError(f"another facecluster command is changing {folder}; wait for it to finish "
                                      f"and try again") from None
                if not said:
                    log.info("waiting for another facecluster command to finish with %s", folder)
                    said = True
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_lock(private: Path, folder: Path):
    """One `run` at a time per OUTDIR (held for the whole run; edits can still commit meanwhile)."""
    private.mkdir(parents=True, exist_ok=True)
    fd = os.open(private / "run.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"another `facecluster run` is writing {folder}; wait for it or choose another "
                              f"output folder") from None
        yield
    finally:
        os.close(fd)


def run_in_progress(private: Path) -> bool:
    """Whether a live process holds the run lock (a checkpoint without one is from a dead run)."""
    path = private / "run.lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
