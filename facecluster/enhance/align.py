"""5-point similarity-transform face alignment (ArcFace / insightface template)."""

from __future__ import annotations

import cv2
import numpy as np

# landmark order: eye on the image's left, eye on the image's right, nose tip, mouth corner left, right
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)


def similarity_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity transform (rotation, uniform scale, shift) mapping src to dst (Umeyama)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var_s = (s ** 2).sum() / len(src)
    scale = (sig * np.diag(sign)).sum() / max(var_s, 1e-12)
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m.astype(np.float32)


def align_faces(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp each face to the ArcFace template scaled to `size`: (N,5,2) landmarks -> (N,size,size,3)."""
    template = ARCFACE_112 * (size / 112.0)
    out = np.zeros((len(landmarks), size, size, 3), np.uint8)
    for i, pts in enumerate(landmarks):
        m = similarity_matrix(pts, template)
        out[i] = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


# dlib's 5-point predictor marks the base of the nose, which sits about here in the 112 template
NOSE_BASE_Y = 80.0


def landmarks_from_eyes_nose(left_img_eye, right_img_eye, nose_base) -> np.ndarray:
    """Complete a 5-point set from eye centres and the base of the nose (dlib's 5-point predictor):
    nose tip and mouth corners go where the ArcFace template puts them relative to eyes and nose."""
    e1, e2, base = (np.asarray(p, np.float32) for p in (left_img_eye, right_img_eye, nose_base))
    mid = (e1 + e2) / 2
    down = (base - mid) / (NOSE_BASE_Y - 51.6)  # one template unit along the face's vertical axis
    across = (e2 - e1) * ((70.73 - 41.55) / (73.53 - 38.29)) / 2
    nose_tip = mid + down * (71.74 - 51.6)
    mouth_mid = mid + down * (92.28 - 51.6)
    return np.stack([e1, e2, nose_tip, mouth_mid - across, mouth_mid + across]).astype(np.float32)
