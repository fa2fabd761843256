"""run(video, config) -> Result: sample frames, detect and embed faces (and persons and clothing), track,
group into people, write outputs."""

from __future__ import annotations

import contextlib
import logging
import math
import platform
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from . import __version__, fusion, store
from .analyze import FrameAnalyzer
from .config import Config
from .people import summarize_people
from .report import write_report
from .results import write_people_csv
from .track import Tracker
from .video import VideoInfo, prefetch, probe, sample_frames

log = logging.getLogger("facecluster")
Hook = Callable[..., None]  # hook(step, completed=None, total=None)
LINK_COLUMNS = ["face_detection_id", "person_detection_id"]
_FLOAT_COLUMNS = ("time_s", "x1", "y1", "x2", "y2", "score")
_PERSON_TRACK_OFFSET = 10 ** 9  # person tracker ids live apart from face tracker ids until units are joined


def _no_hook(step, completed=None, total=None):
    pass


@contextlib.contextmanager
def _single_threaded_opencv():
    """Decoding already runs beside inference; OpenCV's own thread pool on top of that oversubscribes the
    cores (measured 4.9x -> 5.9x real time with it off). The caller's setting is restored afterwards."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


@dataclass
class Result:
    video: VideoInfo
    config: Config
    detections: dict[str, np.ndarray]  # column -> array: the rows of detections.csv
    embeddings: np.ndarray  # (F, D) face embeddings, in the order of the face rows
    people: list[dict]
    manifest: dict
    output_dir: Path | None = None
    clothing: np.ndarray | None = None  # (N, C) clothing vectors of the rows in `clothing_ids`
    clothing_ids: np.ndarray | None = None

    @property
    def n_people(self) -> int:
        return len(self.people)


@dataclass
class _Collected:
    rows: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    face_ids: list[int] = field(default_factory=list)
    face_vectors: list[np.ndarray] = field(default_factory=list)
    clothing_ids: list[int] = field(default_factory=list)
    clothing_vectors: list[np.ndarray] = field(default_factory=list)
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (face row, person row) seen together
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    frames: int = 0
    shots: int = 0
    sampled: list[int] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return len(self.rows["detection_id"])


def crop_thumbnail(image: np.ndarray, box, size: int, aspect: float = 1.0) -> np.ndarray:
    """Crop around a box with a margin, padded at the border, resized to size x (size * aspect) (w x h)."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = 1.4 * max(x2 - x1, (y2 - y1) / aspect, 1)
    s = size / side
    m = np.float32([[s, 0, size / 2 - cx * s], [0, s, size * aspect / 2 - cy * s]])
    return cv2.warpAffine(image, m, (size, round(size * aspect)), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)


class _Trackers:
    def __init__(self, config: Config, face_distance: float, clothing_distance: float | None):
        self.faces = Tracker(config.track_max_distance or face_distance, config.track_iou)
        # without clothing vectors, bodies are linked by box overlap alone (embedding distance 1 < 1.5 x 0.7)
        self.persons = Tracker(clothing_distance or 0.7, config.track_iou)


def _process_frames(video, info, config, analyzer, trackers, thumbs_dir, hook) -> _Collected:
    out = _Collected()
    total = max(1, math.ceil((config.max_seconds or info.duration_s) * config.fps)) if info.duration_s else None
    frames = prefetch(sample_frames(video, config.fps, config.shot_threshold, config.max_seconds, info),
                      timings=out.timings)
    t = time.perf_counter()
    for frame in frames:
        now = time.perf_counter()
        out.timings["decode_wait"] += now - t
        a = analyzer.analyze(frame.image)
        t = time.perf_counter()
        _record(out, frame, a, trackers)
        if thumbs_dir is not None:
            _write_thumbs(thumbs_dir, frame.image, a, out.n_rows - len(a.faces) - len(a.persons), config.thumb_size)
        out.frames += 1
        out.shots = frame.shot + 1
        out.sampled.append(frame.index)
        out.timings["track+thumbs"] += time.perf_counter() - t
        hook("frames", completed=out.frames, total=max(total or 0, out.frames))
        t = time.perf_counter()
    for stage, seconds in analyzer.timings.items():
        out.timings[stage] += seconds
    return out


def _record(out: _Collected, frame, a, trackers: _Trackers) -> None:
    first = out.n_rows
    n_f, n_p = len(a.faces), len(a.persons)
    face_ids = np.arange(first, first + n_f)
    person_ids = np.arange(first + n_f, first + n_f + n_p)
    face_tracks = trackers.faces.update(frame.shot, a.faces.boxes, a.face_embeddings, face_ids)
    features = a.person_clothing if a.person_clothing is not None else np.zeros((n_p, 1), np.float32)
    person_tracks = trackers.persons.update(frame.shot, a.persons.boxes, features, person_ids) + _PERSON_TRACK_OFFSET
    linked = np.flatnonzero(a.face_person >= 0)
    face_link = np.full(n_f, -1)
    face_link[linked] = person_ids[a.face_person[linked]]
    person_link = np.full(n_p, -1)
    person_link[a.face_person[linked]] = face_ids[linked]
    out.pairs += [(int(f), int(face_link[f - first])) for f in face_ids[linked]]
    r = out.rows
    for kind, ids, dets, tracks, f_link, p_link in (
            ("face", face_ids, a.faces, face_tracks, np.full(n_f, -1), face_link),
            ("person", person_ids, a.persons, person_tracks, person_link, np.full(n_p, -1))):
        r["detection_id"] += ids.tolist()
        r["frame_index"] += [frame.index] * len(ids)
        r["time_s"] += [frame.time_s] * len(ids)
        r["kind"] += [kind] * len(ids)
        for k, col in enumerate(("x1", "y1", "x2", "y2")):
            r[col] += dets.boxes[:, k].tolist()
        r["score"] += dets.scores.tolist()
        r["track_id"] += tracks.tolist()
        r["face_detection_id"] += f_link.tolist()
        r["person_detection_id"] += p_link.tolist()
        r["shot"] += [frame.shot] * len(ids)
    out.face_ids += face_ids.tolist()
    out.face_vectors += list(a.face_embeddings)
    if a.face_clothing is not None:
        for ids, vectors, ok in ((face_ids, a.face_clothing, a.face_clothing_ok),
                                 (person_ids, a.person_clothing, a.person_clothing_ok)):
            out.clothing_ids += ids[ok].tolist()
            out.clothing_vectors += list(vectors[ok])


def _write_thumbs(folder: Path, image, a, first_id: int, size: int) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, 85]
    for i, box in enumerate(a.faces.boxes):
        cv2.imwrite(str(folder / "faces" / f"{first_id + i}.jpg"), crop_thumbnail(image, box, size), params)
    for i, box in enumerate(a.persons.boxes):
        cv2.imwrite(str(folder / "persons" / f"{first_id + len(a.faces) + i}.jpg"),
                    crop_thumbnail(image, box, size, aspect=2.0), params)


def _table(rows: dict[str, list]) -> dict[str, np.ndarray]:
    columns = store.DETECTION_COLUMNS[:-1] + LINK_COLUMNS
    if not rows.get("detection_id"):
        return {c: np.zeros(0, object if c == "kind" else np.float64 if c in _FLOAT_COLUMNS else np.int64)
                for c in columns}
    return {c: np.asarray(rows[c]) for c in columns}


def _stack(vectors: list, dim: int) -> np.ndarray:
    return np.asarray(vectors, np.float32).reshape(-1, dim)


def run(video, config: Config | None = None, output_dir=None, hook: Hook | None = None) -> Result:
    """Group the people in `video`. With `output_dir`, write the outputs there atomically."""
    config = config or Config()
    hook = hook or _no_hook
    started = time.perf_counter()
    if output_dir is not None:
        output_dir = store.check_output_dir(output_dir)
    info = probe(video)
    analyzer = FrameAnalyzer(config)
    face_distance = config.cluster_distance or analyzer.face_embedder.SAME_PERSON_DISTANCE
    clothing_distance = analyzer.clothing.SAME_PERSON_DISTANCE if analyzer.clothing else None
    trackers = _Trackers(config, face_distance, clothing_distance)
    staging = store.StagingDir(output_dir) if output_dir is not None else contextlib.nullcontext()
    with staging as folder, _single_threaded_opencv():
        thumbs = None
        if folder is not None:
            thumbs = folder / "thumbs"
            (thumbs / "faces").mkdir(parents=True)
            (thumbs / "persons").mkdir()
        collected = _process_frames(video, info, config, analyzer, trackers, thumbs, hook)
        table = _table(collected.rows)
        faces = (np.asarray(collected.face_ids, np.int64), _stack(collected.face_vectors, analyzer.face_embedder.DIM))
        clothing = None
        if analyzer.clothing is not None:
            clothing = (np.asarray(collected.clothing_ids, np.int64),
                        _stack(collected.clothing_vectors, analyzer.clothing.DIM))
        hook("cluster")
        t = time.perf_counter()
        table["track_id"] = fusion.join_tracks(table["track_id"], table["frame_index"], table["kind"] == "face",
                                               collected.pairs) if len(table["track_id"]) else table["track_id"]
        table["person_id"] = fusion.assign_people(table, faces, clothing, config, face_distance,
                                                  clothing_distance or 1.0)
        collected.timings["cluster"] = time.perf_counter() - t
        people = summarize_people(table, faces, config.fps, "thumbs" if folder else None)
        manifest = _manifest(video, info, config, analyzer, collected, table, people, started, face_distance)
        if folder is not None:
            hook("write")
            t = time.perf_counter()
            _write_outputs(folder, table, np.asarray(collected.rows["shot"], np.int64), faces, clothing, people,
                           manifest)
            manifest["timings_s"]["write"] = round(time.perf_counter() - t, 3)
            store.write_json(folder / store.MANIFEST, manifest)
            write_people_csv(folder, people)
            write_report(folder, table=table, people=people, manifest=manifest)
    log.info("%s: %d people from %d detections in %d sampled frames", info.path, len(people),
             len(table["detection_id"]), collected.frames)
    return Result(info, config, table, faces[1], people, manifest, output_dir,
                  clothing[1] if clothing else None, clothing[0] if clothing else None)


def _write_outputs(folder: Path, table, shots, faces, clothing, people, manifest) -> None:
    store.write_detections(folder, table, LINK_COLUMNS)
    store.write_json(folder / "people.json", {"people": people})
    tracks = []
    for tid in np.unique(table["track_id"]):
        rows = table["track_id"] == tid
        frames = table["frame_index"][rows]
        tracks.append({"track_id": int(tid), "kind": "face" if (table["kind"][rows] == "face").any() else "person",
                       "shot": int(shots[rows][0]), "first_frame": int(frames.min()), "last_frame": int(frames.max()),
                       "detections": int(rows.sum())})
    meta = {k: manifest[k] for k in ("config", "models", "same_person_distance", "embedder_same_person_distance",
                                     "clothing_same_person_distance")} | {"video": manifest["input"]}
    spaces = {"face": faces} | ({"clothing": clothing} if clothing is not None else {})
    store.write_database(folder, spaces, tracks, meta)


def _manifest(video, info, config, analyzer, collected, table, people, started, face_distance) -> dict:
    video_seconds = (config.max_seconds and min(config.max_seconds, info.duration_s)) or info.duration_s
    wall = time.perf_counter() - started
    kind = table["kind"]
    return {
        "tool": "facecluster", "version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "input": {"path": str(Path(video).resolve()), **info.to_dict()},
        "config": config.to_dict(),
        "backends": {"face_detector": analyzer.face_detector.NAME, "face_embedder": analyzer.face_embedder.NAME,
                     "body_detector": config.body_detector or None,
                     "clothing_embedder": config.clothing_embedder or None, "upscale": config.upscale or None},
        "same_person_distance": face_distance,
        "embedder_same_person_distance": analyzer.face_embedder.SAME_PERSON_DISTANCE,
        "clothing_same_person_distance": analyzer.clothing.SAME_PERSON_DISTANCE if analyzer.clothing else None,
        "models": [m.to_dict() for m in analyzer.models],
        "counts": {"sampled_frames": collected.frames, "shots": collected.shots,
                   "face_detections": int((kind == "face").sum()), "person_detections": int((kind == "person").sum()),
                   "tracks": int(len(np.unique(table["track_id"]))), "people": len(people),
                   "noise_detections": int((table["person_id"] < 0).sum())},
        "timings_s": {k: round(v, 3) for k, v in collected.timings.items()} | {"total": round(wall, 3)},
        "speed_x_realtime": round(video_seconds / wall, 2) if wall > 0 else None,
        "sampled_frames": collected.sampled,  # frame indices looked at, also those with no face
    }
