"""Extraction as stages on both cores: a decode thread, frame workers (detection, alignment, crops,
thumbnails) and the main thread (batched embedding, tracking, recording, checkpoints), joined by bounded
queues so frames never pile up. Inference releases the GIL (onnxruntime, OpenCV, numpy), so threads
share the cores without copying frames between processes.

Every CHECKPOINT_S seconds the rows recorded so far, their vectors, the sampled frames, the trackers and
the decoder's resume point go to the run's database in one transaction: a run killed at any moment
continues from its last checkpoint with the same result as an uninterrupted one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import Config
from ..runfolder import Extraction, ExtractionWriter
from ..runfolder.layout import THUMB_FOLDERS
from ..table import RunTable
from ..track import Tracker, join_tracks
from .frame import Backends, FrameStage, FrameWork, worker_count

log = logging.getLogger(__name__)
CHECKPOINT_S = 0.25  # a checkpoint costs a few ms of SQLite; a kill loses at most this much work plus the frames in flight
BATCH_FACES = 64  # face chips per embedding call
BATCH_FRAMES = 2  # frames per embedding call at most: larger batches are no faster (embed.base) and delay checkpoints
BODY_TRACKS = 1 << 40  # body track ids live apart from face track ids until units are made
_END = object()


@dataclass
class Extracted:
    table: RunTable  # final tracks, units and links; person_id -1
    spaces: dict  # "face" / "clothing" -> (detection ids, vectors)
    frames: np.ndarray  # (F, 3) sampled frames: index, time, shot
    decode: dict  # decoder statistics
    timings: dict
    resumed_frames: int = 0


@dataclass
class _Chunk:
    columns: dict = field(default_factory=lambda: defaultdict(list))
    spaces: dict = field(default_factory=lambda: defaultdict(lambda: ([], [])))
    frames: list = field(default_factory=list)

    def table(self) -> RunTable:
        if not self.columns:
            return RunTable.empty()
        return RunTable(**{c: np.concatenate(v) for c, v in self.columns.items()})

    def space_arrays(self, dims: dict[str, int]) -> dict:
        return {s: (np.asarray(self.spaces[s][0] if s in self.spaces else [], np.int64),
                    np.asarray(self.spaces[s][1] if s in self.spaces else [], np.float32).reshape(-1, dim))
                for s, dim in dims.items()}


class Extractor:
    def __init__(self, config: Config, backends: Backends, workers: int = 0):
        self.config, self.b = config, backends
        self.workers = worker_count(config, workers)
        face_cut = config.track_max_distance or backends.face_embedder.SAME_PERSON_DISTANCE
        clothing_cut = backends.clothing.SAME_PERSON_DISTANCE if backends.clothing is not None else None
        self.face_tracker = Tracker(face_cut, config.track_iou)
        # without clothing vectors bodies are linked by box overlap alone (embedding distance 1 < 1.5 x 0.7)
        self.body_tracker = Tracker(clothing_cut or 0.7, config.track_iou)
        self.timings: dict[str, float] = defaultdict(float)
        self.stages = [FrameStage(backends) for _ in range(self.workers)]
        self.dims = {"face": backends.face_embedder.DIM,
                     **({"clothing": backends.clothing.DIM} if backends.clothing is not None else {})}
        self.writer: ExtractionWriter | None = None
        self.thumbs: Path | None = None
        self.previous: Extraction | None = None
        self.next_id = 0
        self.last_resume = None
        self.resumed_frames = 0
        self.chunk = _Chunk()
        self.all = _Chunk()
        self.frames_done = 0
        self.recording = False

    def start(self, writer: ExtractionWriter | None, thumbs: Path | None, state: dict | None,
              previous: Extraction | None) -> None:
        """Where checkpoints and thumbnails go, and the state of an interrupted run to continue."""
        self.writer, self.thumbs, self.previous = writer, thumbs, previous
        if thumbs is not None:
            for kind in THUMB_FOLDERS.values():
                (thumbs / kind).mkdir(parents=True, exist_ok=True)
        if state:
            self.face_tracker.restore(state["face_tracker"])
            self.body_tracker.restore(state["body_tracker"])
            self.next_id = int(state["rows"])
            self.last_resume = state["reader"]
            self.resumed_frames = self.frames_done = len(previous.frames) if previous is not None else 0
            for k, v in (state.get("timings") or {}).items():
                self.timings[k] += v

    @property
    def frame_models(self):
        return self.stages[0].models

    # threads ----------------------------------------------------------------------------------------------
    def run(self, reader, hook, total_frames: int | None) -> Extracted:
        inbox: queue.Queue = queue.Queue(maxsize=2 * self.workers + 2)
        done: dict[int, object] = {}
        cond = threading.Condition()
        stop = threading.Event()
        errors: list[BaseException] = []

        def decode():
            seq = 0
            try:
                started = time.perf_counter()
                for frame in reader.frames():
                    resume = reader.resume_point()
                    self.timings["decode"] += time.perf_counter() - started
                    while not stop.is_set():
                        try:
                            inbox.put((seq, frame, resume), timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                    seq += 1
                    started = time.perf_counter()
                self.timings["decode"] += time.perf_counter() - started
            except BaseException as exc:  # handed to the main thread, which raises it
                errors.append(exc)
            finally:
                with cond:
                    done[-1] = seq  # how many frames there are
                    cond.notify_all()
                for _ in self.stages:
                    _put(inbox, _END, stop)

        def work(stage: FrameStage):
            while not stop.is_set():
                item = inbox.get()
                if item is _END:
                    return
                seq, frame, resume = item
                try:
                    result = stage(frame, resume, self.thumbs is not None)
                except BaseException as exc:
                    errors.append(exc)
                    result = exc
                with cond:
                    done[seq] = result
                    cond.notify_all()

        threads = [threading.Thread(target=decode, name="facecluster-decode", daemon=True)]
        threads += [threading.Thread(target=work, args=(s,), name=f"facecluster-frames-{i}", daemon=True)
                    for i, s in enumerate(self.stages)]
        for t in threads:
            t.start()
        last_checkpoint = time.monotonic()
        try:
            seq = 0
            batch: list[FrameWork] = []
            while True:
                t = time.perf_counter()
                with cond:
                    while seq not in done and not (done.get(-1) is not None and seq >= done[-1]) and not errors:
                        cond.wait(0.1)
                    if errors:
                        raise errors[0]
                    item = done.pop(seq, None)
                self.timings["wait"] += time.perf_counter() - t
                if item is not None:
                    batch.append(item)
                    seq += 1
                end = item is None
                if batch and (end or len(batch) >= BATCH_FRAMES or sum(len(w.chips) for w in batch) >= BATCH_FACES):
                    self._record(batch)
                    hook("frames", completed=self.frames_done, total=max(total_frames or 0, self.frames_done))
                    batch = []
                    if self.writer is not None and time.monotonic() - last_checkpoint >= CHECKPOINT_S:
                        self._checkpoint(reader)
                        last_checkpoint = time.monotonic()
                if end:
                    break
        except BaseException:
            stop.set()
            # an interruption inside _record leaves the trackers ahead of the rows: keep the last checkpoint
            if self.writer is not None and self.chunk.frames and not self.recording:
                try:
                    self._checkpoint(reader)  # keep what was recorded: the next run continues from here
                except Exception:  # the original error matters more
                    log.debug("could not write the last checkpoint", exc_info=True)
            raise
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=5)
        if self.writer is not None and self.chunk.frames:
            self._checkpoint(reader)
        return self._finish(reader)

    # recording ----------------------------------------------------------------------------------------------
    def _record(self, batch: list[FrameWork]) -> None:
        self.recording = True
        t = time.perf_counter()
        chips = [w.chips for w in batch if len(w.chips)]
        vectors = self.b.face_embedder.embed_chips(np.concatenate(chips)) if chips else \
            np.zeros((0, self.b.face_embedder.DIM), np.float32)
        self.timings["embed"] += time.perf_counter() - t
        clothing = None
        if self.b.clothing is not None:
            t = time.perf_counter()
            inputs = [w.clothing_inputs for w in batch if w.clothing_ok.any()]
            clothing = self.b.clothing.embed_crops(np.concatenate(inputs)) if inputs else None
            self.timings["clothing"] += time.perf_counter() - t
        t = time.perf_counter()
        f0 = c0 = 0
        for w in batch:
            n_f = len(w.faces)
            emb = vectors[f0:f0 + n_f]
            f0 += n_f
            n_ok = int(w.clothing_ok.sum())
            cvec = clothing[c0:c0 + n_ok] if clothing is not None and n_ok else None
            c0 += n_ok
            self._record_frame(w, emb, cvec)
            for k, v in w.timings.items():
                self.timings[k] += v
        self.timings["track"] += time.perf_counter() - t
        self.recording = False

    def _record_frame(self, w: FrameWork, emb: np.ndarray, cvec: np.ndarray | None) -> None:
        frame, faces, bodies = w.frame, w.faces, w.bodies
        n_f, n_b = len(faces), len(bodies)
        first = self.next_id
        face_ids = np.arange(first, first + n_f)
        body_ids = np.arange(first + n_f, first + n_f + n_b)
        self.next_id += n_f + n_b
        face_tracks = self.face_tracker.update(frame.shot, faces.boxes, emb, face_ids)
        region = None
        if self.b.clothing is not None:
            region = np.zeros((len(w.clothing_ok), self.b.clothing.DIM), np.float32)
            if cvec is not None:
                region[w.clothing_ok] = cvec
        body_feat = region[:n_b] if region is not None else np.zeros((n_b, 1), np.float32)
        body_tracks = self.body_tracker.update(frame.shot, bodies.boxes, body_feat, body_ids) + BODY_TRACKS
        linked = w.face_body >= 0
        face_link = np.full(n_f, -1, np.int64)
        face_link[linked] = body_ids[w.face_body[linked]]
        body_link = np.full(n_b, -1, np.int64)
        body_link[w.face_body[linked]] = face_ids[linked]
        c = self.chunk.columns
        for ids, dets, kind, tracks, f_link, b_link in (
                (face_ids, faces, "face", face_tracks, np.full(n_f, -1), face_link),
                (body_ids, bodies, "body", body_tracks, body_link, np.full(n_b, -1))):
            n = len(ids)
            c["detection_id"].append(ids)
            c["frame_index"].append(np.full(n, frame.index))
            c["time_s"].append(np.full(n, frame.time_s))
            c["shot"].append(np.full(n, frame.shot))
            c["kind"].append(np.full(n, kind))
            for k, col in enumerate(("x1", "y1", "x2", "y2")):
                c[col].append(dets.boxes[:, k])
            c["score"].append(dets.scores)
            c["track_id"].append(tracks)
            c["unit_id"].append(np.full(n, -1))
            c["person_id"].append(np.full(n, -1))
            c["face_detection_id"].append(f_link)
            c["body_detection_id"].append(b_link)
        spaces = self.chunk.spaces
        spaces["face"][0].extend(face_ids.tolist())
        spaces["face"][1].extend(emb)
        if region is not None:
            ok = w.clothing_ok
            ok_body, ok_lone = ok[:n_b], ok[n_b:]
            lone = np.flatnonzero(~linked)
            ids = body_ids[ok_body].tolist() + face_ids[lone[ok_lone]].tolist()
            vecs = list(region[:n_b][ok_body]) + list(region[n_b:][ok_lone])
            for f in np.flatnonzero(linked):  # a face in a body wears that body's clothes
                b = w.face_body[f]
                if ok_body[b]:
                    ids.append(int(face_ids[f]))
                    vecs.append(region[b])
            spaces["clothing"][0].extend(ids)
            spaces["clothing"][1].extend(vecs)
        self.chunk.frames.append((int(frame.index), float(frame.time_s), int(frame.shot)))
        if self.thumbs is not None:
            names = [self.thumbs / THUMB_FOLDERS["face"] / f"{i}.jpg" for i in face_ids] + \
                    [self.thumbs / THUMB_FOLDERS["body"] / f"{i}.jpg" for i in body_ids]
            for path, data in zip(names, w.thumbs):
                path.write_bytes(data)
        self.frames_done += 1
        self.last_resume = w.resume

    def _checkpoint(self, reader) -> None:
        t = time.perf_counter()
        state = {"rows": self.next_id, "reader": self.last_resume, "face_tracker": self.face_tracker.state(),
                 "body_tracker": self.body_tracker.state(), "timings": dict(self.timings),
                 "decode": (self.last_resume or {}).get("stats") or {}}
        self.writer.append(self.chunk.table(), self.chunk.space_arrays(self.dims), self.chunk.frames, state)
        self._keep(self.chunk)
        self.chunk = _Chunk()
        self.timings["checkpoint"] += time.perf_counter() - t

    def _keep(self, chunk: _Chunk) -> None:
        for k, v in chunk.columns.items():
            self.all.columns[k].extend(v)
        for s, (ids, vecs) in chunk.spaces.items():
            self.all.spaces[s][0].extend(ids)
            self.all.spaces[s][1].extend(vecs)
        self.all.frames.extend(chunk.frames)

    def _finish(self, reader) -> Extracted:
        if self.writer is None:
            self._keep(self.chunk)
            self.chunk = _Chunk()
        table = self.all.table()
        spaces = self.all.space_arrays(self.dims)
        frames = np.array(self.all.frames, np.float64).reshape(-1, 3)
        if self.previous is not None:
            prev = self.previous
            table = RunTable.concat([prev.table, table])
            spaces = {s: (np.concatenate([prev.spaces[s][0], spaces[s][0]]),
                          np.concatenate([prev.spaces[s][1], spaces[s][1]])) if s in prev.spaces else spaces[s]
                      for s in spaces}
            frames = np.concatenate([prev.frames, frames])
        tracks = np.unique(table.track_id, return_inverse=True)[1].reshape(-1) if len(table) else table.track_id
        _, first = np.unique(tracks, return_index=True)
        order = np.full(len(first), -1, np.int64)
        order[tracks[np.sort(first)]] = np.arange(len(first))
        track_id = order[tracks] if len(table) else tracks
        links = np.stack([np.flatnonzero(table.body_detection_id >= 0),
                          table.body_detection_id[table.body_detection_id >= 0]], 1)
        unit_id = join_tracks(track_id, table.frame_index, table.is_face, links) if len(table) else track_id
        table = table.replace(track_id=track_id, unit_id=unit_id)
        return Extracted(table, spaces, frames, reader.totals(), dict(self.timings), self.resumed_frames)


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    while True:
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            if stop.is_set():
                try:
                    q.get_nowait()
                except queue.Empty:
                    pass
