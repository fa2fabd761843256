"""Body (person box) detector running any model Ultralytics can load: YOLO `.pt` weights, a `.yaml` model
definition (a file, or a name Ultralytics ships such as `yolov8n.yaml`: untrained, for tests and timing)
or an Ultralytics ONNX export. Boxes of the COCO person class, in image pixels, without landmarks.

Needs the `[torch]` extra and ultralytics installed with --no-deps (facecluster.torch_extra.INSTALL).
A `.pt` file is a pickle: loading it runs code from the file, so use weights from sources you trust.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..models import ResolvedModel, sha256_of
from ..registry import BodyDetectorOptions, resolve_model
from ..torch_extra import import_ultralytics, set_threads, torch_device
from ..types import Detections
from .base import Detector

WHAT = "the ultralytics body detector"


class UltralyticsBodyDetector(Detector):
    NAME = "ultralytics"
    KIND = "person"
    DEFAULT_MODEL = "yolov8n-pt"

    def __init__(self, options: BodyDetectorOptions):
        super().__init__(options)
        ultralytics = import_ultralytics()
        self.threshold = float(options.threshold)
        self.nms_iou = float(options.nms)
        self.device = torch_device(options.device, WHAT)
        set_threads(options.threads)
        model, source = self._resolve(options.model or self.DEFAULT_MODEL, options.models_dir)
        self._use(model)
        try:
            self.yolo = ultralytics.YOLO(source, task="detect")
            # one prediction loads the model whatever its format (ONNX files load lazily) and gives its classes
            self._predict(np.full((64, 64, 3), 114, np.uint8), classes=None)
            names = self.yolo.predictor.model.names
        except Exception as exc:  # ultralytics raises many unrelated types for files it cannot use
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load {WHAT}'s model {model.path}: {message}; give a YOLO .pt, .yaml or "
                             f"Ultralytics ONNX detection model") from None
        self.person_class = person_class(names, model.path)

    @staticmethod
    def _resolve(model: str, models_dir: str) -> tuple[ResolvedModel, str]:
        """(the model file to record, what to give Ultralytics)"""
        suffix = Path(model).suffix.lower()
        if suffix in (".yaml", ".yml") and not Path(model).expanduser().is_file():
            # a shipped definition is built from its name, which carries the scale (yolov8n.yaml -> n)
            return _builtin_definition(model), model
        resolved = resolve_model(model, models_dir)
        return resolved, str(resolved.path)

    def _predict(self, image: np.ndarray, classes):
        return self.yolo.predict(image, classes=classes, conf=self.threshold, iou=self.nms_iou, device=self.device,
                                 verbose=False)[0]

    def detect(self, image: np.ndarray) -> Detections:
        boxes = self._predict(image, [self.person_class]).boxes  # numpy input is BGR for Ultralytics too
        if not len(boxes):
            return Detections.empty(with_landmarks=False)
        h, w = image.shape[:2]
        return Detections(boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), None).clipped(w, h)


def person_class(names: dict, path) -> int:
    """The index of the person class: by name, else 0 for an 80-class (COCO-ordered) model whose classes
    carry no names (models built from a .yaml)."""
    by_name = [i for i, n in names.items() if str(n).lower() == "person"]
    if by_name:
        return int(by_name[0])
    if len(names) == 80:
        return 0
    shown = ", ".join(str(n) for n in list(names.values())[:8])
    raise ModelError(f"{path} has no 'person' class (its {len(names)} classes: {shown}...); give a model trained "
                     f"on COCO or one with a class named person")


def _builtin_definition(name: str) -> ResolvedModel:
    """A model definition Ultralytics ships (e.g. yolov8n.yaml: scale n of yolov8.yaml), recorded by the
    file it reads."""
    from ultralytics.utils.checks import check_yaml

    unified = re.sub(r"(\d+)([nslmx])(.+)?$", r"\1\3", Path(name).stem) + Path(name).suffix  # Ultralytics' rule
    try:
        path = Path(check_yaml(name, hard=False) or check_yaml(unified))
    except Exception:
        raise ModelError(f"{name} is neither a file nor a model definition Ultralytics ships (e.g. yolov8n.yaml, "
                         f"yolo11n.yaml)") from None
    return ResolvedModel(name, path, sha256_of(path))
