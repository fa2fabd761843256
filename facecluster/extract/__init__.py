"""Extraction: from a video to detections, vectors, tracks and units (the part that needs the video)."""

from .frame import Backends, FrameStage, FrameWork, crop_thumbnail
from .stages import Extracted, Extractor, default_workers

__all__ = ["Backends", "Extracted", "Extractor", "FrameStage", "FrameWork", "crop_thumbnail", "default_workers"]
