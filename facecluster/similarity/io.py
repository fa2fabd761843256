"""Robust image loading for the similarity methods.

Every image becomes BGR uint8 (H, W, 3):
- JPEG EXIF orientation applied; grayscale -> replicated to 3 channels; RGBA/BGRA -> alpha-composited over white;
- 16-bit -> scaled by 1/257 to 8-bit; float -> assumed in [0, 1] (or [0, 255] when its max > 1), clipped;
- larger than MAX_SIDE on its long side -> downscaled (INTER_AREA) so it does;
- more than MAX_PIXELS in the file header -> InputError before decoding (decompression-bomb guard);
- missing, empty (0 bytes or 0x0 pixels), a folder or undecodable -> InputError saying which file and why.
A 1x1 image is valid; each method gives a defined result for it (usually a low score with a reason).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import InputError

log = logging.getLogger("facecluster")

MAX_SIDE = 1024
MAX_PIXELS = 150_000_000
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pgm", ".ppm", ".jfif"}


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header without decoding, None if PIL does not know the format."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.size
    except Image.DecompressionBombError:
        raise InputError(f"image {path} is too large (over {2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} "
                         f"megapixels); downscale it first") from None
    except Exception:  # not a format PIL knows: let OpenCV try
        return None


def _decode(path: Path) -> np.ndarray | None:
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    # JPEG: IMREAD_COLOR applies the EXIF orientation (as viewers show it); others: keep alpha and 16 bits
    flags = cv2.IMREAD_COLOR if data[:2].tobytes() == b"\xff\xd8" else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(data, flags) if data.size else None
    if image is not None:
        if image.ndim == 3 and image.shape[2] == 4:
            return np.concatenate([image[:, :, 2::-1], image[:, :, 3:]], axis=2)  # BGRA -> RGBA order
        return image[:, :, ::-1] if image.ndim == 3 else image  # -> RGB
    try:  # formats OpenCV lacks (e.g. some GIF/TIFF variants)
        from PIL import Image

        with Image.open(path) as im:
            im.seek(0)
            return np.asarray(im.convert("RGBA" if "A" in im.getbands() or im.mode == "P" else "RGB"))
    except Exception:
        return None


def load_image(path: str | os.PathLike, max_side: int = MAX_SIDE) -> np.ndarray:
    """Read an image file as BGR uint8, following the rules in the module docstring."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"image not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not an image")
    try:
        if path.stat().st_size == 0:
            raise InputError(f"image file {path} is empty (0 bytes)")
        size = _header_size(path)
        if size and size[0] * size[1] > MAX_PIXELS:
            raise InputError(f"image {path} is too large ({size[0]}x{size[1]} pixels, limit "
                             f"{MAX_PIXELS / 1e6:.0f} megapixels); downscale it first")
        rgb = _decode(path)
    except PermissionError:
        raise InputError(f"image {path} cannot be read: permission denied") from None
    except OSError as exc:
        raise InputError(f"image {path} cannot be read: {exc.strerror or exc}") from None
    if rgb is None:
        raise InputError(f"{path} is not a readable image (corrupt or unsupported format)")
    return as_image(rgb, max_side=max_side, rgb=True, name=str(path))


def as_image(image, max_side: int = MAX_SIDE, rgb: bool = False, name: str = "image") -> np.ndarray:
    """A path or an array (gray, BGR, BGRA; uint8/uint16/float) -> BGR uint8 (H, W, 3), long side <= max_side.
    Arrays are taken as OpenCV's BGR(A) order unless rgb=True."""
    import cv2

    if isinstance(image, (str, os.PathLike)):
        return load_image(image, max_side)
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise InputError(f"{name}: expected an (H, W), (H, W, 3) or (H, W, 4) image array, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise InputError(f"{name} is empty (0x0 pixels)")
    a = _to_uint8(a, name)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[:, :, 3:].astype(np.float32) / 255.0
        a = (a[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    if rgb:
        a = a[:, :, ::-1]
    a = np.ascontiguousarray(a)
    h, w = a.shape[:2]
    if max_side and max(h, w) > max_side:
        f = max_side / max(h, w)
        a = cv2.resize(a, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return a


def _to_uint8(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        return (a.astype(np.float32) / 257.0).round().astype(np.uint8)
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer):
        f = a.astype(np.float32)
        if not np.isfinite(f).all():
            f = np.nan_to_num(f, nan=0.0, posinf=255.0, neginf=0.0)
        if np.issubdtype(a.dtype, np.floating) and f.max(initial=0.0) <= 1.0:
            f = f * 255.0
        return f.clip(0, 255).round().astype(np.uint8)
    raise InputError(f"{name}: unsupported pixel type {a.dtype}")


def gray(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def list_images(folder: str | os.PathLike, skip: tuple[str, ...] = (".facecluster-cache",)) -> list[Path]:
    """Image files (by suffix) under a folder, recursively, sorted; hidden/cache folders skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in skip and not d.startswith("."))
        found += [Path(root) / f for f in files if Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found)
