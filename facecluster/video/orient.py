"""How a decoded picture is shown: its pixel aspect ratio and rotation metadata, applied as players do.

Pixel aspect (the stream's sample aspect ratio): anamorphic video stores wide pictures in fewer columns
(PAL 16:9 SD is 720x576 with pixels 64:45 wide, HDV is 1440x1080 with 4:3 pixels); left as coded, every
face is squeezed, which the 5-point alignment (a similarity transform) cannot undo. The picture is
stretched to square pixels, never shrunk: wider when pixels are wide, taller when they are narrow.

Rotation (the display matrix phones write): the rules are FFmpeg's own (fftools autorotate): a display
matrix turns the coded picture by a multiple of 90 degrees, possibly mirrored; other angles are left alone
with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Orientation:
    rotation: int = 0  # clockwise degrees applied for display: 0, 90, 180, 270
    mirrored: bool = False  # flipped left-right after the rotation
    unsupported: float = 0.0  # a non-right angle that was not applied
    pixel_aspect: Fraction | None = None  # width / height of a coded pixel, when not square

    @classmethod
    def of(cls, frame, stream=None) -> "Orientation":
        from av.sidedata.sidedata import Type

        aspect = pixel_aspect(stream) if stream is not None else None
        try:
            side = frame.side_data.get(Type.DISPLAYMATRIX)
        except (KeyError, ValueError, AttributeError):
            side = None
        turned = cls() if side is None else cls.from_matrix(np.frombuffer(bytes(side), np.int32)[:9], frame.rotation)
        return replace(turned, pixel_aspect=aspect) if aspect else turned

    @classmethod
    def from_matrix(cls, m, ccw_degrees: float) -> "Orientation":
        theta = -round(ccw_degrees)  # clockwise, as fftools' get_rotation
        theta -= 360 * np.floor(theta / 360 + 0.9 / 360)
        if abs(theta - 90) < 1:
            return cls(90, mirrored=bool(m[3] > 0))  # "cclock_flip" is a transpose: 90 clockwise, mirrored
        if abs(theta - 270) < 1:
            return cls(270, mirrored=bool(m[3] < 0))
        if abs(theta - 180) < 1:
            hflip, vflip = m[0] < 0, m[4] < 0
            return cls(180, mirrored=False) if hflip and vflip else cls(0, mirrored=bool(hflip)) if hflip else \
                cls(180, mirrored=True) if vflip else cls()
        if abs(theta) < 1:
            return cls(180, mirrored=True) if m[4] < 0 else cls()  # a vertical flip = 180 degrees, mirrored
        return cls(unsupported=float(theta))

    def square_size(self, width: int, height: int) -> tuple[int, int]:
        """The coded picture's size once its pixels are square (before rotation)."""
        a = self.pixel_aspect
        if not a:
            return width, height
        return (round(width * a), height) if a > 1 else (width, round(height / a))

    def display_size(self, width: int, height: int) -> tuple[int, int]:
        width, height = self.square_size(width, height)
        return (height, width) if self.rotation in (90, 270) else (width, height)

    def apply(self, image: np.ndarray) -> np.ndarray:
        import cv2

        if self.pixel_aspect:
            image = cv2.resize(image, self.square_size(image.shape[1], image.shape[0]),
                               interpolation=cv2.INTER_LINEAR)
        if self.rotation == 90:
            image = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
        elif self.rotation == 180:
            image = cv2.rotate(image, cv2.ROTATE_180)
        elif self.rotation == 270:
            image = cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
        return cv2.flip(image, 1) if self.mirrored else image

    @property
    def pixel_aspect_text(self) -> str:
        """"64:45" when the pixels are not square, else "" (as the manifest records it)."""
        a = self.pixel_aspect
        return f"{a.numerator}:{a.denominator}" if a else ""

    def __bool__(self) -> bool:
        return bool(self.rotation or self.mirrored or self.pixel_aspect)


def pixel_aspect(stream) -> Fraction | None:
    """The stream's sample aspect ratio when its pixels are not square (within 1 %), else None."""
    for source in (stream, getattr(stream, "codec_context", None)):
        try:
            value = getattr(source, "sample_aspect_ratio", None)
        except (ValueError, AttributeError):
            value = None
        if value and value > 0:
            value = Fraction(value)
            return value if abs(value - 1) >= Fraction(1, 100) and Fraction(1, 4) <= value <= 4 else None
    return None
