"""OpenCV SFace face embedder (opencv_zoo, Apache-2.0): 5-point aligned 112x112 RGB, raw 0-255 pixels
(no normalisation: what cv2.FaceRecognizerSF feeds it; checked: cosine 1.0000 with FaceRecognizerSF's
feature, 0.91 if fed BGR), 128-d.

The official fp32 file is `face_recognition_sface_2021dec.onnx` (registry name "sface"); where it is
absent the registry's stand-ins are used, e.g. `sface_2021dec_fp32_from_int8bq.onnx` ("sface-int8bq-fp32":
the official int8bq file with its weights de-quantised; vectors match it at cosine >= 0.99999). Its output
is declared [1, 128] but runs any batch.

Calibration (scripts/calibrate_embedders.py, 1076 labelled faces in 4 sets, pairs within a set; pooled AUC /
TAR at 0.1 % FAR, flip off -> on):
    landmarks        AUC     TAR    -> flip on        macro cut   (threshold with the best mean per-set F1)
    yunet            0.9931  0.853  0.9932  0.862     0.640 / 0.625
    yunet+refine-yu  0.9956  0.871  0.9956  0.881     0.630 / 0.620
    yunet+refine-sc  0.9966  0.888  0.9968  0.895     0.625 / 0.625
    scrfd            0.9967  0.887  0.9968  0.897     0.630 / 0.620
Its cut is the steadiest of the embedders measured: chosen on three sets, it is the held-out set's own best
F1 on every set (EdgeFace loses 2-5 F1 points on glint that way). Flip averaging adds ~1 point of TAR
everywhere at twice the cost, hence FLIP_HELPS. Cost: ~30 ms a face on one thread in onnxruntime (MODELS.md),
21 ms in OpenCV's dnn, which therefore runs it on the CPU (onnx.OpenCVSession).
"""

from __future__ import annotations

from .onnx_face import OnnxFaceEmbedder


class SFaceEmbedder(OnnxFaceEmbedder):
    NAME = "sface"
    DIM = 128
    SAME_PERSON_DISTANCE = 0.63  # macro cut 0.620-0.640 for every landmark source above
    FLIP_HELPS = True
    DEFAULT_MODEL = "sface"
    MEAN, STD = 0.0, 1.0
    # one thread, 16 faces a call: OpenVINO 16 ms a face (6 in bf16), OpenCV's dnn 21-25, onnxruntime 37; the same
    # vectors in fp32 (cosine 1.0000)
    CPU_ENGINE = "openvino"
