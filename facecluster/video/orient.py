"""Rotation metadata (the display matrix phones write): turn decoded pictures upright, as players do.

The rules are FFmpeg's own (fftools autorotate): a display matrix turns the coded picture by a multiple
of 90 degrees, possibly mirrored; other angles are left alone with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Orientation:
    rotation: int = 0  # clockwise degrees applied for display: 0, 90, 180, 270
    mirrored: bool = False  # flipped left-right after the rotation
    unsupported: float = 0.0  # a non-right angle that was not applied

    @classmethod
    def of(cls, frame) -> "Orientation":
        from av.sidedata.sidedata import Type

        try:
            side = frame.side_data.get(Type.DISPLAYMATRIX)
        except (KeyError, ValueError, AttributeError):
            side = None
        if side is None:
            return cls()
        return cls.from_matrix(np.frombuffer(bytes(side), np.int32)[:9], frame.rotation)

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

    def display_size(self, width: int, height: int) -> tuple[int, int]:
        return (height, width) if self.rotation in (90, 270) else (width, height)

    def apply(self, image: np.ndarray) -> np.ndarray:
        import cv2

        if self.rotation == 90:
            image = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
        elif self.rotation == 180:
            image = cv2.rotate(image, cv2.ROTATE_180)
        elif self.rotation == 270:
            image = cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
        return cv2.flip(image, 1) if self.mirrored else image

    def __bool__(self) -> bool:
        return bool(self.rotation or self.mirrored)
