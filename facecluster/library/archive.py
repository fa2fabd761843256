"""Archive-wide identities: the unnamed people of every episode of an archive grouped by face, so a
recurring guest is named once (`name_identity` labels them in every episode).

Why these rules:
- faces only: clothing changes between episodes, so it never joins people across them;
- two people of one episode are never one identity: that episode's grouping (and the user's corrections)
  kept them apart, so each pair is a cannot-link;
- the same exact average linkage as inside an episode (grouping.linkage, on face-vector sums: the mean
  cosine distance over all face pairs of two groups), but with a stricter cut: ARCHIVE_FACTOR x the
  embedder's same-person distance (or --distance). Naming an identity names people in many episodes at
  once, and across episodes look-alikes meet more often than within one: at the within-episode cut,
  2 of 59 people put into identities belonged to someone else on the yywbxgl calibration episodes (8
  episodes, 9 people); at 0.7 x none did there nor on glint_celebs22 (scripts/bench_archive.py archive).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError
from . import embedder as emb

log = logging.getLogger(__name__)
IDENTITIES_JSON = "identities.json"
IDENTITIES_CSV = "identities.csv"
FORMAT = "facecluster-identities/1"
MIN_FACES = 2  # people seen in fewer faces are left out (too little to compare across episodes)
ARCHIVE_FACTOR = 0.7  # the cut, as a share of the embedder's same-person distance (see the module doc)


def episode_folders(archive: Path) -> list[Path]:
    """The OUTDIRs directly inside an archive folder (facecluster's, with committed results)."""
    from ..runfolder import RunFolder
    from ..runfolder.layout import MANIFEST

    archive = Path(archive)
    if not archive.is_dir():
        raise InputError(f"archive folder not found: {archive}; give the folder `facecluster batch -o` wrote")
    out = [p for p in sorted(archive.iterdir()) if p.is_dir() and not p.name.startswith(".")
           and RunFolder(p).state() == "ours" and (p / MANIFEST).exists()]
    if not out:
        raise InputError(f"{archive} holds no facecluster output folders; run `facecluster batch VIDEOS -o {archive}`")
    return out


def load_episode(folder: Path):
    """One episode's committed run, checked (runfolder)."""
    from ..runfolder import RunFolder

    rf = RunFolder(folder)
    with rf.reading():
        return rf.load()


def load_episode_people(folder: Path):
    """One episode's committed people and manifest, checked, without its detections (runfolder)."""
    from ..runfolder import RunFolder

    rf = RunFolder(folder)
    with rf.reading():
        return rf.load_people()


def _items(archive: Path, min_faces: int, hook, skipped: list[dict]):
    """Unnamed people with faces of every episode: (rows of member info, (N, D) face sums, face counts,
    episode index per item, embedder, same-person distance). A damaged episode is left out (in `skipped`)."""
    from ..errors import FaceclusterError
    from .prototypes import face_rows

    members, sums, counts, episode = [], [], [], []
    embedder, prior = None, None
    folders = episode_folders(archive)
    for k, folder in enumerate(folders):
        hook("episodes", completed=k, total=len(folders))
        try:
            stored = load_episode(folder)
        except FaceclusterError as exc:
            log.info("library cluster: %s left out: %s", folder, exc)  # the command lists them at the end
            skipped.append({"episode": folder.name, "reason": str(exc)})
            continue
        e = emb.of_run(stored.extraction.meta, str(folder))
        if embedder is None:
            embedder, prior = e, float(stored.extraction.meta.get("face_prior") or 0.0)
        elif not emb.same(embedder, e):
            raise ConfigError(f"{folder} was run with the face embedder {emb.describe(e)}, other episodes with "
                              f"{emb.describe(embedder)}; faces of different embedders cannot be compared. Run the "
                              f"archive's episodes with one config (facecluster batch -c CONFIG)")
        unit_person = stored.unit_person()
        person, units, vectors = face_rows(stored.extraction, unit_person)
        for p in stored.people:
            mine = person == p["id"]
            if p.get("name") or mine.sum() < min_faces:
                continue
            members.append({"episode": folder.name, "run_id": stored.run_id, "person_id": p["id"],
                            "units": sorted(set(units[mine].tolist())), "faces": int(mine.sum()),
                            "screen_time_s": p.get("screen_time_s"), "first_seen_s": p.get("first_seen_s"),
                            "thumbnail": f"{folder.name}/{p['thumbnail']}" if p.get("thumbnail") else None})
            sums.append(vectors[mine].astype(np.float64).sum(0))
            counts.append(int(mine.sum()))
            episode.append(k)
    hook("episodes", completed=len(folders), total=len(folders))
    dim = embedder["dim"] if embedder else 0
    return members, np.array(sums).reshape(len(sums), dim), np.array(counts, np.float64), \
        np.array(episode, np.int64), embedder, prior


def cluster_archive(archive, library=None, distance: float = 0.0, min_faces: int = MIN_FACES, hook=None) -> dict:
    """Group the unnamed people of ARCHIVE_DIR's episodes; write identities.json and identities.csv there.
    Identities seen in two or more episodes are listed (most episodes first). `hook(step, completed=, total=)`
    hears of every episode read; an episode that cannot be read is left out with its reason ("skipped")."""
    from ..grouping.linkage import sums_average_linkage
    from .recognise import bands

    archive = Path(archive)
    skipped: list[dict] = []
    members, sums, counts, episode, embedder, prior = _items(archive, min_faces, hook or _no_hook, skipped)
    cut = float(distance or ARCHIVE_FACTOR * (prior or 0.0))
    if members and cut <= 0:
        raise ConfigError("the runs do not record their embedder's same-person distance; give --distance")
    cannot: list[set] = []
    by_episode: dict[int, list[int]] = {}
    for i, k in enumerate(episode.tolist()):
        by_episode.setdefault(k, []).append(i)
    for i, k in enumerate(episode.tolist()):
        cannot.append(set(by_episode[k]) - {i})
    roots = sums_average_linkage(sums, counts, cut, cannot, 1.0) if members else np.zeros(0, np.int64)
    groups: dict[int, list[int]] = {}
    for i, r in enumerate(roots.tolist()):
        groups.setdefault(r, []).append(i)
    recurring = [g for g in groups.values() if len(g) > 1]
    recurring.sort(key=lambda g: (-len(g), -counts[g].sum(), min(g)))
    lib_matches = []
    if library is not None and recurring:
        from ..types import l2_normalize

        library.check_embedder(embedder, f"the episodes of {archive}")
        means = l2_normalize(np.array([sums[g].sum(0) for g in recurring], np.float32))
        b = bands(library, prior)
        from .recognise import SCOPE

        names = library.vectors(SCOPE)[2]
        for cands in library.best_people(means, k=1, scope=SCOPE):
            lib_matches.append({"name": names[cands[0][0]], "similarity": round(cands[0][1], 4),
                                "band": "sure" if cands[0][1] >= b.sure else "unsure"}
                               if cands and cands[0][1] >= b.unsure else None)
    identities = []
    for n, g in enumerate(recurring):
        mean = sums[g].sum(0)
        pair_d = 1.0 - float(np.dot(mean, mean) - (sums[g] ** 2).sum()) / max(
            counts[g].sum() ** 2 - (counts[g] ** 2).sum(), 1.0)
        identities.append({"id": n + 1, "name": None, "episodes": len(g), "faces": int(counts[g].sum()),
                           "mean_distance": round(pair_d, 4), "members": [members[i] for i in g],
                           **({"library_suggestion": lib_matches[n]} if lib_matches and lib_matches[n] else {})})
    doc = {"format": FORMAT, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "archive": str(archive.resolve()), "embedder": embedder, "distance": cut, "min_faces": min_faces,
           "episodes": len({m["episode"] for m in members}), "people_considered": len(members),
           "people_in_identities": sum(len(g) for g in recurring), "skipped": skipped, "identities": identities}
    write_identities(archive, doc)
    return doc


def _no_hook(step, completed=None, total=None):
    pass


def write_identities(archive: Path, doc: dict) -> None:
    from ..batch.summary import write_json_and_csv

    cols = ["identity", "name", "episode", "person_id", "faces", "screen_time_s", "first_seen_s", "thumbnail",
            "library_suggestion", "library_similarity"]
    rows = []
    for ident in doc["identities"]:
        s = ident.get("library_suggestion") or {}
        rows += [{"identity": ident["id"], "name": ident.get("name"), "episode": m["episode"],
                  "person_id": m["person_id"], "faces": m["faces"], "screen_time_s": m["screen_time_s"],
                  "first_seen_s": m["first_seen_s"], "thumbnail": m["thumbnail"], "library_suggestion": s.get("name"),
                  "library_similarity": s.get("similarity")} for m in ident["members"]]
    write_json_and_csv(archive / IDENTITIES_JSON, doc, archive / IDENTITIES_CSV, cols, rows)


def read_identities(archive: Path) -> dict:
    from ..runfolder.documents import bad_file, read_json

    path = Path(archive) / IDENTITIES_JSON
    fix = "run `facecluster library cluster {folder}` (again)"
    doc = read_json(path, fix)
    if doc.get("format") != FORMAT or not isinstance(doc.get("identities"), list):
        raise bad_file(path, f"is not a {FORMAT} file", fix)
    return doc


def name_identity(archive, identity_id: int, name: str, library=None) -> list[dict]:
    """Name an archive identity in every episode it was seen in (results.edit_ops.label: the name is a
    correction of that episode, kept across re-runs), optionally adding those people to a library.
    Returns one entry per episode: episode, person_id, name (or why it was skipped)."""
    from ..results.edit_ops import label
    from .store import clean_name

    archive = Path(archive)
    name = clean_name(name)
    doc = read_identities(archive)
    ident = next((i for i in doc["identities"] if i.get("id") == identity_id), None)
    if ident is None:
        ids = [i.get("id") for i in doc["identities"]]
        raise ConfigError(f"no identity {identity_id} in {archive / IDENTITIES_JSON}; identities: "
                          f"{', '.join(map(str, ids[:30])) or '(none)'}")
    done = []
    for m in ident["members"]:
        folder = archive / m["episode"]
        try:
            stored = load_episode_people(folder)
        except (InputError, OSError) as exc:
            done.append({"episode": m["episode"], "skipped": str(exc)})
            continue
        if stored.run_id != m["run_id"]:
            done.append({"episode": m["episode"], "skipped": "the episode was run again since `library cluster`; "
                                                             "run `facecluster library cluster` again"})
            continue
        held = stored.unit_person()[np.asarray(m["units"], np.int64)]
        held = held[held >= 0]
        if not len(held):
            done.append({"episode": m["episode"], "skipped": "those faces belong to nobody now (edited since)"})
            continue
        person = int(np.bincount(held).argmax())
        label(folder, person, name)
        done.append({"episode": m["episode"], "person_id": person, "name": name})
        if library is not None:
            library.add_run(folder)
    ident["name"] = name
    write_identities(archive, doc)
    return done
