"""Naming a run's people from the library: each person's mean face against every library person's
prototypes (their mean face in each run they were learnt from; the best one counts), one library name per
person and per run, with two bands:

- similarity >= sure: the name is given (people.json name_source "library", library_similarity);
- unsure <= similarity < sure: only suggested (library_suggestion), the person stays unnamed;
- below unsure: nothing.

Before naming, people the library surely recognises as the same library person and who never share a
frame are one person the grouping split (a new look, a long gap): they are joined in the clustering, under
the user's corrections (join_recognised).

Both bands are fractions of the embedder's same-person distance (the cut grouping uses), so one calibration
serves every embedder. The factors were chosen on synthetic episodes built from face sets that the
benchmark does not score (glint_celebs22, yywbxgl_video_faces; scripts/bench_archive.py calibrate);
recognition is reported on other face sets (faceapi_bbt, face_recognition_examples: `bench_archive.py
recognition`). Names the user gave (label, merge) always win and are never given to a second person.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict

import numpy as np

from . import embedder as emb
from .prototypes import person_means

log = logging.getLogger(__name__)
# A name is given when the cosine distance is under SURE_FACTOR x the embedder's same-person distance:
# calibrated (scripts/bench_archive.py calibrate, fast profile = SFace, on glint_celebs22 and
# yywbxgl_video_faces episodes) so that a stranger compared with a library of 1,000 people is named with
# probability <= 1 %: per face set a normal fit to every (person, other library person) similarity, never
# below the highest one seen; the most alike cast decides (glint: mean 0.16, sd 0.10, max 0.47 -> similarity
# 0.586, i.e. distance 0.65 x SFace's 0.626). Precision first: closer calls are only suggested. (With
# MobileFaceNet the same rule gave 0.475: its impostor scores sit higher.)
SURE_FACTOR = 0.65
# Suggested under the same-person distance itself (what grouping calls one person).
UNSURE_FACTOR = 1.0
MIN_FACES = 2  # a person seen in fewer faces is at most suggested
# Compare with each library person's mean face of every run they were learnt from and their track means
# ("person": run means only). On the calibration sets "all" named more people at its own sure band
# (recall 0.909 vs 0.864, precision 1.000 and no stranger named for both).
SCOPE = "all"


@dataclasses.dataclass(frozen=True)
class Bands:
    sure: float  # cosine similarity from which a name is given
    unsure: float  # from which it is suggested

    @classmethod
    def for_distance(cls, same_person_distance: float) -> "Bands":
        return cls(round(1.0 - SURE_FACTOR * same_person_distance, 4),
                   round(1.0 - UNSURE_FACTOR * same_person_distance, 4))


def bands(library, prior: float | None = None) -> Bands:
    d = library.same_person_distance or prior
    if not d:
        from ..errors import ConfigError

        raise ConfigError(f"{library.path} does not record its embedder's same-person distance; add a run to it again")
    return Bands.for_distance(float(d))


def recognise(library, extraction, unit_person: np.ndarray, taken: dict[int, str]) -> dict[int, dict]:
    """{person id: {"name", "similarity", "band"}} for the people of a run that the library recognises;
    people in `taken` (named by the user) are left alone and their names are not given again."""
    owners, _, names = library.vectors(SCOPE)
    if not len(owners):
        return {}
    b = bands(library, extraction.meta.get("face_prior"))
    pids, means, faces = person_means(extraction, unit_person)
    free = np.array([int(p) not in taken for p in pids], bool)
    pids, means, faces = pids[free], means[free], faces[free]
    candidates = library.best_people(means, k=2, scope=SCOPE)
    pairs = []
    for pid, n, cands in zip(pids.tolist(), faces.tolist(), candidates):
        for rank, (lib_id, sim) in enumerate(cands):
            if sim >= b.unsure:
                pairs.append((sim, pid, lib_id, n, rank))
    used = {str(v) for v in taken.values()}
    out: dict[int, dict] = {}
    for sim, pid, lib_id, n, _ in sorted(pairs, key=lambda x: (-x[0], x[1])):
        if pid in out:
            continue
        name = names[lib_id]
        sure = sim >= b.sure and n >= MIN_FACES and name not in used
        if sure:
            used.add(name)
        elif any(m["name"] == name and m["band"] == "unsure" for m in out.values()):
            continue
        out[pid] = {"name": name, "similarity": round(float(sim), 4), "band": "sure" if sure else "unsure"}
    return out


def join_recognised(library, extraction, base: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """The clustering `base` (cluster per unit, -1 nobody) with the clusters joined that the library surely
    names as the same library person (their best match, in the sure band, enough faces) and that share no
    frame; returns (joined clustering, [{"name", "people": cluster ids joined, best first}])."""
    library.check_embedder(emb.of_run(extraction.meta, "this run"), "this run")
    owners, _, names = library.vectors(SCOPE)
    if not len(owners) or not (base >= 0).any():
        return base, []
    b = bands(library, extraction.meta.get("face_prior"))
    pids, means, faces = person_means(extraction, base)
    alike: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for pid, n, cands in zip(pids.tolist(), faces.tolist(), library.best_people(means, k=1, scope=SCOPE)):
        if cands and cands[0][1] >= b.sure and n >= MIN_FACES:
            alike[cands[0][0]].append((cands[0][1], pid))
    if all(len(found) < 2 for found in alike.values()):
        return base, []
    table = extraction.table
    cluster = np.where(table.unit_id >= 0, base[np.maximum(table.unit_id, 0)], -1)
    asked = np.isin(cluster, [pid for found in alike.values() if len(found) > 1 for _, pid in found])
    frames: dict[int, set] = defaultdict(set)
    for c, f in zip(cluster[asked].tolist(), table.frame_index[asked].tolist()):
        frames[c].add(f)
    joined, joins = base.copy(), []
    for lib_id, found in sorted(alike.items()):
        if len(found) < 2:
            continue
        found.sort(key=lambda x: (-x[0], x[1]))
        keep = found[0][1]
        seen, group = set(frames.get(keep, ())), [keep]
        for _, pid in found[1:]:
            # two people in one frame are two people, whatever the library says
            if seen.isdisjoint(frames.get(pid, ())):
                joined[base == pid] = keep
                seen |= frames.get(pid, set())
                group.append(pid)
        if len(group) > 1:
            joins.append({"name": names[lib_id], "people": group})
    return joined, joins


def name_people(library, extraction, regrouped, joins: list[dict] | None = None):
    """A Regrouped with the library's sure names added (source "library") and every match recorded in
    info["library"] (people.json "grouping", read back by `annotate`); `joins`: what join_recognised
    joined, recorded beside them."""
    library.check_embedder(emb.of_run(extraction.meta, "this run"), "this run")
    matches = recognise(library, extraction, regrouped.unit_person, regrouped.names)
    names, sources = dict(regrouped.names), dict(regrouped.name_sources)
    for pid, m in matches.items():
        if m["band"] == "sure":
            names[pid], sources[pid] = m["name"], "library"
    b = bands(library, extraction.meta.get("face_prior"))
    info = {**regrouped.info, "library": {
        "path": str(library.path), "revision": library.revision(), "sure_similarity": b.sure,
        "unsure_similarity": b.unsure,
        "named": sum(m["band"] == "sure" for m in matches.values()),
        "suggested": sum(m["band"] == "unsure" for m in matches.values()),
        "joined": [{"name": j["name"], "clusters": len(j["people"])} for j in joins or []],
        "people": {str(pid): m for pid, m in sorted(matches.items())}}}
    log.info("people library %s: %d named, %d suggested, %d people joined from split parts", library.path,
             info["library"]["named"], info["library"]["suggested"], len(joins or []))
    return dataclasses.replace(regrouped, names=names, name_sources=sources, info=info)


def annotate(people: list[dict], info: dict) -> None:
    """Add library_similarity to people named by the library and library_suggestion to unnamed people the
    library was unsure about (in place). Matches whose person changed since (an edit) are left out."""
    matches = (info.get("library") or {}).get("people") or {}
    for p in people:
        m = matches.get(str(p["id"]))
        if not m:
            continue
        if p.get("name_source") == "library" and p.get("name") == m["name"]:
            p["library_similarity"] = m["similarity"]
        elif not p.get("name") and m["band"] == "unsure":
            p["library_suggestion"] = {"name": m["name"], "similarity": m["similarity"]}
