"""The people library: add / list / show / remove / merge, recognition with a sure and an unsure band, a
stranger is never named, a library never mixes embedders; end to end through `run --library` and the
archive-wide identities of `library cluster`."""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from facecluster.cli import main
from facecluster.errors import ConfigError, InputError
from facecluster.library import Library, recognise
from facecluster.library.index import FaissIndex, NumpyIndex
from facecluster.library.recognise import Bands

from .conftest import MEDIA, MODELS

DIM = 16
EMBEDDER = {"backend": "arcface", "model": "test", "sha256": "a" * 64, "dim": DIM, "same_person_distance": 0.64}
BANDS = Bands.for_distance(0.64)


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def axis(k: int) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[k] = 1.0
    return v


def towards(a: np.ndarray, b: np.ndarray, similarity: float) -> np.ndarray:
    """A unit vector with cosine `similarity` to unit a, in the plane of a and b (b orthogonal to a)."""
    return unit(similarity * a + np.sqrt(1 - similarity ** 2) * b)


@pytest.fixture
def lib(tmp_path):
    with Library.open(tmp_path / "people.fclib", create=True) as library:
        library.add_vectors("Ada", np.stack([axis(0), towards(axis(0), axis(1), 0.95)]), embedder=EMBEDDER)
        library.add_vectors("Grace", axis(2)[None], embedder=EMBEDDER)
        library.add_vectors("Linus", axis(4)[None], embedder=EMBEDDER)
        yield library


def fake_run(person_vectors: dict[int, np.ndarray]):
    """A stand-in extraction: person p has unit p holding three faces, all = vector (+ tiny noise)."""
    rng = np.random.default_rng(0)
    vectors, units = [], []
    for p, v in person_vectors.items():
        for _ in range(3):
            vectors.append(unit(v + 1e-4 * rng.standard_normal(DIM)))
            units.append(p)
    ids = np.arange(len(vectors))
    extraction = SimpleNamespace(faces=(ids, np.array(vectors, np.float32)),
                                 table=SimpleNamespace(unit_id=np.array(units, np.int64)), meta={"face_prior": 0.64})
    return extraction, np.arange(max(person_vectors) + 1, dtype=np.int64)


def test_add_list_show_remove_merge(lib, tmp_path):
    people = {p["name"]: p for p in lib.people()}
    assert set(people) == {"Ada", "Grace", "Linus"} and people["Ada"]["prototypes"] == 2
    before = lib.revision()
    with pytest.raises(ConfigError):
        lib.add_vectors("Grace", np.ones((1, DIM + 1), np.float32))  # refused: the library did not change
    assert lib.revision() == before
    lib.add_vectors("Grace", axis(3)[None])  # a person named again gains prototypes
    assert lib.revision() != before
    assert lib.person("grace")["prototypes"] == 2  # case-insensitive lookup
    merged = lib.merge(["Grace", "Linus"], into="Grace Hopper")
    assert merged["name"] == "Grace Hopper" and merged["prototypes"] == 3
    assert {p["name"] for p in lib.people()} == {"Ada", "Grace Hopper"}
    with pytest.raises(ConfigError, match="no person 'Linus'"):
        lib.person("Linus")
    removed = lib.remove("Ada")
    assert removed["prototypes"] == 2 and [p["name"] for p in lib.people()] == ["Grace Hopper"]
    # every change was committed: a second connection sees it
    with Library.open(tmp_path / "people.fclib", readonly=True) as again:
        assert [p["name"] for p in again.people()] == ["Grace Hopper"]
        assert len(again.vectors()[0]) == 3


def test_recognition_sure_unsure_stranger_and_user_names(lib):
    sure = BANDS.sure + 0.05
    unsure = (BANDS.sure + BANDS.unsure) / 2
    extraction, unit_person = fake_run({
        0: towards(axis(0), axis(7), sure),      # Ada, clearly
        1: towards(axis(2), axis(8), unsure),    # Grace?, not sure enough to name
        2: unit(axis(9) + axis(10)),             # a stranger, far from everyone
        3: towards(axis(0), axis(11), sure - 0.02),  # also like Ada, but Ada is taken: a suggestion only
        4: towards(axis(4), axis(12), 0.99),     # Linus, but the user named this person already
    })
    matches = recognise(lib, extraction, unit_person, taken={4: "Linus T."})
    assert matches[0] == {"name": "Ada", "similarity": pytest.approx(sure, abs=1e-3), "band": "sure"}
    assert matches[1]["name"] == "Grace" and matches[1]["band"] == "unsure"
    assert 2 not in matches  # the stranger: nothing, not even a suggestion
    assert matches[3]["band"] == "unsure"  # one library name per run
    assert 4 not in matches


def test_people_the_library_names_alike_are_joined_unless_they_share_a_frame(lib):
    from facecluster.library import join_recognised

    sure = BANDS.sure + 0.05
    looks = {  # cluster: (mean face, frames it is seen in)
        0: (towards(axis(0), axis(7), sure + 0.02), [0, 1, 2]),  # Ada
        1: (towards(axis(0), axis(8), sure), [5, 6]),  # Ada again, later: the grouping split her
        2: (towards(axis(0), axis(9), sure), [1, 7]),  # like Ada too, but beside cluster 0 in frame 1
        3: (towards(axis(0), axis(10), (BANDS.sure + BANDS.unsure) / 2), [9]),  # only maybe Ada
        4: (towards(axis(2), axis(11), sure), [5]),  # Grace, once: nothing to join
    }
    rng = np.random.default_rng(0)
    vectors, units, frames = [], [], []
    for c, (v, seen) in looks.items():
        for f in seen:
            vectors.append(unit(v + 1e-4 * rng.standard_normal(DIM)))
            units.append(c)
            frames.append(f)
    meta = {"face_prior": 0.64, "config": {"face_embedder": "arcface"}, "spaces": {"face": DIM},
            "models": [{"name": "mobilefacenet-paddle", "sha256": EMBEDDER["sha256"]}]}  # what a run records
    extraction = SimpleNamespace(faces=(np.arange(len(vectors)), np.array(vectors, np.float32)), meta=meta,
                                 table=SimpleNamespace(unit_id=np.array(units, np.int64), frame_index=np.array(frames)))
    base = np.array([0, 1, 2, 3, 4, -1], np.int64)  # unit 5: nobody
    joined, joins = join_recognised(lib, extraction, base)
    assert joined.tolist() == [0, 0, 2, 3, 4, -1]
    assert joins == [{"name": "Ada", "people": [0, 1]}]
    assert base.tolist() == [0, 1, 2, 3, 4, -1]  # the clustering given is left as it was
    # nothing the library is sure of twice: nothing joined
    alone = np.array([0, -1, -1, 3, 4, -1], np.int64)
    assert join_recognised(lib, extraction, alone)[0].tolist() == alone.tolist()
    # faces of another embedder are never compared, even when the vectors have the same size
    other = SimpleNamespace(**{**vars(extraction), "meta": {**meta, "models": [{"name": "mobilefacenet-paddle",
                                                                               "sha256": "b" * 64}]}})
    with pytest.raises(ConfigError, match="different embedders"):
        join_recognised(lib, other, base)


def test_library_never_mixes_embedders(lib, tmp_path):
    other = {**EMBEDDER, "sha256": "b" * 64}
    with pytest.raises(ConfigError, match="different embedders"):
        lib.add_vectors("Ada", axis(0)[None], embedder=other)
    with pytest.raises(ConfigError, match="different embedders"):
        lib.check_embedder({**EMBEDDER, "backend": "sface"}, "this run")
    lib.check_embedder({**EMBEDDER, "dim": None}, "a config")  # same model file: fine


def test_not_a_library_is_refused(tmp_path):
    junk = tmp_path / "junk.fclib"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(InputError, match="not a facecluster people library"):
        Library.open(junk)
    with pytest.raises(InputError, match="no people library"):
        Library.open(tmp_path / "missing.fclib")


def test_faiss_and_numpy_indexes_agree():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(3)
    data, queries = unit(rng.standard_normal((500, 32))), unit(rng.standard_normal((5, 32)))
    a, b = NumpyIndex(32), FaissIndex(32)
    a.add(data)
    b.add(data)
    (sa, ra), (sb, rb) = a.search(queries, 7), b.search(queries, 7)
    assert (ra == rb).all() and np.allclose(sa, sb, atol=1e-5)
    assert (a.search(queries, 600)[1][:, 500:] == -1).all()


# ---- end to end: real runs of synthetic episodes ---------------------------------------------------------
FACES = MEDIA / "faces" / "yywbxgl_video_faces"
needs_media = pytest.mark.skipif(not (FACES.is_dir() and (MODELS / "face_detection_yunet_2023mar.onnx").is_file()),
                                 reason="needs ../shared/media/faces and ../shared/models")
CLI = ["--face-detector", "yunet", "--face-embedder", "arcface", "--fps", "2"]
SHARED, FIRST_ONLY, STRANGER = ["caijin", "fengpin"], ["sunqiliang"], ["zhujiahang"]


def faces_dir(root: Path, identities: list[str]) -> Path:
    """A faces folder with only these identities (links to the shared photos)."""
    root.mkdir(parents=True)
    with open(root / "identity_labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "identity"])
        for identity in identities:
            for k, photo in enumerate(sorted((FACES / identity).iterdir())):
                link = root / f"{identity}_{k}{photo.suffix}"
                link.symlink_to(photo)
                w.writerow([link.name, identity])
    return root


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Two episodes sharing two identities: episode1 run and named from its truth, episode2 run later."""
    from facecluster import build_config, run
    from facecluster.evaluate.synth import synthesize_episode
    from facecluster.library.truth import label_from_truth

    root = tmp_path_factory.mktemp("archive")
    config = build_config(overrides={"face_detector": "yunet", "face_embedder": "arcface", "fps": 2.0})
    for k, ids in enumerate((SHARED + FIRST_ONLY, SHARED + STRANGER)):
        faces = faces_dir(root / f"faces{k + 1}", ids)
        synthesize_episode(faces, root / f"episode{k + 1}.mp4", root / f"episode{k + 1}.json", seconds=16,
                           seed=7 + k, small=True)
    run(root / "episode1.mp4", config, output_dir=root / "archive" / "episode1")
    named = label_from_truth(root / "archive" / "episode1", root / "episode1.json")
    assert set(named.values()) >= set(SHARED)
    return root


@needs_media
def test_run_with_library_names_known_people_and_never_a_stranger(archive, caplog):
    from facecluster.library.truth import person_identities

    lib = archive / "people.fclib"
    runner = CliRunner()
    res = runner.invoke(main, ["library", "add", str(archive / "archive" / "episode1"), "--library", str(lib)])
    assert res.exit_code == 0, res.output
    assert "caijin" in res.output and "fengpin" in res.output
    res = runner.invoke(main, ["library", "list", "--library", str(lib), "--json"])
    listed = json.loads(res.output)
    assert {p["name"] for p in listed["people"]} >= set(SHARED) and listed["embedder"]["backend"] == "arcface"
    res = runner.invoke(main, ["library", "show", "caijin", "--library", str(lib)])
    assert res.exit_code == 0 and "episode1" in res.output

    out = archive / "archive" / "episode2"
    res = runner.invoke(main, ["-q", "run", str(archive / "episode2.mp4"), "-o", str(out), "--library", str(lib), *CLI])
    assert res.exit_code == 0, res.output
    people = json.loads((out / "people.json").read_text())["people"]
    who = person_identities(out, archive / "episode2.json")
    from_library = [p for p in people if p.get("name_source") == "library"]
    assert from_library, people
    for p in from_library:
        assert p["name"] == who[p["id"]]["identity"]  # every name the library gave is right
        assert p["library_similarity"] >= BANDS.sure
    strangers = [p for p in people if who.get(p["id"], {}).get("identity") in STRANGER]
    assert strangers and not any(p.get("name") for p in strangers)
    assert "from library" in (out / "report.html").read_text()
    assert isinstance(json.loads((out / "people.json").read_text())["grouping"]["library"]["joined"], list)

    # the same episode processed before the library existed gets the same names from `recluster --library`
    plain = archive / "archive" / "episode2-plain"
    assert runner.invoke(main, ["-q", "run", str(archive / "episode2.mp4"), "-o", str(plain), *CLI]).exit_code == 0
    assert not any(p.get("name") for p in json.loads((plain / "people.json").read_text())["people"])
    res = runner.invoke(main, ["recluster", str(plain), "--library", str(lib)])
    assert res.exit_code == 0, res.output
    again = json.loads((plain / "people.json").read_text())["people"]
    assert {(p["id"], p["name"]) for p in again if p.get("name")} == {(p["id"], p["name"]) for p in from_library}
    assert "(library " in res.output
    res = runner.invoke(main, ["recluster", str(plain), "--library", str(archive / "missing.fclib")])
    assert res.exit_code == 2 and "does not exist" in res.output
    from facecluster.results import recluster

    res = runner.invoke(main, ["recluster", str(plain), "--cluster-distance", "0.5"])  # the library used last
    assert res.exit_code == 0 and "(library " in res.output
    assert {p["name"] for p in json.loads((plain / "people.json").read_text())["people"]
            if p.get("name_source") == "library"} == {p["name"] for p in from_library}
    res = runner.invoke(main, ["recluster", str(plain), "--no-library", "--library", str(lib)])
    assert res.exit_code == 2 and "not both" in res.output
    os.rename(lib, lib.with_suffix(".moved"))
    try:
        with caplog.at_level(logging.WARNING, logger="facecluster"):
            people = recluster(plain)  # the library is gone: its names go, said and not silent
    finally:
        os.rename(lib.with_suffix(".moved"), lib)
    assert "not there any more" in caplog.text and not any(p.get("name") for p in people)
    with Library.open(archive / "other.fclib", create=True) as other:  # a library of another embedder
        other.add_vectors("X", np.eye(4, dtype=np.float32)[:1], embedder={**EMBEDDER, "dim": 4})
    recluster(plain, library=lib)
    os.rename(lib, lib.with_suffix(".moved"))
    os.rename(archive / "other.fclib", lib)
    try:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="facecluster"):
            people = recluster(plain)
    finally:
        os.rename(lib, archive / "other.fclib")
        os.rename(lib.with_suffix(".moved"), lib)
    assert "different embedders" in caplog.text and not any(p.get("name") for p in people)
    with pytest.raises(ConfigError, match="different embedders"):
        recluster(plain, library=archive / "other.fclib")  # asked for by name: an error, not a warning
    assert not any(p.get("name") for p in recluster(plain, library=False))

    # a library tied to MobileFaceNet refuses a run with another embedder, before decoding anything
    res = runner.invoke(main, ["-q", "run", str(archive / "episode2.mp4"), "-o", str(archive / "other"), "--library",
                               str(lib), "--face-detector", "yunet", "--face-embedder", "sface"])
    assert res.exit_code == 2 and "different embedders" in res.output
    assert not (archive / "other").exists()


@needs_media
def test_cli_merge_and_remove(archive, tmp_path):
    lib = tmp_path / "people.fclib"
    runner = CliRunner()
    for _ in range(2):  # adding a run again replaces what it gave: nothing doubles
        assert runner.invoke(main, ["library", "add", str(archive / "archive" / "episode1"), "--library", str(lib)]
                             ).exit_code == 0
    with Library.open(lib, readonly=True) as library:
        counts = {p["name"]: (p["prototypes"], p["episodes"]) for p in library.people()}
    assert all(episodes == 1 for _, episodes in counts.values())
    res = runner.invoke(main, ["library", "merge", "caijin", "fengpin", "--name", "Cai & Feng", "--library", str(lib)])
    assert res.exit_code == 0 and "Cai & Feng" in res.output
    res = runner.invoke(main, ["library", "remove", "Cai & Feng", "--library", str(lib)])
    assert res.exit_code == 0
    res = runner.invoke(main, ["library", "show", "caijin", "--library", str(lib)])
    assert res.exit_code == 2 and "no person 'caijin'" in res.output


@needs_media
def test_cast_lists_who_is_named_in_which_episode(archive, tmp_path):
    """cast.csv / cast.json from the committed people of every episode: one row per name and episode
    (parts of one person named alike are one row), per name the totals; a new name shows after a re-run."""
    import shutil

    root = tmp_path / "archive"
    for ep in ("episode1", "episode1-copy"):
        shutil.copytree(archive / "archive" / "episode1", root / ep)
    people = [p for p in json.loads((root / "episode1" / "people.json").read_text())["people"]]
    named = {p["name"]: p for p in people if p.get("name")}
    assert named
    res = CliRunner().invoke(main, ["library", "cast", str(root)])
    assert res.exit_code == 0, res.output
    assert f"{len(named)} named people in 2 episodes" in res.output
    rows = list(csv.DictReader((root / "cast.csv").read_text().splitlines()))
    assert len(rows) == 2 * len(named)
    for r in rows:
        p = named[r["name"]]
        assert r["person_ids"] == str(p["id"]) and r["name_sources"] == "edit"
        assert float(r["screen_time_s"]) == pytest.approx(p["screen_time_s"]) and int(r["faces"]) == p["faces"]
    doc = json.loads((root / "cast.json").read_text())
    assert {t["name"]: t["episodes"] for t in doc["people"]} == {n: 2 for n in named}
    first = next(iter(named.values()))
    other = next(p for p in people if p["id"] != first["id"])  # two people of one name: one row, summed
    assert CliRunner().invoke(main, ["label", str(root / "episode1"), str(other["id"]), first["name"]]).exit_code == 0
    CliRunner().invoke(main, ["library", "cast", str(root)])
    row = next(r for r in csv.DictReader((root / "cast.csv").read_text().splitlines())
               if r["name"] == first["name"] and r["episode"] == "episode1")
    assert sorted(map(int, row["person_ids"].split())) == sorted([first["id"], other["id"]])
    assert int(row["faces"]) == first["faces"] + other["faces"]
    (root / "episode1-copy" / "facecluster.sqlite").write_bytes(b"not a database" * 100)  # damaged: left out
    res = CliRunner().invoke(main, ["library", "cast", str(root)])
    assert res.exit_code == 0 and "left out episode1-copy" in res.output
    assert {r["episode"] for r in csv.DictReader((root / "cast.csv").read_text().splitlines())} == {"episode1"}


def _edit_people(folder, change):
    path = folder / "people.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _set_manifest_run(folder):
    path = folder / "manifest.json"
    doc = json.loads(path.read_text())
    doc["run_id"] = "0" * 32
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("fault, message", [
    (None, ""),
    (lambda f: (f / "facecluster.sqlite").write_bytes(b"not a database" * 100), "facecluster.sqlite is damaged"),
    (lambda f: (f / "facecluster.sqlite").unlink(), "facecluster.sqlite is missing"),
    (_set_manifest_run, "manifest.json does not belong to the run"),
    (lambda f: _edit_people(f, lambda d: d.update(run_id="0" * 32)), "people.json does not belong to the run"),
    (lambda f: _edit_people(f, lambda d: d["people"][0].update(units=[10 ** 6])), "lists bad units for person"),
    (lambda f: (f / "people.json").write_text("{"), "people.json is not valid JSON"),
], ids=["intact", "sqlite-garbage", "sqlite-missing", "manifest-other-run", "people-other-run", "unit-out-of-range",
        "people-truncated"])
def test_people_only_read_checks_what_the_full_read_checks(archive, tmp_path, fault, message):
    """`library cast` and identity naming read an episode's people without its detections: the same people,
    manifest and unit owners as the full read, and the same refusal of a damaged or mixed folder, which
    stays as it was."""
    import shutil

    from facecluster.library.archive import load_episode, load_episode_people

    folder = tmp_path / "episode1"
    shutil.copytree(archive / "archive" / "episode1", folder)
    if fault is None:
        full, light = load_episode(folder), load_episode_people(folder)
        assert light.people == full.people and light.manifest == full.manifest and light.run_id == full.run_id
        assert np.array_equal(light.unit_person(), full.unit_person()) and light.n_units == full.table.n_units
        return
    fault(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with pytest.raises(InputError, match=message):
        load_episode_people(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


@needs_media
def test_archive_identities_are_named_once_in_every_episode(archive, tmp_path):
    """Episode 1's labels removed: `library cluster` finds the identities seen in both episodes (never two
    people of one episode together); naming one labels it in both, as a correction that survives."""
    import shutil

    from facecluster.library.truth import person_identities
    from facecluster.runfolder import RunFolder

    root = tmp_path / "archive"
    shutil.copytree(archive / "archive" / "episode1", root / "episode1")
    os.remove(root / "episode1" / "edits.json")
    from facecluster.results import recluster

    recluster(root / "episode1")  # the same people, nobody named
    from facecluster import build_config, run

    config = build_config(overrides={"face_detector": "yunet", "face_embedder": "arcface", "fps": 2.0})
    run(archive / "episode2.mp4", config, output_dir=root / "episode2")
    shutil.copytree(root / "episode2", root / "episode3")
    (root / "episode3" / "facecluster.sqlite").write_bytes(b"not a database" * 100)  # damaged: left out, said
    runner = CliRunner()
    res = runner.invoke(main, ["library", "cluster", str(root)])
    assert res.exit_code == 0, res.output
    assert "left out episode3: " in res.output and "facecluster.sqlite is damaged" in res.output
    doc = json.loads((root / "identities.json").read_text())
    assert [s["episode"] for s in doc["skipped"]] == ["episode3"] and doc["episodes"] == 2
    shutil.rmtree(root / "episode3")
    truth = {ep: person_identities(root / ep, archive / f"{ep}.json") for ep in ("episode1", "episode2")}
    assert doc["identities"]
    for ident in doc["identities"]:
        episodes = [m["episode"] for m in ident["members"]]
        assert len(episodes) == len(set(episodes))  # never two people of one episode
        identities = {truth[m["episode"]][m["person_id"]]["identity"] for m in ident["members"]}
        assert len(identities) == 1 and identities <= set(SHARED)
    first = doc["identities"][0]
    real = truth[first["members"][0]["episode"]][first["members"][0]["person_id"]]["identity"]
    lib = tmp_path / "people.fclib"
    res = runner.invoke(main, ["library", "name-identity", str(root), str(first["id"]), "Guest Star", "--library",
                               str(lib)])
    assert res.exit_code == 0, res.output
    for m in first["members"]:
        with RunFolder(root / m["episode"]).reading() as rf:
            stored = rf.load()
        person = next(p for p in stored.people if p["id"] == m["person_id"])
        assert person["name"] == "Guest Star" and person["name_source"] == "edit"
        assert any(e["op"] == "label" and e["name"] == "Guest Star" for e in stored.edits)
    with Library.open(lib, readonly=True) as library:
        assert library.person("Guest Star")["episodes"] == 2
    assert real in SHARED
