"""Face <-> person association and clothing regions, in pure numpy geometry (no models).

Why geometry: a face detector and a person detector see the same people independently; linking them per
frame lets clothing vouch for a face track and lets a person seen without a usable face join the right
identity. The clothing region is where colour and texture say most about an outfit (the torso), kept
away from the face (whose colours are skin and hair, shared by everyone) and the background.

All boxes are (N, 4) float x1, y1, x2, y2 in image pixels; image_shape is (height, width[, channels]).
"""

from __future__ import annotations

import numpy as np

from .assignment import min_cost_assignment

# a face must have this share of its area inside the person box ...
MIN_CONTAINMENT = 0.6
# ... and its centre in the top part of the box: 0.5 accepts head-and-shoulders boxes, where the face is
# lower in the box than in a standing person's (about 0.07 of the height)
MAX_FACE_CENTRE = 0.5
# face width / person width below which a face is probably someone else's (a far face in a near body)
TYPICAL_FACE_SHARE = 0.15
MIN_CLOTHING_SIDE = 8  # pixels; smaller clothing boxes carry too few pixels for a colour histogram


def _as_boxes(boxes) -> np.ndarray:
    return np.asarray(boxes if boxes is not None else np.zeros((0, 4)), np.float32).reshape(-1, 4)


def association_scores(face_boxes, person_boxes) -> np.ndarray:
    """(F, P) score in [0, 1] that face f is the face of person p; 0 where it cannot be.

    score = containment * (1 - horizontal offset of the face centre from the box centre, in box widths)
            * (1 - face centre height in the box, in box heights) * min(1, face share / TYPICAL_FACE_SHARE)
    so a face high and central in a box of plausible size wins over the same face low or off-centre in
    an overlapping box. Zero unless containment >= MIN_CONTAINMENT and centre height <= MAX_FACE_CENTRE.
    """
    f, p = _as_boxes(face_boxes), _as_boxes(person_boxes)
    if not len(f) or not len(p):
        return np.zeros((len(f), len(p)), np.float32)
    fw, fh = f[:, 2] - f[:, 0], f[:, 3] - f[:, 1]
    pw, ph = np.maximum(p[:, 2] - p[:, 0], 1e-6), np.maximum(p[:, 3] - p[:, 1], 1e-6)
    iw = (np.minimum(f[:, None, 2], p[None, :, 2]) - np.maximum(f[:, None, 0], p[None, :, 0])).clip(0)
    ih = (np.minimum(f[:, None, 3], p[None, :, 3]) - np.maximum(f[:, None, 1], p[None, :, 1])).clip(0)
    containment = iw * ih / np.maximum(fw * fh, 1e-6)[:, None]
    fcx, fcy = (f[:, 0] + f[:, 2]) / 2, (f[:, 1] + f[:, 3]) / 2
    dx = np.abs(fcx[:, None] - (p[None, :, 0] + p[None, :, 2]) / 2) / pw[None]
    rel_y = (fcy[:, None] - p[None, :, 1]) / ph[None]
    share = np.minimum(1.0, fw[:, None] / pw[None] / TYPICAL_FACE_SHARE)
    score = containment * (1 - dx).clip(0) * (1 - rel_y).clip(0) * share
    ok = (containment >= MIN_CONTAINMENT) & (rel_y >= 0) & (rel_y <= MAX_FACE_CENTRE)
    return np.where(ok, score, 0.0).astype(np.float32)


def associate_faces(face_boxes, person_boxes) -> np.ndarray:
    """Person index for each face, or -1: (F,) int64.

    One-to-one (a person has one face, a face one person), chosen by optimal assignment (maximising the
    summed association_scores; facecluster.assignment, not scipy.optimize, whose import stalled the first
    frames); pairs scoring 0 are dropped.
    """
    scores = association_scores(face_boxes, person_boxes)
    result = np.full(scores.shape[0], -1, np.int64)
    if scores.size:
        rows, cols = min_cost_assignment(-scores.astype(np.float64))
        good = scores[rows, cols] > 0
        result[rows[good]] = cols[good]
    return result


def faces_per_person(face_boxes, assignment, n_persons: int) -> np.ndarray:
    """(P, 4) face box of each person from associate_faces' result, NaN rows for persons without one."""
    out = np.full((n_persons, 4), np.nan, np.float32)
    faces = _as_boxes(face_boxes)
    for face, person in enumerate(np.asarray(assignment).reshape(-1)):
        if person >= 0:
            out[person] = faces[face]
    return out


def _finish(boxes: np.ndarray, intended_area: np.ndarray, image_shape, min_side: float,
            min_visible: float) -> tuple[np.ndarray, np.ndarray]:
    """Clip to the image; valid = both sides >= min_side and >= min_visible of the intended area left."""
    h, w = image_shape[:2]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    valid = (bw >= min_side) & (bh >= min_side) & (bw * bh >= min_visible * np.maximum(intended_area, 1e-6))
    valid &= np.isfinite(boxes).all(1)
    boxes[~np.isfinite(boxes)] = 0
    return boxes.astype(np.float32), valid


def clothing_boxes_from_persons(face_boxes, person_boxes, image_shape, min_side: float = MIN_CLOTHING_SIDE,
                                min_visible: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Torso box of each person -> (boxes (P, 4) float32, valid (P,) bool).

    face_boxes: None, or (P, 4) aligned with person_boxes (faces_per_person), NaN rows = no face.
    With a face (width fw, height fh, centre fcx): x from fcx - 1.25 fw to fcx + 1.25 fw, y from the chin
    + 0.25 fh down 3 fh (chin to hips is about 3 head heights), intersected with the person box.
    Without a face: the upper-middle of the person box, x over its central 60 %, y from 20 % to 60 % of its
    height: below the head of a standing person (~13 % of the height), above the legs (from ~50 %), and still
    on the shirt when the box is a seated / head-and-torso person.
    Boxes with a side < min_side or with less than min_visible of their area left inside the person box
    and image are flagged invalid (their coordinates are still returned, clipped). The low default keeps
    webcam framings, where the person box stops at the frame's bottom edge a little below the chest.
    """
    p = _as_boxes(person_boxes).astype(np.float64)
    pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    boxes = np.stack([p[:, 0] + 0.2 * pw, p[:, 1] + 0.2 * ph, p[:, 2] - 0.2 * pw, p[:, 1] + 0.6 * ph], 1)
    if face_boxes is not None and len(p):
        f = np.asarray(face_boxes, np.float64).reshape(-1, 4)
        if len(f) != len(p):
            raise ValueError(f"face_boxes must be aligned with person_boxes ({len(p)} rows, NaN for no face; "
                             f"see faces_per_person), got {len(f)} rows")
        has = np.isfinite(f).all(1)
        fw, fh, fcx = f[:, 2] - f[:, 0], f[:, 3] - f[:, 1], (f[:, 0] + f[:, 2]) / 2
        torso = np.stack([fcx - 1.25 * fw, f[:, 3] + 0.25 * fh, fcx + 1.25 * fw, f[:, 3] + 3.25 * fh], 1)
        boxes[has] = torso[has]
    intended = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    boxes[:, :2] = np.maximum(boxes[:, :2], p[:, :2])
    boxes[:, 2:] = np.minimum(boxes[:, 2:], p[:, 2:])
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
    return _finish(boxes, intended, image_shape, min_side, min_visible)


def clothing_boxes_from_faces(face_boxes, image_shape, min_side: float = MIN_CLOTHING_SIDE,
                              min_visible: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Face-anchored clothing box for when no person detector runs -> (boxes (F, 4) float32, valid (F,) bool).

    Geometry (face width fw, height fh, centre fcx): 2.25 fw wide centred on fcx (shoulder width is about
    2-2.5 face widths), from 0.5 fh below the chin (skipping the neck) down 2 fh (the chest), clipped to
    the image. Invalid when a side is < min_side or less than min_visible of the box is inside the image
    (a face at the bottom edge has no visible clothing).
    """
    f = _as_boxes(face_boxes).astype(np.float64)
    fw, fh, fcx = f[:, 2] - f[:, 0], f[:, 3] - f[:, 1], (f[:, 0] + f[:, 2]) / 2
    boxes = np.stack([fcx - 1.125 * fw, f[:, 3] + 0.5 * fh, fcx + 1.125 * fw, f[:, 3] + 2.5 * fh], 1)
    intended = 2.25 * fw * 2 * fh
    return _finish(boxes, intended, image_shape, min_side, min_visible)


def body_boxes_from_faces(face_boxes, image_shape, min_side: float = MIN_CLOTHING_SIDE,
                          min_visible: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Estimated whole-person box for faces no person box holds, for re-ID models trained on full bodies:
    3 face widths wide, from half a face height above the face to 7 face heights below its top (a standing
    adult is about 7.5 heads tall), clipped to the image."""
    f = _as_boxes(face_boxes).astype(np.float64)
    fw, fh, fcx = f[:, 2] - f[:, 0], f[:, 3] - f[:, 1], (f[:, 0] + f[:, 2]) / 2
    boxes = np.stack([fcx - 1.5 * fw, f[:, 1] - 0.5 * fh, fcx + 1.5 * fw, f[:, 1] + 7.0 * fh], 1)
    return _finish(boxes, 3 * fw * 7.5 * fh, image_shape, min_side, min_visible)
