"""annotate: the input video with a box and a name on every face (and body) of every person.

Bodies (person rows, when the run had a person detector) get a thinner box of the person's colour with
the same name written inside its bottom edge, so it never hides the face's label above the face box.

Why boxes are held: only sampled frames (config.fps) were analysed, so the boxes of a sample are drawn
on the frames after it until the next sample, but never longer than one sampling interval (a sampled
frame with no detections is not in detections.csv, so the hold must expire on its own). Frame indices are
those of pipeline.sample_frames: decoded frames counted from 0. Every input frame is written, so the
output has the same frame count; audio is not copied.
"""

from __future__ import annotations

import colorsys
import logging
import os
import unicodedata
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ConfigError, InputError, OutputError
from ..runfolder import RunFolder
from ..video import Orientation, probe

log = logging.getLogger(__name__)


def _ascii(text: str) -> str:
    """cv2 fonts draw ASCII only; accents are dropped, anything else becomes '?'."""
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c if ord(c) < 128 else ("" if unicodedata.combining(c) else "?") for c in norm)


def _color(person_id: int) -> tuple[int, int, int]:
    if person_id < 0:
        return (160, 160, 160)
    r, g, b = colorsys.hsv_to_rgb((person_id * 0.618034) % 1.0, 0.75, 1.0)
    return (int(b * 255), int(g * 255), int(r * 255))


def _samples(stored) -> dict[int, list[tuple]]:
    """frame index -> [(box, person_id, label, is_body)] of the run's detections, bodies first (so faces
    are drawn over them)."""
    names = {p["id"]: p.get("name") for p in stored.people}
    t = stored.table
    body = t.is_body
    by_frame: dict[int, list[tuple]] = {}
    for i in np.argsort(~body, kind="stable").tolist():
        pid = int(t.person_id[i])
        text = "" if pid < 0 else _ascii(names.get(pid) or "") or f"person {pid}"
        box = tuple(int(round(float(v))) for v in t.boxes[i])
        by_frame.setdefault(int(t.frame_index[i]), []).append((box, pid, text, bool(body[i])))
    return by_frame


def _draw(image: np.ndarray, items: list[tuple]) -> None:
    import cv2

    scale = max(0.75, image.shape[0] / 480)  # font scale 0.45 at 360p, 0.9 at 720p
    thick = max(1, int(round(1.5 * scale)))
    bodies = any(item[3] for item in items)
    for (x1, y1, x2, y2), pid, text, is_body in items:
        color = _color(pid)
        if pid < 0:
            line = 1
        elif is_body:  # thinner than a face box; faces get 2 px at least when there are bodies to tell apart
            line = max(1, thick // 2)
        else:
            line = max(thick, 2) if bodies else thick
        cv2.rectangle(image, (x1, y1), (x2, y2), color, line)
        if not text:
            continue
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, thick)
        if is_body:  # inside the bottom edge, clear of the face label at the top
            ty = min(y2, image.shape[0]) - base - 4
        else:
            ty = y1 - 4 if y1 - th - base - 4 >= 0 else y2 + th + 4
        cv2.rectangle(image, (x1, ty - th - 3), (x1 + tw + 6, ty + base - 1), color, -1)
        cv2.putText(image, text, (x1 + 3, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), thick,
                    cv2.LINE_AA)


def annotate(folder, video=None, out_path=None, hook: Callable | None = None) -> dict:
    """Write `out_path` (mp4/mkv/avi): `video` (default: the run's input) with person boxes and names.
    hook("annotate", completed=, total=) is called per frame. Returns {path, frames, width, height}."""
    import av

    rf = RunFolder(folder)
    with rf.reading():
        out = rf.load()
    video = Path(video or out.manifest.get("input", {}).get("path", ""))
    if not video.is_file():
        raise InputError(f"input video {video} not found (it was moved?); pass its new path with --video PATH")
    if out_path is None:
        raise ConfigError("give the output video path, e.g. -o annotated.mp4")
    out_path = Path(out_path)
    if out_path.suffix.lower() not in (".mp4", ".mkv", ".avi", ".mov"):
        raise ConfigError(f"cannot write a video named {out_path.name}; use .mp4, .mkv, .mov or .avi")
    if not out_path.parent.is_dir():
        raise OutputError(f"folder {out_path.parent} does not exist; create it or choose another output path")
    samples = _samples(out)
    tmp = out_path.with_name(f".{out_path.stem}.partial{out_path.suffix}")
    try:
        src = av.open(str(video))
    except (av.error.FFmpegError, ValueError) as exc:
        raise InputError(f"cannot open {video} as a video ({exc}); pass the run's input with --video") from None
    n = 0
    try:
        stream = src.streams.video[0]
        rate = Fraction(stream.average_rate or stream.guessed_rate or 25).limit_denominator(100000)
        hold = max(1, int(round(float(rate) / float(out.config.get("fps") or 1.0))))
        total = stream.frames or None
        with av.open(str(tmp), "w") as dst:
            codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
            enc = dst.add_stream(codec, rate=rate)
            info = probe(video)  # width and height in display orientation, as the boxes are
            w, h = info.width // 2 * 2, info.height // 2 * 2
            enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
            if codec == "libx264":
                enc.options = {"crf": "20", "preset": "veryfast"}
            current, since = [], 0
            for frame in src.decode(stream):
                image = Orientation.of(frame, stream).apply(frame.to_ndarray(format="bgr24"))[:h, :w].copy()
                if n in samples:
                    current, since = samples[n], n
                elif n - since >= hold:
                    current = []
                _draw(image, current)
                vf = av.VideoFrame.from_ndarray(image, format="bgr24")
                vf.pts = n
                dst.mux(enc.encode(vf))
                n += 1
                if hook:
                    hook("annotate", completed=n, total=max(total or 0, n))
            dst.mux(enc.encode(None))
        os.replace(tmp, out_path)
    except av.error.FFmpegError as exc:
        raise InputError(f"decoding or encoding failed at frame {n} ({exc}); re-encode the input video") from None
    except OSError as exc:
        raise OutputError(f"cannot write {out_path} ({exc.strerror}); check free space and permissions") from None
    finally:
        src.close()
        tmp.unlink(missing_ok=True)
    log.info("annotate: %d frames -> %s", n, out_path)
    return {"path": str(out_path), "frames": n, "width": w, "height": h}
