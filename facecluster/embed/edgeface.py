"""EdgeFace face embedder (Idiap, IJCB 2023; code BSD-3-Clause, weights CC-BY-NC-SA-4.0: research only):
5-point aligned 112x112 RGB, (x-127.5)/127.5, 512-d. XS (default) and XXS models.

Calibration (scripts/calibrate_embedders.py, 1076 labelled faces in 4 sets, pairs within a set; pooled AUC /
TAR at 0.1 % FAR, flip off -> on; macro cut = threshold with the best mean per-set F1):
    model  landmarks        AUC     TAR    -> flip on       macro cut
    XS     yunet            0.9954  0.851  0.9954  0.853    0.725
    XS     yunet+refine-yu  0.9959  0.877  0.9960  0.878    0.705
    XS     yunet+refine-sc  0.9973  0.886  0.9974  0.887    0.705
    XS     scrfd            0.9975  0.892  0.9976  0.893    0.690
    XXS    yunet            0.9944  0.826  0.9946  0.826    0.690
    XXS    yunet+refine-yu  0.9963  0.849  0.9964  0.850    0.685
    XXS    yunet+refine-sc  0.9972  0.871  0.9973  0.872    0.690
    XXS    scrfd            0.9975  0.879  0.9977  0.882    0.690
The best cut differs by set (glint celebrities 0.645-0.685, the video-face set 0.72-0.73): chosen on the
other sets it costs 2-5 F1 points on glint. Flip averaging changes TAR by <= 0.005: not worth its 2x cost.
Cost: 3.8 / 2.1 ms a face on one thread (MODELS.md; 5.2 / 3.8 on the busy shared box here).
"""

from __future__ import annotations

from .onnx_face import OnnxFaceEmbedder


class EdgeFaceEmbedder(OnnxFaceEmbedder):
    NAME = "edgeface"
    DIM = 512
    SAME_PERSON_DISTANCE = 0.70  # macro cuts above: 0.685-0.725 (XS), 0.685-0.69 (XXS)
    FLIP_HELPS = False
    DEFAULT_MODEL = "edgeface-xs"
    MEAN, STD = 127.5, 127.5
    CPU_ENGINE = "onnxruntime"  # 60 ms for 16 faces on one thread; OpenVINO 86
