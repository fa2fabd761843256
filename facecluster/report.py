"""report.html: one self-contained page to look at a run: people cards, an SVG timeline, each person's
faces, who appears with whom, and the settings and model files (with sha256) that produced it.

Why it is built this way: it must open from file:// with no network (inline CSS, no scripts, no CDN),
show names and paths as text whatever they contain (Jinja2 autoescape), and stay small and fast for long
episodes: thumbnails are relative <img loading="lazy"> links to thumbs/faces/ (thumbs/bodies/ for a
person seen only as a body), capped per person, never inlined; timeline segments of one person that
touch are drawn as one rect; co-appearance is listed as the top pairs, not a P x P matrix.

Face and person (body) rows both count as being on screen (timeline, seen with); a unit (track_id) is a
face track, a body track or both joined.

Each person's appearance intervals link into the video (`VIDEO#t=START,END`, opened by the browser's own
player) when the video file is reachable from the report by a relative path, so the report never needs a
server. A Content-Security-Policy <meta> forbids every remote load and every script, so a tampered
people.json (a name, a thumbnail path) cannot make the page fetch anything from elsewhere.
"""

from __future__ import annotations

import colorsys
import os
from pathlib import Path
from urllib.parse import quote

import numpy as np

from .text import fmt_time, plural

TEMPLATE = "report.html.j2"
PLOT_X0, PLOT_X1, ROW_H, AXIS_H, PIXEL = 170.0, 990.0, 18.0, 24.0, 2.0
DEFAULT_THUMBS = 24
TOP_PAIRS = 40
UNASSIGNED_THUMBS = 60
INTERVALS_SHOWN = 40
CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; media-src 'self'"


def color(person_id: int) -> str:
    r, g, b = colorsys.hsv_to_rgb((person_id * 0.618034) % 1.0, 0.65, 0.85)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["t"] = fmt_time
    env.filters["plural"] = plural
    return env


def _columns(table) -> dict[str, np.ndarray]:
    """The columns the report uses, over face and body rows; "face" marks the face rows."""
    out = {c: np.asarray(getattr(table, c)) for c in ("detection_id", "frame_index", "time_s", "track_id",
                                                      "person_id")}
    out["face"] = table.is_face
    return out


def _segments(t: dict, index: dict[int, int], step: float) -> list[list[tuple[float, float]]]:
    """Per person (row order of `index`): [start, end) seconds of its tracks, touching ones merged."""
    rows: list[list[tuple[float, float]]] = [[] for _ in index]
    known = np.isin(t["person_id"], list(index))
    pid, tid, time = t["person_id"][known], t["track_id"][known], t["time_s"][known]
    if len(pid) == 0:
        return rows
    order = np.lexsort((time, tid, pid))
    pid, tid, time = pid[order], tid[order], time[order]
    bounds = np.flatnonzero((np.diff(pid) != 0) | (np.diff(tid) != 0)) + 1
    starts, ends = np.r_[0, bounds], np.r_[bounds, len(pid)]
    for s, e in sorted(zip(starts, ends), key=lambda se: time[se[0]]):
        row, a, b = rows[index[int(pid[s])]], float(time[s]), float(time[e - 1]) + step
        if row and a <= row[-1][1] + 1e-6:
            row[-1] = (row[-1][0], max(row[-1][1], b))
        else:
            row.append((a, b))
    return rows


def _path(segments: list[tuple[float, float]], scale: float, y: float) -> str:
    """SVG path data, one horizontal stroke per segment, snapped to a PIXEL grid so a row never holds
    more than (plot width / PIXEL) strokes however long and busy the episode is."""
    cells: list[list[int]] = []
    for a, b in segments:
        lo, hi = int((PLOT_X0 + a * scale) // PIXEL), int(-(-(PLOT_X0 + b * scale) // PIXEL))
        hi = max(hi, lo + 1)
        if cells and lo <= cells[-1][1]:
            cells[-1][1] = max(cells[-1][1], hi)
        else:
            cells.append([lo, hi])
    return "".join(f"M{lo * PIXEL:g} {y:g}h{(hi - lo) * PIXEL:g}" for lo, hi in cells)


def _thumbs(t: dict, rows: np.ndarray, cap: int) -> list[dict]:
    """Up to `cap` faces of one person (bodies if it has no face): the middle one of each track first
    (spread over time), then more evenly over time; ordered by time."""
    faces = rows[t["face"][rows]]
    rows = faces if len(faces) else rows
    folder = "faces" if len(faces) else "bodies"
    rows = rows[np.argsort(t["time_s"][rows], kind="stable")]
    tracks = t["track_id"][rows]
    firsts = [rows[tracks == k] for k in np.unique(tracks)]
    chosen = [r[len(r) // 2] for r in firsts]
    if len(chosen) > cap:
        chosen = [chosen[i] for i in np.linspace(0, len(chosen) - 1, cap).round().astype(int)]
    elif len(chosen) < cap:
        rest = np.setdiff1d(rows, chosen)
        extra = rest[np.linspace(0, len(rest) - 1, min(cap - len(chosen), len(rest))).round().astype(int)] \
            if len(rest) else []
        chosen = list(chosen) + list(extra)
    chosen = sorted(set(int(c) for c in chosen), key=lambda r: t["time_s"][r])
    return [{"src": f"thumbs/{folder}/{int(t['detection_id'][r])}.jpg", "id": int(t["detection_id"][r]),
             "track": int(t["track_id"][r]), "time": fmt_time(t["time_s"][r]), "body": folder == "bodies"}
            for r in chosen]


def _coappearance(t: dict, index: dict[int, int]) -> np.ndarray:
    """(P, P) number of sampled frames in which both people are seen."""
    known = np.isin(t["person_id"], list(index))
    if not known.any():
        return np.zeros((len(index), len(index)), np.int64)
    frames, f_idx = np.unique(t["frame_index"][known], return_inverse=True)
    p_idx = np.array([index[int(p)] for p in t["person_id"][known]], np.int64)
    m = np.zeros((len(frames), len(index)), np.float32)
    m[f_idx, p_idx] = 1.0
    return np.rint(m.T @ m).astype(np.int64)


def video_link(folder: Path, info: dict) -> str | None:
    """The input video as a URL relative to report.html: the file beside the report (same name), else the
    recorded input path when it exists and a relative path reaches it; None when there is no file."""
    path = Path(info.get("path") or "")
    if not path.name:
        return None
    if (folder / path.name).is_file():
        return quote(path.name)
    if not path.is_file():
        return None
    try:
        rel = os.path.relpath(path.resolve(), folder.resolve())
    except ValueError:  # another drive
        return None
    return "/".join(quote(part) for part in Path(rel).parts)


def _appearances(person: dict, link: str | None) -> list[dict]:
    out = []
    for a, b in (person.get("appearances") or [])[:INTERVALS_SHOWN]:
        out.append({"text": f"{fmt_time(a)}-{fmt_time(b)}", "href": f"{link}#t={a:g},{b:g}" if link else None})
    return out


def _unassigned(t: dict) -> list[dict]:
    """Up to UNASSIGNED_THUMBS faces that belong to nobody, spread over time."""
    rows = np.flatnonzero(t["face"] & (t["person_id"] < 0))
    rows = rows[np.argsort(t["time_s"][rows], kind="stable")]
    if len(rows) > UNASSIGNED_THUMBS:
        rows = rows[np.linspace(0, len(rows) - 1, UNASSIGNED_THUMBS).round().astype(int)]
    return [{"src": f"thumbs/faces/{int(t['detection_id'][r])}.jpg", "id": int(t["detection_id"][r]),
             "track": int(t["track_id"][r]), "time": fmt_time(t["time_s"][r])} for r in rows]


def _models(manifest: dict) -> list[dict]:
    """Each model file once (a backend listed by two stages is one file)."""
    seen, out = set(), []
    for m in manifest.get("models", []) or []:
        if not isinstance(m, dict):
            continue
        key = (m.get("name"), m.get("path"), m.get("sha256"))
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def build_context(folder: Path, table, people: list[dict], manifest: dict, edits: list) -> dict:
    t = _columns(table)
    folder = Path(folder).resolve()
    config = manifest.get("config", {})
    fps = float(config.get("fps") or 1.0)
    step = 1.0 / fps
    info = manifest.get("input", {})
    analysed = float(manifest.get("analysed_seconds") or 0.0)
    video_s = float(info.get("duration_s") or 0.0) or analysed  # what the container says
    duration = max(analysed or video_s, 1e-3)  # the timeline spans what was analysed
    link = video_link(folder, info)
    index = {int(p["id"]): i for i, p in enumerate(people)}
    label = {int(p["id"]): p.get("name") or f"person {p['id']}" for p in people}
    segments = _segments(t, index, step)
    co = _coappearance(t, index)
    order = np.argsort(t["person_id"], kind="stable")
    bounds = np.searchsorted(t["person_id"][order], [[int(p["id"]), int(p["id"]) + 1] for p in people]) \
        if people else np.zeros((0, 2), int)
    cap = int(config.get("max_thumbs_per_person") or DEFAULT_THUMBS)
    scale = (PLOT_X1 - PLOT_X0) / duration
    cards = []
    for i, p in enumerate(people):
        pid = int(p["id"])
        others = [j for j in np.argsort(-co[i]) if j != i and co[i, j] > 0][:3]
        cards.append({**p, "label": label[pid], "color": color(pid), "y": AXIS_H + i * ROW_H,
                      "intervals": _appearances(p, link),
                      "more_intervals": max(0, len(p.get("appearances") or []) - INTERVALS_SHOWN),
                      "body_thumbnail": "/bodies/" in (p.get("thumbnail") or ""),
                      "together": [(people[j]["id"], label[int(people[j]["id"])], int(co[i, j])) for j in others],
                      "path": _path(segments[i], scale, AXIS_H + (i + 0.5) * ROW_H),
                      "segments": len(segments[i]),
                      "thumbs": _thumbs(t, order[bounds[i][0]:bounds[i][1]], cap)})
    iu, ju = np.triu_indices(len(people), 1)
    pairs = sorted(((int(co[a, b]), a, b) for a, b in zip(iu, ju) if co[a, b] > 0), reverse=True)[:TOP_PAIRS]
    tick = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600) if duration / s <= 12), 7200)
    return {
        "title": Path(info.get("path") or folder.name).name, "manifest": manifest, "people": cards,
        "pairs": [{"a": cards[a], "b": cards[b], "frames": n, "seconds": round(n * step, 1)} for n, a, b in pairs],
        "duration": duration, "video_seconds": video_s, "partial": bool(analysed and video_s - analysed > step),
        "video_link": link, "csp": CSP, "unassigned": _unassigned(t),
        "folder": str(folder), "edits": edits,
        "config": sorted(config.items()), "models": _models(manifest),
        "counts": manifest.get("counts", {}), "timings": manifest.get("timings_s", {}),
        "changes": manifest.get("changes", [])[-20:],
        "noise": int((t["face"] & (t["person_id"] < 0)).sum()),
        "noise_bodies": int((~t["face"] & (t["person_id"] < 0)).sum()),
        "bodies": int((~t["face"]).sum()),
        "svg": {"width": 1000, "height": AXIS_H + max(len(people), 1) * ROW_H + 6, "x0": PLOT_X0,
                "x1": PLOT_X1, "row": ROW_H, "axis": AXIS_H,
                "ticks": [(round(PLOT_X0 + s * scale, 1), fmt_time(s)) for s in np.arange(0, duration + 1e-9, tick)]},
        "thumb_cap": cap,
    }


def render_report(folder, table, people: list[dict], manifest: dict, edits: list, frames=None) -> str:
    """report.html as text, from the data a commit is about to write (it never reads OUTDIR's files)."""
    context = build_context(Path(folder), table, people, manifest, edits)
    return _environment().get_template(TEMPLATE).render(**context)
