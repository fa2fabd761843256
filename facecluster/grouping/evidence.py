"""Same-person evidence: face and clothing distances turned into one relative distance.

Every distance here is *relative*: a cosine distance divided by that space's same-person cut, so 1.0 is
"just the same person" for faces, for clothing and for their fusion alike, and clustering merges below 1.

Why clothing can pull but never push, and never past a clear face: within one video an outfit is good
evidence that two ambiguous faces (turned, blurred, made-up, years apart in a photo set) are one person,
but different people often dress alike (anchors in dark suits, uniforms, an audience), and one person's
clothes look different from behind or half-cut by the frame edge. So:
- no clothing on either side, or a face distance at or above the veto: the face decides alone;
- otherwise the fused distance is face - w * taper(face) * max(0, face - clothing): similar clothes move
  two ambiguous faces closer, dissimilar clothes change nothing; the pull fades linearly from full at the
  cut (relative face distance 1) to nothing at the veto, so a pair just under the veto needs near
  identical clothes and a clear face difference can never be bridged.
Being pull-only also keeps the large-video path exact: fused <= face everywhere, so pairs the face alone
puts far apart stay far apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fusion:
    face_cut: float  # cosine distance at which two faces stop being the same person
    clothing_cut: float = 1.0  # the same for clothing vectors
    weight: float = 0.0  # clothing share of the mix; 0 = faces only
    veto: float = 1.0  # relative face distance from which clothing is not listened to

    def face(self, cosine_distance):
        return np.asarray(cosine_distance, np.float64) / self.face_cut

    def clothing(self, cosine_distance):
        return np.asarray(cosine_distance, np.float64) / self.clothing_cut

    def fuse(self, face_z, clothing_z=None):
        """Relative face distance(s) with clothing evidence (NaN = none) -> fused relative distance(s)."""
        face_z = np.asarray(face_z, np.float64)
        if clothing_z is None or not self.weight:
            return face_z
        clothing_z = np.asarray(clothing_z, np.float64)
        if np.isinf(self.veto):  # no veto (suggestions): clothing pulls at full strength everywhere
            taper = 1.0
        elif self.veto > 1.0:
            taper = np.clip((self.veto - face_z) / (self.veto - 1.0), 0.0, 1.0)
        else:
            taper = (face_z < self.veto) * 1.0
        pull = self.weight * taper * np.maximum(0.0, face_z - np.nan_to_num(clothing_z, nan=np.inf))
        return np.where(np.isfinite(clothing_z), face_z - pull, face_z)

    def pair(self, face_cos: float | None, clothing_cos: float | None) -> dict:
        """Evidence for one pair of sightings (cosine *similarities*, None = missing): relative face,
        clothing and fused distances, and the verdict; the same rule clustering uses."""
        fz = None if face_cos is None else float(self.face(1.0 - face_cos))
        cz = None if clothing_cos is None else float(self.clothing(1.0 - clothing_cos))
        if fz is None and cz is None:
            return {"face_z": None, "clothing_z": None, "relative_distance": None, "same_person": None}
        if fz is None:
            z = cz  # bodies without faces are placed by clothing alone (stricter, see grouping.faceless)
        else:
            z = float(self.fuse(fz, np.nan if cz is None else cz))
        return {"face_z": fz, "clothing_z": cz, "relative_distance": z, "same_person": bool(z < 1.0)}
