"""run(video, config) -> Result: sample frames, detect and embed faces, track, cluster, write outputs."""

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

from . import __version__, store
from .backends import create_detector, create_embedder
from .cluster import cluster_tracks
from .config import Config
from .people import summarize_people
from .report import write_report
from .results import write_people_csv
from .track import Tracker
from .types import Detections, l2_normalize
from .video import VideoInfo, prefetch, probe, sample_frames

log = logging.getLogger("facecluster")
Hook = Callable[..., None]  # hook(step, completed=None, total=None)


def _no_hook(step, completed=None, total=None):
    pass


@dataclass
class Result:
    video: VideoInfo
    config: Config
    detections: dict[str, np.ndarray]  # column -> array, the rows of detections.csv
    embeddings: np.ndarray  # (N, D) face embeddings, row i = detection_id i
    people: list[dict]
    manifest: dict
    output_dir: Path | None = None

    @property
    def n_people(self) -> int:
        return len(self.people)


@dataclass
class _Collected:
    rows: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    embeddings: list[np.ndarray] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    frames: int = 0
    shots: int = 0
    sampled: list[int] = field(default_factory=list)


def face_thumbnail(image: np.ndarray, box, size: int) -> np.ndarray:
    """Square crop around the face with a margin, padded at the border, resized to size x size."""
    x1, y1, x2, y2 = box
    cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, 1.4 * max(x2 - x1, y2 - y1, 1)
    m = np.float32([[size / side, 0, size / 2 - cx * size / side], [0, size / side, size / 2 - cy * size / side]])
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def _process_frames(video, info, config, detector, embedder, tracker, thumbs_dir, hook) -> _Collected:
    out = _Collected()
    total = max(1, math.ceil((config.max_seconds or info.duration_s) * config.fps)) if info.duration_s else None
    frames = prefetch(sample_frames(video, config.fps, config.shot_threshold, config.max_seconds, info),
                      timings=out.timings)
    t = time.perf_counter()
    for frame in frames:
        now = time.perf_counter()
        out.timings["decode_wait"] += now - t
        dets = detector.detect(frame.image)
        if len(dets) and config.min_face_size:
            dets = dets[np.minimum(dets.widths, dets.heights) >= config.min_face_size]
        t, now = now, time.perf_counter()
        out.timings["detect"] += now - t
        emb = embedder.embed(frame.image, dets) if len(dets) else np.zeros((0, embedder.DIM), np.float32)
        t, now = now, time.perf_counter()
        out.timings["embed"] += now - t
        first_id = len(out.embeddings)
        ids = np.arange(first_id, first_id + len(dets))
        track_ids = tracker.update(frame.shot, dets.boxes, emb, ids)
        _append_rows(out, frame, dets, emb, ids, track_ids)
        if thumbs_dir is not None:
            for det_id, box in zip(ids, dets.boxes):
                cv2.imwrite(str(thumbs_dir / f"{det_id}.jpg"), face_thumbnail(frame.image, box, config.thumb_size),
                            [cv2.IMWRITE_JPEG_QUALITY, 85])
        out.frames += 1
        out.sampled.append(frame.index)
        out.shots = frame.shot + 1
        t = time.perf_counter()
        out.timings["track+thumbs"] += t - now
        hook("frames", completed=out.frames, total=max(total or 0, out.frames))
    return out


def _append_rows(out: _Collected, frame, dets: Detections, emb, ids, track_ids) -> None:
    r = out.rows
    r["detection_id"] += ids.tolist()
    r["frame_index"] += [frame.index] * len(dets)
    r["time_s"] += [frame.time_s] * len(dets)
    r["kind"] += ["face"] * len(dets)
    for k, col in enumerate(("x1", "y1", "x2", "y2")):
        r[col] += dets.boxes[:, k].tolist()
    r["score"] += dets.scores.tolist()
    r["track_id"] += track_ids.tolist()
    out.embeddings += list(emb)


def _table(rows: dict[str, list]) -> dict[str, np.ndarray]:
    if not rows:
        return {c: np.zeros(0, object if c == "kind" else np.float64 if c in _FLOAT_COLUMNS else np.int64)
                for c in store.DETECTION_COLUMNS[:-1]}
    return {k: np.asarray(v) for k, v in rows.items()}


_FLOAT_COLUMNS = ("time_s", "x1", "y1", "x2", "y2", "score")


def _cannot_link(frame_index: np.ndarray, track_id: np.ndarray, n_tracks: int) -> np.ndarray:
    cannot = np.zeros((n_tracks, n_tracks), bool)
    order = np.argsort(frame_index, kind="stable")
    bounds = np.flatnonzero(np.diff(frame_index[order])) + 1
    for group in np.split(order, bounds):
        if len(group) > 1:
            t = track_id[group]
            cannot[np.ix_(t, t)] = True
    np.fill_diagonal(cannot, False)
    return cannot


def assign_people(table: dict[str, np.ndarray], embeddings: np.ndarray, config: Config,
                  same_person_distance: float) -> np.ndarray:
    """Cluster the face tracks of a detections table; returns person_id per detection (-1 noise)."""
    track_id = np.asarray(table["track_id"], np.int64)
    if len(track_id) == 0:
        return np.zeros(0, np.int64)
    n_tracks = int(track_id.max()) + 1
    sums = np.zeros((n_tracks, embeddings.shape[1]))
    np.add.at(sums, track_id, embeddings)
    sizes = np.bincount(track_id, minlength=n_tracks)
    cannot = _cannot_link(np.asarray(table["frame_index"]), track_id, n_tracks)
    # 1 - mean_a . mean_b is exactly the average cosine distance over all detection pairs of two tracks,
    # the scale on which the embedders' same-person distances were calibrated
    means = sums / sizes[:, None]
    distances = np.clip(1.0 - means @ means.T, 0.0, 2.0)
    labels = cluster_tracks(l2_normalize(sums), cannot, config.cluster_distance or same_person_distance, sizes,
                            config.min_cluster_size, config.min_samples, config.min_person_detections,
                            distances=distances)
    return labels[track_id]


def run(video, config: Config | None = None, output_dir=None, hook: Hook | None = None) -> Result:
    """Group the faces in `video` into people. With `output_dir`, write the outputs there atomically."""
    config = config or Config()
    hook = hook or _no_hook
    started = time.perf_counter()
    if output_dir is not None:
        output_dir = store.check_output_dir(output_dir)
    info = probe(video)
    detector = create_detector(config.face_detector, config)
    embedder = create_embedder(config.face_embedder, config)
    same_person = config.cluster_distance or embedder.SAME_PERSON_DISTANCE
    tracker = Tracker(config.track_max_distance or same_person, config.track_iou)
    staging = store.StagingDir(output_dir) if output_dir is not None else contextlib.nullcontext()
    with staging as folder:
        thumbs = None
        if folder is not None:
            thumbs = folder / "thumbs" / "faces"
            thumbs.mkdir(parents=True)
        collected = _process_frames(video, info, config, detector, embedder, tracker, thumbs, hook)
        table = _table(collected.rows)
        emb = np.asarray(collected.embeddings, np.float32).reshape(-1, embedder.DIM)
        hook("cluster")
        t = time.perf_counter()
        table["person_id"] = assign_people(table, emb, config, embedder.SAME_PERSON_DISTANCE)
        collected.timings["cluster"] = time.perf_counter() - t
        people = summarize_people(table, emb, config.fps, "thumbs/faces" if folder else None)
        manifest = _manifest(video, info, config, detector, embedder, collected, table, people, started)
        if folder is not None:
            hook("write")
            t = time.perf_counter()
            _write_outputs(folder, table, emb, people, manifest, tracker)
            manifest["timings_s"]["write"] = round(time.perf_counter() - t, 3)
            store.write_json(folder / store.MANIFEST, manifest)
            write_people_csv(folder, people)
            write_report(folder, table=table, people=people, manifest=manifest)
    log.info("%s: %d people from %d face detections in %d sampled frames", info.path, len(people),
             len(table["detection_id"]), collected.frames)
    return Result(info, config, table, emb, people, manifest, output_dir)


def _write_outputs(folder: Path, table, emb, people, manifest, tracker: Tracker) -> None:
    store.write_detections(folder, table)
    store.write_json(folder / "people.json", {"people": people})
    tracks = []
    track_id = table["track_id"]
    for tid in np.unique(track_id):
        frames = table["frame_index"][track_id == tid]
        tracks.append({"track_id": int(tid), "kind": "face", "shot": tracker.track_shots[tid],
                       "first_frame": int(frames.min()), "last_frame": int(frames.max()),
                       "detections": int(len(frames))})
    meta = {"config": manifest["config"], "video": manifest["input"], "models": manifest["models"],
            "same_person_distance": manifest["same_person_distance"],
            "embedder_same_person_distance": manifest["embedder_same_person_distance"]}
    store.write_database(folder, {"face": (table["detection_id"], emb)}, tracks, meta)


def _manifest(video, info, config, detector, embedder, collected, table, people, started) -> dict:
    video_seconds = (config.max_seconds and min(config.max_seconds, info.duration_s)) or info.duration_s
    wall = time.perf_counter() - started
    return {
        "tool": "facecluster", "version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "input": {"path": str(Path(video).resolve()), **info.to_dict()},
        "config": config.to_dict(),
        "backends": {"face_detector": detector.NAME, "face_embedder": embedder.NAME},
        "same_person_distance": config.cluster_distance or embedder.SAME_PERSON_DISTANCE,
        "embedder_same_person_distance": embedder.SAME_PERSON_DISTANCE,
        "models": [m.to_dict() for m in detector.models + embedder.models],
        "counts": {"sampled_frames": collected.frames, "shots": collected.shots,
                   "face_detections": int(len(table["detection_id"])),
                   "face_tracks": int(len(np.unique(table["track_id"]))), "people": len(people),
                   "noise_detections": int((table["person_id"] < 0).sum())},
        "timings_s": {k: round(v, 3) for k, v in collected.timings.items()} | {"total": round(wall, 3)},
        "speed_x_realtime": round(video_seconds / wall, 2) if wall > 0 else None,
        "sampled_frames": collected.sampled,  # frame indices looked at, also those with no face
    }
