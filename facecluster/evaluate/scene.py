"""Shots of the synthetic episode: who is in each (planned up front, cheap) and its frames (drawn lazily).

Why this split: the shot plan is small and goes into the truth header before any frame is drawn, while
a shot's canvas (background, figures, occluder) is built only when the shot is rendered and dropped
after, so memory stays flat however long the episode. Each shot is a static scene on a canvas 1.25x the
frame, filmed by a camera that slowly pans and zooms (a pure scale + shift, so boxes map exactly);
people stand in separate slots so one never hides another's face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import render

SCALES_BY_PEOPLE = {1: {"close": 0.45, "medium": 0.4, "wide": 0.15},
                    2: {"close": 0.15, "medium": 0.55, "wide": 0.3}}
MARGIN = 1.25  # canvas size / frame size


@dataclass
class ShotPlan:
    index: int
    start: int
    frames: int
    cast: list[str]
    scale: str
    face_frac: list[float]  # face height / frame height per cast member
    back: list[bool]  # seen from behind
    walking: bool
    blur: bool
    occlusion: bool

    def summary(self) -> dict:
        return {"index": self.index, "start_frame": self.start, "end_frame": self.start + self.frames,
                "identities": self.cast, "scale": self.scale, "walking": self.walking, "blur": self.blur}


def plan_shots(rng: np.random.Generator, names: list[str], n_frames: int, fps: float, preset: dict) -> list[ShotPlan]:
    """Cut the episode into shots and cast each: balanced appearances, a few 'main characters'."""
    lo, hi = preset["shot_seconds"]
    base = {n: 1 / np.sqrt(r + 1) for n, r in zip(names, rng.permutation(len(names)))}
    counts = dict.fromkeys(names, 0)
    p_people = np.asarray(preset["people"], float)
    shots, start = [], 0
    while start < n_frames:
        length = int(round(rng.uniform(lo, hi) * fps))
        if n_frames - start - length < lo * fps / 2:
            length = n_frames - start
        n = min(int(rng.choice(np.arange(1, len(p_people) + 1), p=p_people / p_people.sum())), len(names))
        w = np.array([base[x] / (1 + counts[x]) for x in names])
        cast = [str(x) for x in rng.choice(names, n, replace=False, p=w / w.sum())]
        for x in cast:
            counts[x] += 1
        odds = SCALES_BY_PEOPLE.get(n, {"close": 0.0, "medium": 0.6, "wide": 0.4})
        scale = str(rng.choice(list(odds), p=list(odds.values())))
        frac = [float(rng.uniform(*preset[scale])) for _ in cast]
        back = [bool(rng.random() < preset["back"]) for _ in cast]
        shots.append(ShotPlan(len(shots), start, length, cast, scale, frac, back, bool(rng.random() < preset["walk"]),
                              bool(rng.random() < preset["blur"]), bool(rng.random() < preset["occlusion"])))
        start += length
    return shots


def _camera(rng, CW, CH, W, H, blur):
    """Start and end crop rects (x, y, w, h) on the canvas: slow zoom, slow (or, with blur, faster) pan."""
    z0 = rng.uniform(1.04, MARGIN)
    z1 = float(np.clip(z0 + rng.uniform(-0.12, 0.12), 1.02, MARGIN))
    rects = []
    for z in (z0, z1):
        cw = CW / z
        ch = cw * H / W
        if not rects:
            cx, cy = rng.uniform(cw / 2, CW - cw / 2), rng.uniform(ch / 2, CH - ch / 2)
        else:
            cx = cx + rng.uniform(-1, 1) * (0.2 if blur else 0.06) * CW
            cy = cy + rng.uniform(-1, 1) * 0.03 * CH
        cx, cy = np.clip(cx, cw / 2, CW - cw / 2), np.clip(cy, ch / 2, CH - ch / 2)
        rects.append(np.array([cx - cw / 2, cy - ch / 2, cw, ch]))
    return rects


def render_shot(shot: ShotPlan, people: dict, styles: dict, rng: np.random.Generator, W: int, H: int):
    """Yield (BGR frame, truth objects) for every frame of the shot."""
    CW, CH = int(W * MARGIN) // 2 * 2, int(H * MARGIN) // 2 * 2
    canvas = render.background(rng, CW, CH)
    r0, r1 = _camera(rng, CW, CH, W, H, shot.blur)
    vx1, vy1 = max(r0[0], r1[0]), max(r0[1], r1[1])  # seen during the whole shot
    vx2, vy2 = min(r0[0] + r0[2], r1[0] + r1[2]), min(r0[1] + r0[3], r1[1] + r1[3])
    s_mid = W / ((r0[2] + r1[2]) / 2)
    slot = (vx2 - vx1) / len(shot.cast)
    actors = []
    for k, (name, frac, back) in enumerate(zip(shot.cast, shot.face_frac, shot.back)):
        F = min(frac * H / s_mid, slot / 2.9)
        photos = people[name]
        photo = photos[int(rng.integers(len(photos)))]
        sp = render.figure(photo, styles[name], F, rng, mirror=bool(rng.random() < 0.5), back=bool(back))
        cx = vx1 + slot * (k + 0.5 + rng.uniform(-0.12, 0.12))
        if shot.scale == "wide":
            y = vy1 + rng.uniform(0.82, 0.97) * (vy2 - vy1) - sp.image.shape[0]
        else:
            y = vy1 + rng.uniform(0.28, 0.42) * (vy2 - vy1) - sp.anchor[1]
        y = max(y, vy1 + 0.06 * (vy2 - vy1) + F / 2 - sp.anchor[1])  # tall figures: keep the head in view
        actors.append([name, sp, int(round(cx - sp.anchor[0])), int(round(y)), F])
    actors.sort(key=lambda a: a[4])  # nearer (bigger) people drawn last
    vx = 0.0
    if shot.walking:  # the group walks together towards the side with more room, faces stay in view
        fx1 = min(a[2] + (a[1].face if a[1].face is not None else a[1].person)[0] for a in actors)
        fx2 = max(a[2] + (a[1].face if a[1].face is not None else a[1].person)[2] for a in actors)
        room = (vx2 - fx2, -(fx1 - vx1))
        d = room[0] if room[0] > -room[1] else room[1]
        vx = float(np.sign(d) * min(abs(d), rng.uniform(0.04, 0.12) * (vx2 - vx1))) / max(1, shot.frames - 1)
    occ = None
    faced = [a for a in actors if a[1].face is not None]
    if shot.occlusion and faced:
        a = faced[int(rng.integers(len(faced)))]
        occ = render.occluder(rng, a[1].face + [a[2], a[3], a[2], a[3]], (CH, CW))
    gain, bias = rng.uniform(0.88, 1.1), rng.uniform(-8, 8)
    noise = [rng.integers(0, 4, (H, W, 3), dtype=np.uint8) for _ in range(2)]
    blur_k = max(3, int(rng.uniform(0.007, 0.015) * W)) if shot.blur else 0

    def compose(dx: int) -> np.ndarray:
        img = canvas.copy()
        for _, sp, x, y, _ in actors:
            render.paste(img, None, sp.image, sp.alpha, x + dx, y)
        if occ is not None:
            render.paste(img, None, occ[0], occ[1], occ[2], occ[3])
        return img

    static = compose(0) if not shot.walking else None
    for i in range(shot.frames):
        t = 0.5 - 0.5 * np.cos(np.pi * i / max(1, shot.frames - 1))
        x0, y0, cw, _ = r0 + (r1 - r0) * t
        s = W / cw
        dx = int(round(vx * i))
        M = np.float32([[s, 0, -s * x0 + 0.5 * s - 0.5], [0, s, -s * y0 + 0.5 * s - 0.5]])
        frame = cv2.warpAffine(static if static is not None else compose(dx), M, (W, H), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        if blur_k:
            frame = cv2.blur(frame, (blur_k, 1))
        frame = cv2.convertScaleAbs(frame, alpha=gain, beta=bias)
        frame = cv2.subtract(cv2.add(frame, noise[i % 2]), noise[1 - i % 2])
        yield frame, _objects(actors, dx, x0, y0, s, W, H, occ, shot.blur)


def _objects(actors, dx, x0, y0, s, W, H, occ, blur) -> list[dict]:
    """Truth for one frame: canvas boxes -> frame boxes, clipped, with visibility and tags."""
    out = []
    for name, sp, x, y, _ in actors:
        shift = np.array([x + dx, y, x + dx, y], np.float32)
        boxes = {"person": sp.person + shift} | ({} if sp.face is None else {"face": sp.face + shift})
        mapped = {}
        for kind, b in boxes.items():
            full = (b - np.float32([x0, y0, x0, y0])) * s
            clip = np.clip(full, 0, [W, H, W, H])
            area = (full[2] - full[0]) * (full[3] - full[1])
            vis = max(0.0, clip[2] - clip[0]) * max(0.0, clip[3] - clip[1]) / area
            mapped[kind] = (clip, vis, full)
        has_face = "face" in mapped and mapped["face"][1] >= 0.5 and min(
            mapped["face"][0][2:] - mapped["face"][0][:2]) >= 2
        for kind in ("face", "person"):
            if kind not in mapped or (kind == "face" and not has_face) or (
                    kind == "person" and mapped[kind][1] < 0.25 and not has_face):
                continue
            clip, vis, full = mapped[kind]
            tags = ["blur"] if blur else []
            if kind == "person" and sp.face is None:
                tags.append("back")
            if vis < 0.95:
                tags.append("partial")
            if kind == "face":
                if full[3] - full[1] < 24:
                    tags.append("tiny")
                if occ is not None and _covered(boxes["face"], occ) >= 0.1:
                    tags.append("occluded")
            out.append({"identity": name, "kind": kind, "box": [round(float(v), 2) for v in clip], "tags": tags})
    return out


def _covered(face: np.ndarray, occ) -> float:
    """Share of a canvas face box covered by the occluder sprite."""
    _, alpha, ox, oy = occ
    x1, y1 = int(max(face[0], ox)), int(max(face[1], oy))
    x2, y2 = int(min(face[2], ox + alpha.shape[1])), int(min(face[3], oy + alpha.shape[0]))
    if x1 >= x2 or y1 >= y2:
        return 0.0
    area = max(1.0, float((face[2] - face[0]) * (face[3] - face[1])))
    return float(alpha[y1 - oy:y2 - oy, x1 - ox:x2 - ox].sum()) / area
