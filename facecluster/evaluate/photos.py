"""Identity-labelled photos for the episode synthesizer: which photo shows whom, and where the face is.

Why a detector: the labelled sets mix tight face crops, crops that cut the forehead and full scene photos, so
"the whole photo is the face" is wrong for many of them. The face box of each photo is annotated once, on the
clean full-resolution photo, with the pipeline's own YuNet (detect/yunet.py; the official opencv_zoo model,
resolved through the model registry). The synthesizer pastes a head region around that box and maps the box
into the video, so the truth box is what a detector reports on the undegraded face; blur, scale, occlusion and
compression are then what the pipeline under test has to cope with. Photos with no face, a tiny face or two
comparable faces (the label would be ambiguous) are skipped. Without a model (`face_model=None`) every photo
is taken to be a tight face crop (the face box is the photo minus a small margin).
"""

from __future__ import annotations

import csv
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError

log = logging.getLogger("facecluster")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
# head region around the face box, in face widths (sides) / heights (top, bottom): hair, ears, chin
HEAD_MARGIN = (0.30, 0.40, 0.25)
MAX_FACE_PX = 260  # head crops are stored with faces at most this tall (memory, speed)


@dataclass
class FacePhoto:
    identity: str
    path: str  # relative to the faces folder
    image: np.ndarray  # BGR head region cut from the photo
    face: np.ndarray  # (4,) float32 x1,y1,x2,y2 face box in `image` pixels (may reach past its edges)


def read_labels(faces_dir: str | Path) -> list[tuple[str, str]]:
    """(relative path, identity) pairs from identity_labels.csv (file,identity) or one folder per identity."""
    root = Path(faces_dir)
    if not root.is_dir():
        raise InputError(f"faces folder not found: {root}; give a folder with identity_labels.csv "
                         f"(file,identity) or one sub-folder of photos per identity")
    labels = root / "identity_labels.csv"
    if labels.is_file():
        with open(labels, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not {"file", "identity"} <= set(reader.fieldnames or ()):
                raise InputError(f"{labels} must have the columns file,identity; found {reader.fieldnames}")
            pairs = [(r["file"].strip(), r["identity"].strip()) for r in reader if r["file"] and r["identity"]]
    else:
        pairs = [(str(p.relative_to(root)), d.name) for d in sorted(root.iterdir()) if d.is_dir()
                 for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not pairs:
        raise InputError(f"no labelled photos in {root}; add identity_labels.csv (file,identity) "
                         f"or one sub-folder of photos per identity")
    return sorted(pairs)


def _detector(face_model):
    if face_model is None:
        return None
    from ..detect.yunet import YuNet
    from ..models import resolve
    from ..registry import FaceDetectorOptions

    return YuNet(resolve(face_model), 0.7, FaceDetectorOptions())


def _find_face(detector, image: np.ndarray, min_face: int) -> np.ndarray | None:
    """The one clear face of a photo as x1,y1,x2,y2, or None (no face, tiny face, two comparable faces)."""
    h, w = image.shape[:2]
    if detector is None:
        return np.array([0.04 * w, 0.0, 0.96 * w, h], np.float32)
    scale = min(1.0, 900 / max(h, w))
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
    pad = int(0.3 * max(small.shape[:2]))  # tight crops need context around the face to be detected
    big = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    faces = detector(big)
    if not len(faces):
        return None
    areas = faces.widths * faces.heights
    order = np.argsort(-areas)
    if len(faces) > 1 and areas[order[1]] > 0.15 * areas[order[0]]:
        return None
    box = faces.boxes[order[0]].astype(np.float32)
    fw, fh = box[2] - box[0], box[3] - box[1]
    return (box - pad) / scale if min(fw, fh) / scale >= min_face else None


def head_region(image: np.ndarray, face: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut the head (face box plus HEAD_MARGIN, clipped to the photo); return (crop, face box in crop)."""
    h, w = image.shape[:2]
    fw, fh = face[2] - face[0], face[3] - face[1]
    mx, mt, mb = HEAD_MARGIN
    x1, y1 = int(max(0, face[0] - mx * fw)), int(max(0, face[1] - mt * fh))
    x2, y2 = int(min(w, np.ceil(face[2] + mx * fw))), int(min(h, np.ceil(face[3] + mb * fh)))
    crop, box = image[y1:y2, x1:x2], face - np.array([x1, y1, x1, y1], np.float32)
    scale = min(1.0, MAX_FACE_PX / fh)
    if scale < 1:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        box = box * scale
    return np.ascontiguousarray(crop), box.astype(np.float32)


def load_identities(faces_dir: str | Path, face_model: str | None = "yunet",
                    min_face: int = 40) -> dict[str, list[FacePhoto]]:
    """identity -> usable photos (duplicates by content removed), identities sorted by name."""
    root = Path(faces_dir)
    pairs = read_labels(root)
    detector = _detector(face_model)
    seen: set[str] = set()
    out: dict[str, list[FacePhoto]] = {}
    skipped = 0
    for rel, identity in pairs:
        path = root / rel
        try:
            data = path.read_bytes()
        except OSError:
            log.warning("synth: cannot read %s; skipped", path)
            continue
        digest = hashlib.sha1(data).hexdigest()
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if digest in seen or image is None:
            skipped += image is None
            continue
        seen.add(digest)
        face = _find_face(detector, image, min_face)
        if face is None:
            skipped += 1
            continue
        crop, box = head_region(image, face)
        out.setdefault(identity, []).append(FacePhoto(identity, rel, crop, box))
    log.info("synth: %d identities, %d photos usable, %d skipped (no single clear face)",
             len(out), sum(map(len, out.values())), skipped)
    if not out:
        raise InputError(f"no usable face photos in {root} (each needs one clear face of >= {min_face} px)")
    return dict(sorted(out.items()))
