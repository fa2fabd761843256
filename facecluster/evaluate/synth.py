"""Episode synthesizer: a seeded test video of known people with exact per-frame ground truth.

Why: real clips with full identity labels are rare, so grouping quality is measured on "episodes"
composed from identity-labelled photos: shots of 1-4 dressed figures with hard cuts, slow pan/zoom,
faces from tiny to close-up, occluders, motion blur, people seen from behind (clothing only). Every
frame's face and person boxes are written with their identity. The same seed gives the same episode.

Truth JSON (format "facecluster-truth/1"): {"format", "video": {path, width, height, fps, frames,
seconds, codec}, "generator": {seed, faces_dir, preset, face_model, options}, "identities": [{name,
photos, clothing_bgr, pattern}], "shots": [{index, start_frame, end_frame (exclusive), identities,
scale, walking, blur}], "frames": [{frame_index, time_s, shot, objects: [{identity, kind: "face" |
"person", box: [x1, y1, x2, y2], tags: [...]}]}]}. Boxes are in video pixels (continuous coordinates,
pixel i spans [i, i+1)), clipped to the frame; a face is listed when >= 50% of it is inside the frame
and a person when >= 25% is (or its face is), and each face lies inside its person's box. Tags: "back"
(person seen from behind, no face), "tiny" (face < 24 px tall), "occluded" (>= 10% of the face covered),
"blur" (motion-blurred shot), "partial" (cut by the frame edge). Frame i is at time i / fps.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ConfigError, OutputError
from . import render
from .photos import load_identities
from .scene import plan_shots, render_shot

log = logging.getLogger("facecluster")

FORMAT = "facecluster-truth/1"
PRESETS = {
    # shot lengths (s), P(1..4 people), face height / frame height per scale, per-appearance/shot odds
    "full": dict(width=1280, height=720, seconds=60.0, identities=None, shot_seconds=(2.5, 6.0),
                 people=(0.3, 0.35, 0.2, 0.15), close=(0.2, 0.34), medium=(0.09, 0.17), wide=(0.025, 0.07),
                 back=0.1, occlusion=0.2, blur=0.15, walk=0.25),
    # for tests: small frames, few identities, no tiny faces, at most 3 people, fewer hard cases
    "small": dict(width=640, height=360, seconds=24.0, identities=4, shot_seconds=(2.0, 4.0),
                  people=(0.35, 0.4, 0.25, 0.0), close=(0.24, 0.34), medium=(0.14, 0.2), wide=(0.1, 0.13),
                  back=0.08, occlusion=0.1, blur=0.1, walk=0.2),
}


class VideoWriter:
    """Streams BGR frames to H.264 (libx264, yuv420p, CRF 18) or, without x264, MPEG-4 Part 2."""

    def __init__(self, path: Path, width: int, height: int, fps: int):
        import av

        try:
            self.container = av.open(str(path), "w")
        except ValueError as exc:
            raise ConfigError(f"cannot write a video named {path.name} ({exc}); use .mp4, .mkv or .avi") from None
        self.codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        self.stream = self.container.add_stream(self.codec, rate=fps)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        if self.codec == "libx264":
            self.stream.options = {"crf": "18", "preset": "veryfast"}
        else:
            self.stream.bit_rate = int(width * height * fps * 0.25)
        self.frame_cls, self.pts = av.VideoFrame, 0

    def write(self, image: np.ndarray) -> None:
        frame = self.frame_cls.from_ndarray(image, format="bgr24")
        frame.pts, self.pts = self.pts, self.pts + 1
        self.container.mux(self.stream.encode(frame))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        try:
            if exc_type is None:
                self.container.mux(self.stream.encode(None))
        finally:
            self.container.close()


def _atomic_paths(path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {path.parent}: {exc.strerror}; choose a writable path") from exc
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def synthesize_episode(faces_dir, out_video, out_truth, seconds: float | None = None, seed: int = 0,
                       width: int | None = None, height: int | None = None, fps: int = 25,
                       small: bool = False, identities: int | None = None, face_model: str | None = "yunet",
                       progress: Callable[[int, int], None] | None = None, **options) -> dict:
    """Write a synthetic episode video and its truth JSON; return a summary dict.

    Defaults come from PRESETS["small" if small else "full"] (full: 1280x720, 60 s, every identity;
    small: 640x360, 24 s, 4 identities); any preset key can be overridden in `options`.
    `identities` caps how many identities of `faces_dir` appear (chosen by the seed).
    `face_model` annotates where the face is in each photo (see photos.py); None = photos are face crops.
    `progress(done, total)` is called after every frame. Raises InputError / ConfigError / OutputError.
    """
    preset = dict(PRESETS["small" if small else "full"])
    unknown = set(options) - set(preset)
    if unknown:
        raise ConfigError(f"unknown synth option(s) {sorted(unknown)}; valid: {sorted(preset)}")
    preset.update(options)
    width, height = width or preset["width"], height or preset["height"]
    seconds = float(seconds if seconds is not None else preset["seconds"])
    if width % 2 or height % 2 or width < 128 or height < 96:
        raise ConfigError(f"video size {width}x{height} must be even and at least 128x96 (e.g. 1280x720)")
    if not 1 <= fps <= 120 or seconds <= 0 or seed < 0:
        raise ConfigError(f"need 1 <= fps <= 120, seconds > 0 and seed >= 0 (got {fps}, {seconds}, {seed})")
    out_video, out_truth = Path(out_video), Path(out_truth)
    people = load_identities(faces_dir, face_model)
    rng = np.random.default_rng([seed, 1])
    names = list(people)
    cap = preset["identities"] = identities if identities is not None else preset["identities"]
    if cap and cap < len(names):
        names = sorted(rng.choice(names, cap, replace=False).tolist())
    styles = dict(zip(names, render.make_styles(len(names), np.random.default_rng([seed, 2]))))
    n_frames = max(1, int(round(seconds * fps)))
    shots = plan_shots(rng, names, n_frames, fps, preset)
    header = {
        "format": FORMAT,
        "video": {"path": out_video.name, "width": width, "height": height, "fps": fps, "frames": n_frames,
                  "seconds": n_frames / fps, "codec": None},
        "generator": {"name": "facecluster.evaluate.synth", "seed": seed, "faces_dir": str(faces_dir),
                      "preset": "small" if small else "full", "face_model": face_model,
                      "options": {k: v for k, v in preset.items() if k not in ("width", "height", "seconds")}},
        "identities": [{"name": n, "photos": [p.path for p in people[n]], "clothing_bgr": list(styles[n].clothing),
                        "pattern": styles[n].pattern} for n in names],
        "shots": [s.summary() for s in shots],
    }
    tmp_video, tmp_truth = _atomic_paths(out_video), _atomic_paths(out_truth)
    started, done = time.perf_counter(), 0
    try:
        with VideoWriter(tmp_video, width, height, fps) as writer, open(tmp_truth, "w", encoding="utf-8") as fh:
            header["video"]["codec"] = writer.codec
            fh.write(json.dumps(header)[:-1] + ', "frames": [\n')
            for shot in shots:
                srng = np.random.default_rng([seed, 3, shot.index])
                for frame, objects in render_shot(shot, people, styles, srng, width, height):
                    writer.write(frame)
                    record = {"frame_index": done, "time_s": round(done / fps, 6), "shot": shot.index,
                              "objects": objects}
                    fh.write((",\n" if done else "") + json.dumps(record, separators=(",", ":")))
                    done += 1
                    if progress:
                        progress(done, n_frames)
            fh.write("\n]}\n")
        os.replace(tmp_video, out_video)
        os.replace(tmp_truth, out_truth)
    except OSError as exc:
        raise OutputError(f"cannot write the episode ({exc}); check that the output folder is writable") from exc
    finally:
        for tmp in (tmp_video, tmp_truth):
            tmp.unlink(missing_ok=True)
    wall = time.perf_counter() - started
    log.info("synth: %d frames, %d shots, %d identities in %.1f s (%.1f frames/s) -> %s",
             done, len(shots), len(names), wall, done / max(wall, 1e-9), out_video)
    return {"video": str(out_video), "truth": str(out_truth), "frames": done, "fps": fps, "width": width,
            "height": height, "shots": len(shots), "identities": names, "wall_s": wall,
            "frames_per_s": done / max(wall, 1e-9)}


def load_truth(path) -> dict:
    """Read and check a truth JSON written by synthesize_episode."""
    from ..runfolder.documents import bad_file, read_json

    fix = "make it (again) with `facecluster synth`"
    truth = read_json(Path(path), fix)
    if truth.get("format") != FORMAT or not isinstance(truth.get("frames"), list):
        raise bad_file(Path(path), f"is not a {FORMAT} truth file", fix)
    return truth
