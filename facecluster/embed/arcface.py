"""ArcFace-style ONNX face embedder: 5-point similarity alignment to 112x112, RGB, (x-127.5)/128.

Works with batch-dynamic models (MobileFaceNet paddle export, insightface w600k_*) and batch-fixed ones
(mobilefacenet_128d_pytorch: batch 1, looped); input size and DIM are read from the model.

SAME_PERSON_DISTANCE (cosine distance) measured by scripts/calibrate_embedders.py on the 216 labelled
photos of ../shared/media/faces (23 identities, 1499 same / 11293 different pairs within each set), YuNet
landmarks (SCRFD's in brackets), embed_flip on; ms/face without flip on the shared, busy 2-core box:

    model                  thr@maxF1     F1            EER           same med  diff med  ms/face
    mobilefacenet-paddle   0.61 (0.63)   0.957 (0.985) 0.032 (0.011) 0.23      0.91      7-18 (x2 flip)
    mobilefacenet-pytorch  0.60 (0.62)   0.940 (0.965) 0.075 (0.044) 0.23      0.91      7-8 (x2 flip)

Per photo set the optimum is 0.47-0.73 on a flat plateau (mean-of-sets F1 peaks at 0.62-0.66); 0.62-0.66
are within 0.01 F1 everywhere except the video-face set, where 0.66 passes 0.4-1.1% of different-person
pairs. 0.64 serves both models. SFace and EdgeFace have their own backends (sface.py, edgeface.py).

Re-measured with the glint_celebs22 set added (1076 faces in 4 sets; pooled AUC / TAR at 0.1 % FAR, flip
off -> on; macro cut = best mean per-set F1), mobilefacenet-paddle:
    landmarks        AUC     TAR    -> flip on       macro cut
    yunet            0.9897  0.804  0.9901  0.808    0.660 / 0.650
    yunet+refine-yu  0.9932  0.827  0.9937  0.836    0.665 / 0.650
    yunet+refine-sc  0.9950  0.854  0.9954  0.867    0.645 / 0.650
    scrfd            0.9956  0.876  0.9960  0.879    0.655 / 0.655
Flip averaging adds 0.4-1.3 TAR points (most on 36 px faces: +1.3), hence FLIP_HELPS.
"""

from __future__ import annotations

from .onnx_face import OnnxFaceEmbedder


class ArcFaceEmbedder(OnnxFaceEmbedder):
    NAME = "arcface"
    DIM = 128
    SAME_PERSON_DISTANCE = 0.64
    FLIP_HELPS = True
    DEFAULT_MODEL = "mobilefacenet-paddle"
    MEAN, STD = 127.5, 128.0
    # one thread: MobileFaceNet-paddle on OpenVINO 4 ms a face (16 a call), OpenCV's dnn 8-13, onnxruntime 17
    CPU_ENGINE = "openvino"
