"""Backend registries, built at import from what is installed; nothing is loaded until created."""

from __future__ import annotations

import importlib
import importlib.util

from .config import Config
from .errors import DependencyError, unknown_name

# name -> (module, class, pip packages it needs)
_DETECTORS = {
    "dlib-hog": ("facecluster.detect.dlib_hog", "DlibHogDetector", ("dlib",)),
    "yunet": ("facecluster.detect.yunet", "YuNetDetector", ("cv2",)),
    "scrfd": ("facecluster.detect.scrfd", "ScrfdDetector", ("onnxruntime",)),
}
_BODY_DETECTORS = {
    "yolo": ("facecluster.detect.yolo", "YoloPersonDetector", ("onnxruntime",)),
}
_EMBEDDERS = {
    "dlib": ("facecluster.embed.dlib_resnet", "DlibResnetEmbedder", ("dlib",)),
    "arcface": ("facecluster.embed.arcface", "ArcFaceEmbedder", ("onnxruntime",)),
}
_CLOTHING_EMBEDDERS = {
    "hsv-hist": ("facecluster.embed.clothing", "HsvHistogramEmbedder", ("cv2",)),
    "reid": ("facecluster.embed.clothing", "ReidEmbedder", ("onnxruntime",)),
}
_PIP_NAMES = {"dlib": "dlib-bin face-recognition-models", "onnxruntime": "onnxruntime",
              "cv2": "opencv-contrib-python-headless"}


def _installed(table):
    return {name: entry for name, entry in table.items()
            if all(importlib.util.find_spec(p) is not None for p in entry[2])}


DETECTORS = _installed(_DETECTORS)
EMBEDDERS = _installed(_EMBEDDERS)
BODY_DETECTORS = _installed(_BODY_DETECTORS)
CLOTHING_EMBEDDERS = _installed(_CLOTHING_EMBEDDERS)


def _create(kind: str, table: dict, available: dict, name: str, config: Config):
    if name not in table:
        raise unknown_name(kind, name, available)
    module, cls, needs = table[name]
    if name not in available:
        missing = [p for p in needs if importlib.util.find_spec(p) is None]
        raise DependencyError(f"{kind} {name!r} needs {', '.join(missing)}; "
                              f"install it with `pip install {' '.join(_PIP_NAMES.get(p, p) for p in missing)}`")
    return getattr(importlib.import_module(module), cls)(config)


def create_detector(name: str, config: Config):
    return _create("detector", _DETECTORS, DETECTORS, name, config)


def create_embedder(name: str, config: Config):
    return _create("embedder", _EMBEDDERS, EMBEDDERS, name, config)


def create_body_detector(name: str, config: Config):
    return _create("body detector", _BODY_DETECTORS, BODY_DETECTORS, name, config)


def create_clothing_embedder(name: str, config: Config):
    return _create("clothing embedder", _CLOTHING_EMBEDDERS, CLOTHING_EMBEDDERS, name, config)
