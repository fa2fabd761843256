"""Extraction: from a video to detections, vectors, tracks and units (the part that needs the video)."""

from .frame import Backends, FrameStage, FrameWork, available_cores, crop_thumbnail, default_workers, worker_count
from .stages import Extracted, Extractor

__all__ = ["Backends", "Extracted", "Extractor", "FrameStage", "FrameWork", "available_cores", "crop_thumbnail",
           "default_workers", "worker_count"]
