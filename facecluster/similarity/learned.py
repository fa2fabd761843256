"""Learned embeddings compared by cosine (score = cosine clipped to [0, 1]).

cnn:  MobileNetV2 (ONNX model zoo, int8, registry name "mobilenetv2-int8") pooled 1280-d feature, i.e. the
      tensor '472_quantized' (uint8, the Reshape of QLinearGlobalAveragePool before the classifier
      QLinearMatMul; scale '464_scale', zero point '464_zero_point'). It is not a graph output, so it is
      added as one in memory (see onnxgraph.py; no `onnx` package needed) and dequantised.
      Input: RGB resized to 224x224 (aspect ignored), /255, ImageNet mean/std, NCHW.
face: the pipeline's face backends (default detector "yunet", embedder "arcface"); the largest detected face
      is embedded. No face -> NoEncoding("no face found").
"""

from __future__ import annotations

import numpy as np

from .base import NoEncoding, VectorComparator, unit
from .io import as_image

FEATURE = "472_quantized"
MEAN = np.float32([0.485, 0.456, 0.406])
STD = np.float32([0.229, 0.224, 0.225])


class CnnComparator(VectorComparator):
    DESCRIPTION = "MobileNetV2 pooled feature, cosine"

    def __init__(self, model: str = "mobilenetv2-int8", **options):
        super().__init__(**options)
        self.model_name = model
        self._session = self._resolved = None
        self._dequant = (0.0, 1.0)

    def _load(self):
        if self._session is None:
            import onnxruntime as ort

            from ..errors import ModelError
            from ..models import resolve
            from .onnxgraph import add_output, initializer_values

            self._resolved = resolve(self.model_name, self.options.get("models_dir") or None)
            data = self._resolved.path.read_bytes()
            zero, scale = initializer_values(data, ["464_zero_point", "464_scale"])
            self._dequant = (float(zero[0]) if zero is not None else 0.0, float(scale[0]) if scale is not None
                             else 1.0)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = int(self.options.get("threads") or 2)
            opts.log_severity_level = 3
            try:
                self._session = ort.InferenceSession(add_output(data, FEATURE, elem_type=2, dims=("N", 1280)),
                                                     opts, providers=["CPUExecutionProvider"])
            except Exception as exc:
                raise ModelError(f"cannot load {self._resolved.path} with tensor {FEATURE!r} as an output: "
                                 f"{exc}") from None
        return self._session

    def cache_key(self) -> str:
        self._load()
        return f"cnn-v{self.VERSION}-{self._resolved.sha256[:16]}"

    def preprocess(self, image) -> np.ndarray:
        import cv2

        rgb = cv2.resize(as_image(image), (224, 224), interpolation=cv2.INTER_AREA)[:, :, ::-1]
        return ((rgb.astype(np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1)[None]

    def encode_batch(self, images) -> list:
        session = self._load()
        batch = np.concatenate([self.preprocess(im) for im in images])
        (q,) = session.run([FEATURE], {session.get_inputs()[0].name: batch})
        zero, scale = self._dequant
        return [unit((row.astype(np.float32) - zero) * scale) for row in q]

    def encode(self, image) -> np.ndarray:
        return self.encode_batch([image])[0]


class FaceComparator(VectorComparator):
    DESCRIPTION = "largest face, face-embedder cosine"

    def __init__(self, face_detector: str = "yunet", face_embedder: str = "arcface", detector=None,
                 embedder=None, **options):
        super().__init__(**options)
        self.names = (face_detector, face_embedder)
        self._detector, self._embedder = detector, embedder

    def _load(self):
        if self._detector is None or self._embedder is None:
            from .. import registry
            from ..config import Config
            from ..errors import DependencyError

            config = Config(face_detector=self.names[0], face_embedder=self.names[1],
                            models_dir=self.options.get("models_dir") or "")
            try:
                self._detector = self._detector or registry.create(
                    "face-detector", self.names[0], registry.options_for("face-detector", config))
                self._embedder = self._embedder or registry.create(
                    "face-embedder", self.names[1], registry.options_for("face-embedder", config))
            except ImportError as exc:  # backend registered but its module is not part of this install
                raise DependencyError(f"face backend {self.names} is not available here ({exc})") from None
        return self._detector, self._embedder

    def cache_key(self) -> str:
        detector, embedder = self._load()
        files = "+".join(m.sha256[:12] for m in getattr(detector, "models", []) + getattr(embedder, "models", []))
        return f"face-v{self.VERSION}-{'-'.join(self.names)}-{files}"

    def encode(self, image):
        detector, embedder = self._load()
        img = as_image(image)
        found = detector.detect(img)
        if len(found) == 0:
            return NoEncoding("no face found")
        largest = found[int(np.argmax(found.widths * found.heights))]
        vectors = np.asarray(embedder.embed(img, largest), np.float32)
        if vectors.size == 0:
            return NoEncoding("face could not be embedded")
        return unit(vectors[0])
