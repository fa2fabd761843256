"""Drawing for the episode synthesizer: backgrounds, dressed figures with a pasted face, occluders.

Why drawn figures: the pipeline groups people by face and, later, by clothing, so every identity wears
one outfit for the whole episode (identity-specific colour, pattern and trousers) and its head is a real
labelled face photo. Figures are sprites (BGR + alpha) with their face and person boxes in sprite pixels,
so the ground truth is exactly what was drawn. Backgrounds are rooms made of gradients, low-frequency
noise and furniture-like shapes, different for every shot.
"""

from __future__ import annotations

import dataclasses

from dataclasses import dataclass

import cv2
import numpy as np

from .photos import FacePhoto

PATTERNS = ("solid", "hstripes", "vstripes", "checks", "dots")


@dataclass
class Style:
    """An identity's look for a whole episode."""

    clothing: tuple[int, int, int]  # BGR, main colour of the top
    accent: tuple[int, int, int]  # BGR, pattern colour
    trousers: tuple[int, int, int]
    hair: tuple[int, int, int]
    pattern: str
    period: float  # pattern period in face heights


@dataclass
class Sprite:
    image: np.ndarray  # BGR uint8
    alpha: np.ndarray  # float32 0..1
    face: np.ndarray | None  # (4,) face box in sprite pixels; None when seen from behind
    person: np.ndarray  # (4,) box of everything drawn
    anchor: tuple[float, float]  # centre of the face (or of where it would be) in sprite pixels


def _bgr(h: float, s: float, v: float) -> tuple[int, int, int]:
    px = cv2.cvtColor(np.uint8([[[int(h * 180) % 180, int(s * 255), int(v * 255)]]]), cv2.COLOR_HSV2BGR)
    return tuple(int(c) for c in px[0, 0])


def make_styles(n: int, rng: np.random.Generator) -> list[Style]:
    """n well separated outfits: hues evenly spread (shuffled), saturation/brightness varied."""
    hues = (rng.random() + np.arange(n) / n) % 1.0
    rng.shuffle(hues)
    styles = []
    for i, hue in enumerate(hues):
        sat, val = rng.uniform(0.55, 0.95), rng.uniform(0.5, 0.9)
        hair = [(30, 30, 35), (25, 45, 70), (60, 100, 150), (20, 20, 20), (90, 90, 95)][rng.integers(5)]
        styles.append(Style(_bgr(hue, sat, val), _bgr(hue + rng.uniform(0.25, 0.75), 0.5, rng.uniform(0.3, 0.95)),
                            _bgr(rng.random(), rng.uniform(0.1, 0.5), rng.uniform(0.15, 0.45)), hair,
                            PATTERNS[i % len(PATTERNS)], float(rng.uniform(0.18, 0.35))))
    return styles


def background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A room: wall gradient + soft blotches, floor, windows/doors/shelves/lamps, slight blur."""
    hue = rng.random()
    c1, c2 = (np.float32(_bgr(hue + rng.uniform(-0.08, 0.08), rng.uniform(0.05, 0.35), rng.uniform(0.3, 0.9)))
              for _ in range(2))
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = ((xx / w) * np.cos(angle) + (yy / h) * np.sin(angle))
    t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    img = c1[None, None, :] * (1 - t[..., None]) + c2[None, None, :] * t[..., None]
    blotch = cv2.resize(rng.normal(0, 12, (6, 10)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img + blotch[..., None], 0, 255).astype(np.uint8)
    floor_y = int(h * rng.uniform(0.62, 0.85))
    img[floor_y:] = (img[floor_y:] * rng.uniform(0.45, 0.8)).astype(np.uint8)
    for _ in range(rng.integers(3, 9)):
        colour = _bgr(rng.random(), rng.uniform(0.1, 0.8) ** 2, rng.uniform(0.15, 0.95))
        x, y = int(rng.uniform(-0.1, 1) * w), int(rng.uniform(0, 0.8) * h)
        bw, bh = int(rng.uniform(0.04, 0.3) * w), int(rng.uniform(0.05, 0.5) * h)
        kind = rng.integers(3)
        if kind == 0:  # window / picture with a frame
            cv2.rectangle(img, (x, y), (x + bw, y + bh), colour, -1)
            cv2.rectangle(img, (x, y), (x + bw, y + bh), tuple(c // 2 for c in colour), max(2, w // 300))
        elif kind == 1:  # lamp / plant pot
            cv2.ellipse(img, (x, y), (bw // 3, bh // 4), 0, 0, 360, colour, -1, cv2.LINE_AA)
        else:  # shelf / table on the floor
            cv2.rectangle(img, (x, floor_y - bh // 3), (x + bw, floor_y + bh // 6), colour, -1)
    return cv2.GaussianBlur(img, (0, 0), max(0.8, w / 900))


def _pattern(style: Style, h: int, w: int, face_h: float, rng: np.random.Generator) -> np.ndarray:
    """Clothing texture image (BGR uint8) of size h x w: the style's pattern plus fabric noise."""
    period = max(3.0, style.period * face_h)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    on = {"solid": np.zeros((h, w), bool), "hstripes": (yy // (period / 2)) % 2 == 1,
          "vstripes": (xx // (period / 2)) % 2 == 1,
          "checks": ((yy // period) + (xx // period)) % 2 == 1,
          "dots": ((yy % period - period / 2) ** 2 + (xx % period - period / 2) ** 2) < (period / 4) ** 2,
          }[style.pattern]
    img = np.where(on[..., None], np.float32(style.accent), np.float32(style.clothing))
    noise = cv2.GaussianBlur(rng.normal(1.0, 0.06, (h, w)).astype(np.float32), (0, 0), 1.0)
    return np.clip(img * noise[..., None], 0, 255).astype(np.uint8)


def back_of_head(photo: FacePhoto, style: Style) -> FacePhoto:
    """The person's photo blurred past recognition and tinted with their hair colour: a head seen from
    behind that a person detector takes for a head, while no face detector finds a face in it."""
    h = float(photo.face[3] - photo.face[1])
    blurred = cv2.GaussianBlur(photo.image, (0, 0), max(2.0, h / 6))
    tinted = 0.45 * blurred.astype(np.float32) + 0.55 * np.float32(style.hair)
    return dataclasses.replace(photo, image=tinted.astype(np.uint8))


def figure(photo: FacePhoto | None, style: Style, face_h: float, rng: np.random.Generator,
           mirror: bool = False, face_aspect: float = 0.8, back: bool = False) -> Sprite:
    """A standing person whose face box is `face_h` pixels tall. `back` draws the head from behind (from
    the photo when given, else a plain hair-coloured head) and gives no face box."""
    if photo is not None and back:
        photo = back_of_head(photo, style)
    if photo is not None:
        s = face_h / float(photo.face[3] - photo.face[1])
        head = cv2.resize(photo.image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        face = photo.face * s
        if mirror:
            head = head[:, ::-1]
            face = np.array([head.shape[1] - face[2], face[1], head.shape[1] - face[0], face[3]], np.float32)
        fw = float(face[2] - face[0])
    else:
        fw = face_h * face_aspect
    F = face_h
    S = 2.5 * fw + 0.1 * F  # shoulder width
    W = int(np.ceil(S + 0.8 * fw + 4))
    H = int(np.ceil(F * 7.6 + 4))
    cx, fy1 = W / 2, 0.45 * F + 2  # face box top
    fy2 = fy1 + F
    img = np.zeros((H, W, 3), np.uint8)
    mask = np.zeros((H, W), np.uint8)
    sh = lambda v: int(round(v * 4))  # noqa: E731  sub-pixel drawing (shift=2)
    top, waist, hip = fy2 + 0.28 * F, fy2 + 2.9 * F, fy2 + 3.1 * F
    # legs (trousers), then torso, arms, neck, hair, head; mask collects the silhouette
    legs = np.zeros_like(mask)
    for side in (-1, 1):
        x0 = cx + side * 0.05 * S
        x1 = cx + side * 0.42 * S
        pts = np.array([[x0, waist], [x1, waist], [cx + side * 0.36 * S, H - 2], [cx + side * 0.08 * S, H - 2]])
        cv2.fillPoly(legs, [np.int32(pts * 4)], 255, cv2.LINE_AA, 2)
    img[legs > 0] = style.trousers
    torso = np.zeros_like(mask)
    pts = np.array([[cx - S / 2, top + 0.35 * F], [cx + S / 2, top + 0.35 * F], [cx + 0.44 * S, hip],
                    [cx - 0.44 * S, hip]])
    cv2.fillPoly(torso, [np.int32(pts * 4)], 255, cv2.LINE_AA, 2)
    cv2.ellipse(torso, (sh(cx), sh(top + 0.4 * F)), (sh(S / 2), sh(0.42 * F)), 0, 180, 360, 255, -1, cv2.LINE_AA, 2)
    for side in (-1, 1):  # arms hang at the sides
        ax = cx + side * (S / 2 + 0.02 * fw)
        arm = np.array([[ax - 0.2 * fw, top + 0.4 * F], [ax + 0.2 * fw, top + 0.4 * F],
                        [ax + side * 0.28 * fw + 0.18 * fw, hip + 0.3 * F],
                        [ax + side * 0.28 * fw - 0.18 * fw, hip + 0.3 * F]])
        cv2.fillPoly(torso, [np.int32(arm * 4)], 255, cv2.LINE_AA, 2)
    cloth = _pattern(style, H, W, F, rng)
    sel = torso > 0
    img[sel] = cloth[sel]
    mask = np.maximum(legs, torso)
    skin = (150, 170, 200) if photo is None else _skin(head, face)
    neck = (sh(cx - 0.22 * fw), sh(fy2 - 0.2 * F)), (sh(cx + 0.22 * fw), sh(top + 0.3 * F))
    cv2.rectangle(img, *neck, skin, -1, cv2.LINE_AA, 2)
    cv2.rectangle(mask, *neck, 255, -1, cv2.LINE_AA, 2)
    hair_c = (sh(cx), sh(fy1 + 0.42 * F))
    hair_ax = (sh(0.6 * fw), sh(0.62 * F)) if photo is not None else (sh(0.58 * fw), sh(0.6 * F))
    cv2.ellipse(img, hair_c, hair_ax, 0, 0, 360, style.hair, -1, cv2.LINE_AA, 2)
    cv2.ellipse(mask, hair_c, hair_ax, 0, 0, 360, 255, -1, cv2.LINE_AA, 2)
    alpha = mask.astype(np.float32) / 255
    head_box = None
    if photo is not None:  # paste the head: face box centred at (cx, fy1..fy2), soft elliptical edge
        ox, oy = cx - (face[0] + face[2]) / 2, fy1 - face[1]
        hh, hw = head.shape[:2]
        soft = np.zeros((hh, hw), np.float32)
        cv2.ellipse(soft, (hw // 2, hh // 2), (int(hw * 0.56), int(hh * 0.56)), 0, 0, 360, 1.0, -1)
        soft = cv2.GaussianBlur(soft, (0, 0), max(1.0, 0.04 * min(hh, hw)))
        x0, y0 = int(round(ox)), int(round(oy))
        paste(img, alpha, head, soft, x0, y0)
        head_box = face + np.array([x0, y0, x0, y0], np.float32)
    ys, xs = np.nonzero(alpha > 0.05)
    person = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
    if head_box is not None:
        person = np.concatenate([np.minimum(person[:2], head_box[:2]), np.maximum(person[2:], head_box[2:])])
    box = None if back else head_box
    return Sprite(img, alpha, box, person, (cx, fy1 + F / 2))


def _skin(head: np.ndarray, face: np.ndarray) -> tuple[int, int, int]:
    """Median colour of the chin/cheek area (lower middle of the face box, inside the photo)."""
    h, w = head.shape[:2]
    fw, fh = face[2] - face[0], face[3] - face[1]
    x1, x2 = int(np.clip(face[0] + 0.3 * fw, 0, w - 1)), int(np.clip(face[2] - 0.3 * fw, 1, w))
    y1, y2 = int(np.clip(face[1] + 0.6 * fh, 0, h - 1)), int(np.clip(face[3] - 0.05 * fh, 1, h))
    patch = head[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)].reshape(-1, 3)
    return tuple(int(c) for c in np.median(patch, axis=0))


def paste(dst: np.ndarray, dst_alpha: np.ndarray | None, src: np.ndarray, alpha: np.ndarray, x: int, y: int):
    """Alpha-blend src (with per-pixel alpha) onto dst at (x, y), clipped to dst; dst_alpha is maxed in."""
    H, W = dst.shape[:2]
    h, w = src.shape[:2]
    x1, y1, x2, y2 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 >= x2 or y1 >= y2:
        return
    a = alpha[y1 - y:y2 - y, x1 - x:x2 - x, None]
    roi = dst[y1:y2, x1:x2]
    roi[:] = (roi * (1 - a) + src[y1 - y:y2 - y, x1 - x:x2 - x] * a + 0.5).astype(np.uint8)
    if dst_alpha is not None:
        np.maximum(dst_alpha[y1:y2, x1:x2], a[..., 0], out=dst_alpha[y1:y2, x1:x2])


def occluder(rng: np.random.Generator, face: np.ndarray, canvas_hw: tuple[int, int]):
    """Something in front of a face covering part of it: a pole, leaves or a held object.
    Returns (BGR image, alpha, x, y): a sprite cut to its extent and its top-left in canvas pixels."""
    H, W = canvas_hw
    mask = np.zeros((H, W), np.uint8)
    x1, y1, x2, y2 = face
    fw, fh = x2 - x1, y2 - y1
    kind = rng.integers(3)
    colour = tuple(int(c) for c in rng.uniform(30, 200, 3))
    if kind == 0:  # vertical pole over one side of the face, floor to ceiling
        cover = rng.uniform(0.22, 0.4) * fw
        px = x1 - 0.1 * fw if rng.random() < 0.5 else x2 + 0.1 * fw - cover
        cv2.rectangle(mask, (int(px), 0), (int(px + cover), H), 255, -1)
    elif kind == 1:  # leaves rising to the lower face
        for _ in range(9):
            c = (int(rng.uniform(x1 - 0.3 * fw, x2 + 0.3 * fw)), int(y2 + rng.uniform(-0.2, 0.5) * fh))
            ax = (int(rng.uniform(0.15, 0.3) * fw), int(rng.uniform(0.1, 0.2) * fh))
            cv2.ellipse(mask, c, ax, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
        colour = (int(rng.uniform(20, 60)), int(rng.uniform(90, 160)), int(rng.uniform(20, 60)))
    else:  # a cup / microphone / phone held in front of the mouth
        cx = rng.uniform(x1 + 0.3 * fw, x2 - 0.3 * fw)
        cv2.rectangle(mask, (int(cx - 0.22 * fw), int(y1 + 0.62 * fh)), (int(cx + 0.22 * fw), int(y2 + 1.5 * fh)),
                      255, -1, cv2.LINE_AA)
    img = np.full((H, W, 3), colour, np.uint8)
    shade = cv2.GaussianBlur(rng.normal(1, 0.08, (H // 8 + 1, W // 8 + 1)).astype(np.float32), (0, 0), 2)
    img = np.clip(img * cv2.resize(shade, (W, H))[..., None], 0, 255).astype(np.uint8)
    x, y, w, h = cv2.boundingRect(cv2.dilate(mask, None))
    alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32) / 255
    return img[y:y + h, x:x + w].copy(), alpha[y:y + h, x:x + w].copy(), x, y
