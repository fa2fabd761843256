"""run(video, config) -> Result: extract (decode, detect, embed, track, make units; checkpointed and
resumable), group the units into people (with the user's corrections kept in OUTDIR), commit the results.
This module wires the stages; each stage lives in its own module."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import platform
import sqlite3
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from . import __version__
from .config import Config, option_table
from .errors import InputError
from .errors import OutputError
from .extract import Backends, Extractor, worker_count
from .people import summarize_people
from .results.state import Regrouped, analysed_seconds, regroup, result_set
from .runfolder import Extraction, RunFolder, read_extraction
from .runfolder.layout import EXTRACTION, THUMBS
from .onnx import runtime_info
from .table import RunTable
from .video import VideoInfo, VideoReader, probe

log = logging.getLogger(__name__)
Hook = Callable[..., None]  # hook(step, completed=None, total=None)
EXTRACT_OPTIONS = tuple(f.name for f in option_table(("extract",)))


def _no_hook(step, completed=None, total=None):
    pass


@contextlib.contextmanager
def _single_threaded_opencv():
    """Decoding and the frame workers already fill the cores; OpenCV's own thread pool on top of them
    oversubscribes (measured 4.9x -> 5.9x real time with it off). The caller's setting is restored."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


@contextlib.contextmanager
def _output_errors(folder: Path):
    """A full disk or a folder that turned read-only while the run writes its checkpoint or thumbnails is
    one line (the results in the folder are untouched until the commit), not a traceback."""
    try:
        yield
    except sqlite3.Error as exc:
        raise OutputError(f"cannot write the run's checkpoint in {folder} ({exc}); the results there are "
                          f"unchanged. Free some space or fix the permissions and run the command again") from None
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
                             errno.EFBIG):
            raise
        raise OutputError(f"cannot write into {folder} ({exc.strerror}); the results there are unchanged. Free "
                          f"some space or fix the permissions and run the command again") from None


@dataclass
class Result:
    video: VideoInfo
    config: Config
    table: RunTable  # every face and body detection, with person ids
    spaces: dict  # "face" / "clothing" -> (detection ids, vectors)
    people: list[dict]
    manifest: dict
    output_dir: Path | None = None

    @property
    def n_people(self) -> int:
        return len(self.people)

    @property
    def detections(self) -> dict[str, np.ndarray]:
        return self.table.columns()

    @property
    def embeddings(self) -> np.ndarray:
        """Face vectors in the order of the face rows."""
        return self.spaces["face"][1]


def video_identity(path: Path) -> dict:
    """Size plus hashes of the first and last MiB: the same file copied elsewhere is the same video, a
    re-encoded or truncated one is not (hashing a whole episode would cost as much as decoding it)."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        digest.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), 2)
            digest.update(fh.read(1 << 20))
    return {"bytes": size, "sha256_head_tail": digest.hexdigest()}


def fingerprint(identity: dict, config: Config, models: list[dict]) -> str:
    """What decides the extraction: the video, every extraction option and the model files. Runs with
    the same fingerprint extract the same detections, so a checkpoint can be resumed and edits keep
    their unit ids."""
    data = {"format": 2, "video": identity, "options": {k: getattr(config, k) for k in EXTRACT_OPTIONS},
            "models": sorted(m["sha256"] for m in models)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


def run(video, config: Config | None = None, output_dir=None, hook: Hook | None = None, library=None) -> Result:
    """Group the people in `video`. With `output_dir`, the run is checkpointed there as it goes, resumed
    if an earlier run of the same video and settings was interrupted, and committed atomically. With a
    people `library` (facecluster.library.Library), the people it recognises are named."""
    config = config or Config()
    hook = hook or _no_hook
    started = time.perf_counter()
    video = Path(video)
    folder = RunFolder(output_dir) if output_dir is not None else None
    info = probe(video)
    with _single_threaded_opencv():
        workers = worker_count(config)
        backends = Backends.build(config, embed_processes=workers)
        extractor = Extractor(config, backends, workers)
        if folder is not None:  # after the video and the models are found: a failed start leaves no new folder
            folder.prepare_for_run()
            folder.check_edits_file()
        models = backends.models(extractor.frame_models)
        identity = video_identity(video)
        fp = fingerprint(identity, config, models)
        meta = {"run_id": uuid.uuid4().hex, "fingerprint": fp, "version": __version__,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "video": {**info.to_dict(), "path": str(video.resolve()), **identity},
                "config": config.to_dict(), "models": models,
                "backends": {"face_detector": config.face_detector, "face_embedder": config.face_embedder,
                             "body_detector": config.body_detector or None,
                             "clothing_embedder": config.clothing_embedder or None, "upscale": config.upscale or None,
                             "runtime": runtime_info(config.runtime, config.device, config.precision)},
                "face_prior": backends.face_embedder.SAME_PERSON_DISTANCE,
                "clothing_prior": backends.clothing.SAME_PERSON_DISTANCE if backends.clothing else None,
                "spaces": {"face": backends.face_embedder.DIM,
                           **({"clothing": backends.clothing.DIM} if backends.clothing else {})}}
        total = int(np.ceil((config.max_seconds or info.duration_s) * config.fps)) if info.duration_s else None
        if folder is None:
            extracted = extractor.run(_video_reader(video, config), hook, total)
            return _finish_in_memory(video, info, config, meta, extracted, started, library)
        with folder.running(), _output_errors(folder.path):
            writer, state = folder.open_checkpoint(fp, meta)
            meta = writer.meta()  # a resumed run keeps its run id
            previous = read_extraction(folder.checkpoint / EXTRACTION, partial=True) if state else None
            if state:
                log.info("%s: continuing an interrupted run from %d sampled frames", folder.path,
                         len(previous.frames))
            if state and state.get("complete"):
                writer.close()
                extracted = _stored_extraction(folder.checkpoint / EXTRACTION)
                meta = extracted.meta
            else:
                extracted = _extract(extractor, writer, folder, state, previous, video, config, hook, total)
                meta.update({"decode": extracted.decode, "timings": extracted.timings,
                             "counts": _counts(extracted), "complete": True})
                meta.pop("checkpoint", None)
            extraction = Extraction(extracted.table, extracted.spaces, extracted.frames, meta)
            hook("group")
            with folder.writing():
                edits = folder.load_edits()
                t = time.perf_counter()
                regrouped = regroup(extraction, config, edits, library)
                timings = {**extracted.timings, "group": time.perf_counter() - t}
                manifest = _manifest(meta, config, extracted, timings, started)
                if edits:
                    log.info("re-applied %d correction(s) from edits.json", len(edits))
                hook("write")
                results = result_set(extraction, config, regrouped, manifest, folder.path, edits,
                                     new_extraction=folder.checkpoint / EXTRACTION,
                                     new_thumbs=folder.checkpoint / THUMBS)
                manifest = folder.commit(results)
            folder.discard_checkpoint()
    log.info("%s: %d people from %d detections in %d sampled frames", video, len(results.people),
             len(results.table), len(extracted.frames))
    return Result(info, config, results.table, extracted.spaces, results.people, manifest, folder.path)


def _extract(extractor, writer, folder, state, previous, video, config, hook, total):
    """Extraction into the checkpoint database, finished (tracks, units, meta) when it ends."""
    extractor.start(writer, folder.checkpoint / THUMBS, state, previous)
    reader = _video_reader(video, config, resume=state["reader"] if state else None)
    try:
        extracted = extractor.run(reader, hook, total)
        writer.finish(extracted.table.track_id, extracted.table.unit_id,
                      {"face_detection_id": extracted.table.face_detection_id,
                       "body_detection_id": extracted.table.body_detection_id},
                      {"decode": extracted.decode, "timings": extracted.timings, "counts": _counts(extracted),
                       "complete": True})
    except InputError:
        folder.discard_checkpoint()  # a video that cannot be read has nothing to continue from
        raise
    finally:
        writer.close()
    return extracted


def _video_reader(video: Path, config: Config, resume: dict | None = None) -> VideoReader:
    """The run's reader. One decoder thread when the models run on the CPU: every core has inference work, and
    one thread decodes with the least CPU (5.8 against 7.7 CPU seconds for a 2-minute 720p clip); FFmpeg's own
    threads with a GPU."""
    from .onnx import providers_for

    threads = 0 if providers_for(config.device)[0] == "CUDAExecutionProvider" else 1
    return VideoReader(video, config.fps, config.shot_threshold, config.max_seconds, resume=resume, threads=threads,
                       deinterlace=config.deinterlace)


def _stored_extraction(path):
    """The finished extraction of an interrupted run (it stopped while grouping or committing)."""
    from .extract import Extracted

    ext = read_extraction(path)
    log.info("%s: the interrupted run had finished extracting; grouping its %d sampled frames", path.parent.parent,
             len(ext.frames))
    extracted = Extracted(ext.table, ext.spaces, ext.frames, ext.meta.get("decode") or {},
                          ext.meta.get("timings") or {}, resumed_frames=len(ext.frames))
    extracted.meta = ext.meta
    return extracted


def _counts(extracted) -> dict:
    table = extracted.table
    return {"sampled_frames": int(len(extracted.frames)),
            "shots": int(extracted.frames[:, 2].max() + 1) if len(extracted.frames) else 0,
            "face_detections": int(table.is_face.sum()), "body_detections": int(table.is_body.sum()),
            "tracks": int(len(np.unique(table.track_id))), "units": int(table.n_units),
            "resumed_frames": int(extracted.resumed_frames)}


def _manifest(meta: dict, config: Config, extracted, timings: dict, started: float) -> dict:
    video = meta["video"]
    wall = time.perf_counter() - started
    seconds = (config.max_seconds and min(config.max_seconds, video["duration_s"])) or video["duration_s"]
    return {"version": __version__, "created": meta["created"], "python": platform.python_version(),
            "input": video, "config": config.to_dict(), "backends": meta["backends"], "models": meta["models"],
            "counts": _counts(extracted), "decode": extracted.decode,
            "timings_s": {k: round(v, 3) for k, v in timings.items()} | {"total": round(wall, 3)},
            "speed_x_realtime": round(seconds / wall, 2) if wall > 0 and seconds else None,
            "resumed_frames": int(extracted.resumed_frames)}


def _finish_in_memory(video: Path, info: VideoInfo, config: Config, meta: dict, extracted, started,
                      library=None) -> Result:
    extraction = Extraction(extracted.table, extracted.spaces, extracted.frames, meta)
    regrouped: Regrouped = regroup(extraction, config, [], library)
    table = extracted.table.replace(person_id=regrouped.unit_person[extracted.table.unit_id]
                                    if len(extracted.table) else extracted.table.person_id)
    people = summarize_people(table, regrouped.unit_person, extracted.spaces.get("face"), config.fps,
                              analysed_seconds(extraction, config), regrouped.names, regrouped.name_sources)
    if regrouped.info.get("library"):
        from .library import annotate

        annotate(people, regrouped.info)
    manifest = _manifest(meta, config, extracted, extracted.timings, started)
    manifest["grouping"] = regrouped.info
    return Result(info, config, table, extracted.spaces, people, manifest, None)
