"""A same-person cut for one video from its own pairs, bounded by the embedder's prior (an experiment the
quality benchmark measures; `calibrate_cut` in the config turns it on).

Evidence a video carries about itself without labels: two faces in one frame are two people (different),
two consecutive faces of one track are one person (same). Both are biased: track-mates are near-duplicates
(far closer than the same person across shots), and people sharing a frame are the ones a video shows
together, not the look-alikes it may confuse. So the prior stays in charge: the cut only moves within
[LOW, HIGH] x prior, down when faces that share a frame come close to it (look-alikes in this video),
up when every such pair is far beyond it (well separated faces: allow more pose and lighting change).
"""

from __future__ import annotations

import numpy as np

from ..table import RunTable
from .units import Space

LOW, HIGH = 0.85, 1.15
QUANTILE = 0.02  # of the different-person (shared-frame) distances
MARGIN = 0.9  # the cut sits this far below that quantile
MIN_PAIRS = 20  # fewer shared-frame pairs than this: the video says too little, keep the prior


def shared_frame_distances(table: RunTable, faces: Space) -> np.ndarray:
    """Cosine distances between faces seen in the same sampled frame (different people)."""
    ids, vectors = faces
    if not len(ids):
        return np.zeros(0)
    frames = table.frame_index[ids]
    order = np.argsort(frames, kind="stable")
    out = []
    for group in np.split(order, np.flatnonzero(np.diff(frames[order])) + 1):
        if len(group) > 1:
            v = vectors[group]
            d = 1.0 - v @ v.T
            out.append(d[np.triu_indices(len(group), 1)])
    return np.concatenate(out) if out else np.zeros(0)


def video_cut(table: RunTable, faces: Space | None, prior: float) -> tuple[float, dict]:
    """(cut, evidence): the prior moved by this video's shared-frame pairs, within [LOW, HIGH] x prior."""
    if faces is None:
        return prior, {"pairs": 0, "source": "prior"}
    d = shared_frame_distances(table, faces)
    if len(d) < MIN_PAIRS:
        return prior, {"pairs": int(len(d)), "source": "prior (too few shared-frame pairs)"}
    near = float(np.quantile(d, QUANTILE))
    cut = float(np.clip(MARGIN * near, LOW * prior, HIGH * prior))
    return cut, {"pairs": int(len(d)), "different_q02": round(near, 4), "source": "video"}
