"""The face-embedding-cosine method: with the pipeline's face backends (yunet + arcface) when installed, and
its own logic (largest face, no face -> reason, cosine) with injected backends on real face crops."""

from pathlib import Path

import cv2
import numpy as np

from facecluster.similarity import NoEncoding, create
from facecluster.similarity.io import load_image

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
MODELS = str(SHARED / "models")

from .test_similarity_methods import crop, resize_jpeg  # noqa: E402  (the shared mild transforms)


FACES = SHARED / "media" / "faces" / "faceapi_bbt"


def _face_pair_scores(c):
    amy = load_image(FACES / "amy" / "amy1.png")
    enc = c.encode(amy)
    assert not isinstance(enc, NoEncoding), enc
    same = c.compare(enc, c.encode(resize_jpeg(crop(amy))))
    other = c.compare(enc, c.encode(load_image(FACES / "raj" / "raj1.png")))
    return same, other, c.similarity(np.full((120, 120, 3), 90, np.uint8), amy)


def test_face_embedding_cosine_with_pipeline_backends():
    c = create("face", models_dir=MODELS)
    c.cache_key()
    same, other, none = _face_pair_scores(c)
    assert same > other
    assert float(none) == 0.0 and "no face" in none.reason


def test_face_method_plumbing_with_injected_backends():
    """The face method's own logic (largest face, NoEncoding, cosine) with a YuNet detector and a crop embedder."""
    from facecluster.types import Detections

    class YuNet:
        def __init__(self):
            self.net = cv2.FaceDetectorYN.create(str(SHARED / "models" / "face_detection_yunet_2023mar.onnx"), "",
                                                 (320, 320), 0.6)

        def detect(self, img):
            self.net.setInputSize((img.shape[1], img.shape[0]))
            faces = self.net.detect(img)[1]
            faces = np.zeros((0, 15), np.float32) if faces is None else faces
            boxes = np.c_[faces[:, :2], faces[:, :2] + faces[:, 2:4]]
            return Detections(boxes, faces[:, 14], faces[:, 4:14].reshape(-1, 5, 2))

    class CropEmbedder:
        def embed(self, img, dets):
            x1, y1, x2, y2 = dets.boxes[0].astype(int).clip(0)
            face = cv2.resize(cv2.cvtColor(img[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY), (16, 16)).astype(np.float32)
            return (face - face.mean()).reshape(1, -1)

    same, other, none = _face_pair_scores(create("face", detector=YuNet(), embedder=CropEmbedder()))
    assert same > other and 0.0 <= other <= 1.0
    assert float(none) == 0.0 and "no face" in none.reason
