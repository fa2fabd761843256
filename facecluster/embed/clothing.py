"""Clothing embedders: what a person wears, as a vector comparable by cosine like face embeddings.

Both take the BGR image and the boxes of the CLOTHING regions already chosen by facecluster.persons
(torso boxes, or whole body boxes for re-ID; WHOLE_BODY says which), in two phases (see base.py).
A box with no pixels inside the image, or a side under MIN_SIDE pixels, is not ok: `embed` gives it an
all-zero row (not unit length): its cosine similarity to everything is 0, i.e. distance 1, so it never
pulls two people together. Callers that want to skip such rows test `np.any(row)`.
"""

from __future__ import annotations

import logging

import numpy as np

from ..registry import ClothingEmbedderOptions, resolve_model, session
from ..types import l2_normalize
from .base import ClothingEmbedder

log = logging.getLogger("facecluster")
MIN_SIDE = 4  # pixels


def _crop_boxes(image: np.ndarray, boxes: np.ndarray) -> list[tuple[int, int, int, int] | None]:
    """Integer crop windows clipped to the image, None for empty / degenerate ones."""
    h, w = image.shape[:2]
    out = []
    for x1, y1, x2, y2 in np.nan_to_num(np.asarray(boxes, np.float32).reshape(-1, 4), nan=-1.0):
        a, b = int(max(0, np.floor(x1))), int(max(0, np.floor(y1)))
        c, d = int(min(w, np.ceil(x2))), int(min(h, np.ceil(y2)))
        out.append((a, b, c, d) if c - a >= MIN_SIDE and d - b >= MIN_SIDE else None)
    return out


class HsvHistogramEmbedder(ClothingEmbedder):
    """Builtin, model-free colour signature of an outfit.

    Each pixel votes with weight c (chroma, ramping 0 -> 1 as min(saturation, value) goes 20 -> 60 of 255)
    in an 8 hue x 2 saturation x 2 value histogram, and with weight 1 - c in an 8-bin value histogram:
    pale, black, grey and white clothes (whose hue is noise) are described by brightness, and a pale shirt
    whose saturation hovers around a hard cut does not flip between the two halves from frame to frame.
    Hue bins are smoothed circularly (lighting shifts hue a little). Only the central 80 % of the box width
    is used (the sides often show background). The histogram is normalised to sum 1 and square-rooted: the
    cosine of two such vectors is the Bhattacharyya coefficient of the histograms, so cosine distance works
    as for face embeddings. Bin counts and the soft chroma weight were chosen on secureface_rpi_test_3.avi
    torso boxes (AUC same-vs-different outfit 0.99; a hard saturation cut with 16x4 hue-sat bins: 0.69).
    """

    NAME = "hsv-hist"
    HUE_BINS, SAT_BINS, VAL_CHROMA_BINS, VAL_BINS = 8, 2, 2, 8
    DIM = HUE_BINS * SAT_BINS * VAL_CHROMA_BINS + VAL_BINS
    # secureface_rpi_test_3.avi, 77 torso crops of 2 outfits: at 0.45, 82 % of same-outfit pairs are within
    # it and 98 % of different-outfit pairs beyond it (one video: re-measure on the evaluation harness)
    SAME_PERSON_DISTANCE = 0.45
    MAX_PIXELS_SIDE = 96  # crops are shrunk to this long side first: histograms need no more, and it is fast
    CHROMA_LOW, CHROMA_HIGH = 20.0, 60.0

    def __init__(self, options: ClothingEmbedderOptions):
        super().__init__(options)
        import cv2

        self._cv2 = cv2

    def _one(self, crop: np.ndarray) -> np.ndarray:
        cv2 = self._cv2
        w = crop.shape[1]
        margin = int(round(w * 0.1))
        crop = crop[:, margin:w - margin] if w - 2 * margin >= MIN_SIDE else crop
        scale = self.MAX_PIXELS_SIDE / max(crop.shape[:2])
        if scale < 1:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int32)
        hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
        chroma = ((np.minimum(sat, val) - self.CHROMA_LOW) / (self.CHROMA_HIGH - self.CHROMA_LOW)).clip(0, 1)
        hb, sb, vb = self.HUE_BINS, self.SAT_BINS, self.VAL_CHROMA_BINS
        index = ((hue * hb // 180).clip(0, hb - 1) * sb + sat * sb // 256) * vb + val * vb // 256
        hsv_hist = np.bincount(index, weights=chroma, minlength=hb * sb * vb).reshape(hb, sb * vb)
        hsv_hist = 0.5 * hsv_hist + 0.25 * (np.roll(hsv_hist, 1, axis=0) + np.roll(hsv_hist, -1, axis=0))
        grey = np.bincount(val * self.VAL_BINS // 256, weights=1.0 - chroma, minlength=self.VAL_BINS)
        vec = np.concatenate([hsv_hist.reshape(-1), grey]).astype(np.float32)
        return np.sqrt(vec / max(float(vec.sum()), 1e-9))

    def crops(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The histograms themselves (cheap): (ok.sum(), DIM) float32, and the ok mask."""
        wins = _crop_boxes(image, boxes)
        ok = np.array([w is not None for w in wins], bool)
        hists = [self._one(image[b:d, a:c]) for a, b, c, d in (w for w in wins if w is not None)]
        return (np.stack(hists) if hists else np.zeros((0, self.DIM), np.float32)), ok

    def embed_crops(self, prepared: np.ndarray) -> np.ndarray:
        prepared = np.asarray(prepared, np.float32).reshape(-1, self.DIM)
        return np.where(np.any(prepared, axis=1, keepdims=True), l2_normalize(prepared), 0.0).astype(np.float32)


class ReidEmbedder(ClothingEmbedder):
    """OSNet-style person re-identification model on onnxruntime: crop -> 512-d appearance vector.

    Trained on whole-person crops (MSMT17), so it is most reliable when given person boxes; torso boxes
    work but are further from its training data. Input 256x128 (H x W) RGB/255 with ImageNet mean/std,
    crops stretched to that size (as in training). Batched to amortise per-run overhead.
    """

    NAME = "reid"
    DIM = 512
    WHOLE_BODY = True  # the pipeline gives it body boxes rather than torso regions
    # secureface_rpi_test_3.avi, 77 whole-person crops of 2 people: at 0.4, 68 % of same-person pairs are
    # within it and 97 % of different-person pairs beyond it (torso crops: 55 % / 97 %)
    SAME_PERSON_DISTANCE = 0.4
    DEFAULT_MODEL = "osnet-x0.25"
    BATCH = 16  # rows per call for batch-dynamic models: bodies of several frames in one call, memory bounded
    MEAN = np.array([0.485, 0.456, 0.406], np.float32)
    STD = np.array([0.229, 0.224, 0.225], np.float32)

    def __init__(self, options: ClothingEmbedderOptions):
        super().__init__(options)
        import cv2

        self._cv2 = cv2
        resolved = resolve_model(options.model or self.DEFAULT_MODEL, options.models_dir)
        self.models.append(resolved)
        # one thread, OSNet x0.25: OpenVINO 3 ms a crop (8 a call), OpenCV's dnn 6.6-12, onnxruntime 13-22
        self.session = session(resolved, "re-ID model (an OSNet-style ONNX export, input [N, 3, H, W])", options,
                               engine="openvino")
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        h, w = inp.shape[2:4]
        self.input_hw = (h if isinstance(h, int) else 256, w if isinstance(w, int) else 128)
        batch = inp.shape[0]
        self.batch = batch if isinstance(batch, int) else self.BATCH
        dim = self.session.get_outputs()[0].shape[-1]
        if isinstance(dim, int) and dim != self.DIM:
            self.DIM = dim  # instance attribute: other OSNet widths give other sizes

    def crops(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Crops stretched to the model's input size: (ok.sum(), H, W, 3) uint8 BGR, and the ok mask."""
        h, w = self.input_hw
        wins = _crop_boxes(image, boxes)
        ok = np.array([win is not None for win in wins], bool)
        out = np.zeros((int(ok.sum()), h, w, 3), np.uint8)
        for k, (a, b, c, d) in enumerate(win for win in wins if win is not None):
            out[k] = self._cv2.resize(image[b:d, a:c], (w, h), interpolation=self._cv2.INTER_LINEAR)
        return out, ok

    def embed_crops(self, prepared: np.ndarray) -> np.ndarray:
        out = np.zeros((len(prepared), self.DIM), np.float32)
        for start in range(0, len(prepared), self.batch):
            part = prepared[start:start + self.batch]
            x = (part[..., ::-1].astype(np.float32) / 255.0 - self.MEAN) / self.STD
            feats = self.session.run(None, {self.input_name: np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0]
            out[start:start + len(part)] = l2_normalize(feats.reshape(len(part), -1))
        return out
