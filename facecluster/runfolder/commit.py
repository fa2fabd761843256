"""Replace a set of files in OUTDIR all at once or not at all, surviving a crash at any point.

A commit (1) writes every new file into .facecluster/staging-G/ and flushes it to disk, (2) writes
.facecluster/journal.json naming every move (staged file -> OUTDIR/name, old file or folder -> trash),
(3) performs the moves and (4) deletes the journal, the staging and the trash. A crash before (2) leaves
OUTDIR as it was (the staging is garbage, removed later); a crash after (2) is rolled forward by the next
command that takes the folder's lock (`recover`), so readers, who also take the lock, only ever see one
complete result set. Staging inside OUTDIR keeps every rename on one filesystem, even when OUTDIR is a
symlink to another disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import threading
from pathlib import Path

from ..errors import OutputError
from .layout import JOURNAL, MANIFEST

log = logging.getLogger(__name__)
OURS = re.compile(r"(faces|bodies|persons)/\d+\.jpg")  # thumbnails facecluster writes (persons/: 0.1)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:  # plain open: the user's umask decides the mode, as for any file they make
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _space_error(folder: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write the results into {folder} ({exc.strerror}); nothing was changed. Free some "
                       f"space or fix the permissions and run the command again")


def commit(folder: Path, private: Path, generation: int, files: dict[str, bytes], moves: dict[str, Path],
           remove: list[str]) -> None:
    """files: name -> new content; moves: name -> an existing file or folder under OUTDIR to move there
    (e.g. the checkpoint's database and thumbnails); remove: names to take away (stale exports)."""
    stage = private / f"staging-{generation}"
    trash = private / f"trash-{generation}"
    try:
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        for name, data in files.items():
            _write(stage / name, data)
        _fsync_dir(stage)
        plan = [[str((stage / name).relative_to(folder)), name] for name in files]
        plan += [[str(Path(src).relative_to(folder)), name] for name, src in moves.items()]
        plan += [[None, name] for name in remove if (folder / name).exists()]
        plan.sort(key=lambda move: move[1] == MANIFEST)  # the manifest, facecluster's marker, moves last
        journal = {"generation": generation, "moves": plan, "stage": str(stage.relative_to(folder)),
                   "trash": str(trash.relative_to(folder))}
        tmp = private / (JOURNAL + ".tmp")
        _write(tmp, json.dumps(journal).encode())
        os.replace(tmp, private / JOURNAL)
        _fsync_dir(private)
    except OSError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        with contextlib.suppress(OSError):
            (private / (JOURNAL + ".tmp")).unlink(missing_ok=True)
        raise _space_error(folder, exc) from None
    apply(folder, private)


def _inside(name) -> str:
    """A journal path must stay inside OUTDIR (a hand-edited journal must not move other files)."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise ValueError(f"not a path inside the output folder: {name!r}")
    return name


@contextlib.contextmanager
def _signals_deferred():
    """Ctrl-C, SIGTERM or SIGHUP arriving during the moves (milliseconds) take effect right after them, so
    the folder is never left between two result sets by a signal (a crash is: the journal rolls it forward)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signum = getattr(signal, name)
            previous[signum] = signal.signal(signum, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught:
            signal.raise_signal(caught[0])


def _keep_user_files(old: Path, new: Path) -> None:
    """Files a user put inside a result folder (e.g. thumbs/) move into its replacement: only what
    facecluster wrote there (OURS) is replaced."""
    for path in sorted(old.rglob("*")):
        rel = path.relative_to(old)
        if path.is_file() and not OURS.fullmatch(rel.as_posix()) and not (new / rel).exists():
            (new / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, new / rel)


def apply(folder: Path, private: Path) -> bool:
    """Roll a journaled commit forward (idempotent); returns whether there was one."""
    path = private / JOURNAL
    if not path.exists():
        return False
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
        moves = journal["moves"]
        trash = folder / _inside(journal["trash"])
        stage = folder / _inside(journal["stage"])
        moves = [(_inside(src) if src is not None else None, _inside(dst)) for src, dst in moves]
    except (OSError, ValueError, KeyError, TypeError):
        raise OutputError(f"{path} is damaged, so an interrupted commit cannot be completed; delete that file and "
                          f"run `facecluster recluster {folder}` to write the results again") from None
    with _signals_deferred():
        for k, (src, dst) in enumerate(moves):
            source = folder / src if src else None
            target = folder / dst
            if source is not None and not source.exists():
                continue  # moved before the interruption
            if target.exists() and (source is None or target.is_dir()):
                if source is not None and target.is_dir():
                    _keep_user_files(target, source)
                trash.mkdir(parents=True, exist_ok=True)
                os.replace(target, trash / f"{k}-{target.name}")
            if source is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
        _fsync_dir(folder)
        path.unlink()
        _fsync_dir(private)
    shutil.rmtree(stage, ignore_errors=True)
    shutil.rmtree(trash, ignore_errors=True)
    return True


def recover(folder: Path, private: Path) -> None:
    """Finish an interrupted commit, drop the garbage of one interrupted before its journal (call with the
    folder's exclusive lock held)."""
    if not private.is_dir():
        return
    try:
        if apply(folder, private):
            log.info("%s: completed a commit that had been interrupted", folder)
        for stale in list(private.glob("staging-*")) + list(private.glob("trash-*")):
            shutil.rmtree(stale, ignore_errors=True)
        if (private / (JOURNAL + ".tmp")).exists():  # unlink of a missing file fails on a read-only folder too
            (private / (JOURNAL + ".tmp")).unlink()
    except OSError as exc:
        raise OutputError(f"cannot finish an interrupted commit in {folder} ({exc.strerror}); make the folder "
                          f"writable and run the command again") from None
