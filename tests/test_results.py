"""Follow-up commands on real outputs: recluster, label/merge/split, find, similar, annotate, people.csv.

The outputs come from running the pipeline once per session: face only (YuNet + ArcFace, the fast
config without persons) on the Hamilton clip and on a small synthetic episode with known identities,
and with persons and clothing (YOLOX-nano + hsv-hist) on two secureface clips: two women with distinct
clothes, and a woman seen only as a torso. Every test edits its own copy.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from facecluster.cli import main
from facecluster.config import build_config
from facecluster.errors import ConfigError, InputError, OutputError
from facecluster.results import find, label, merge, recluster, similar, split
from facecluster.runfolder import RunFolder
from facecluster.runfolder.documents import PEOPLE_CSV_COLUMNS
from facecluster.runfolder.locks import folder_lock
from facecluster.types import iou_matrix

ROOT = Path(__file__).resolve().parents[1]
SHARED, FAST = (ROOT / ".." / "shared").resolve(), ROOT / "tests" / "configs" / "fast.toml"
CLIP, FACES = SHARED / "media" / "videos" / "short_hamilton_clip.mp4", SHARED / "media" / "faces"
PERSON_CLIPS = {"persons": SHARED / "media" / "videos" / "secureface_rpi_test_3.avi",  # 2 women, faces + bodies
                "torso": SHARED / "media" / "videos" / "secureface_rpi_test_2.avi"}  # 1 woman, no face
FACE_ONLY = {"body_detector": "", "clothing_embedder": "", "clothing_embedder_model": ""}
WITH_PERSONS = {"body_detector": "yolo", "body_detector_model": "yolox-nano", "clothing_embedder": "hsv-hist",
                "clothing_embedder_model": ""}
EPISODE_FACES, EXAMPLES = FACES / "yywbxgl_video_faces", FACES / "face_recognition_examples" / "examples"
pytestmark = pytest.mark.skipif(
    not all(p.exists() for p in (CLIP, EPISODE_FACES, SHARED / "models" / "face_detection_yunet_2023mar.onnx"))
    or not all(importlib.util.find_spec(f"facecluster.{m}") for m in ("detect.yunet", "embed.arcface")),
    reason="needs ../shared media and models and the yunet/arcface backends")

needs_persons = pytest.mark.skipif(
    not all(p.exists() for p in (*PERSON_CLIPS.values(), SHARED / "models" / "yolox_nano.onnx"))
    or not importlib.util.find_spec("facecluster.detect.yolo"),
    reason="needs the secureface clips, yolox_nano.onnx and the yolo backend")

_PRISTINE: dict[str, Path] = {}  # run once per session


def pristine(name: str, factory) -> Path:
    """A finished OUTDIR ('hamilton', 'episode', 'persons' or 'torso'), made once; copy it before changing it."""
    if name not in _PRISTINE:
        from facecluster.pipeline import run

        base = factory.mktemp(f"run-{name}")
        if name == "hamilton":
            video = shutil.copy(CLIP, base / CLIP.name)  # a copy we may move away
            config = build_config(FAST, FACE_ONLY)
        elif name in PERSON_CLIPS:
            video = shutil.copy(PERSON_CLIPS[name], base / PERSON_CLIPS[name].name)
            config = build_config(FAST, WITH_PERSONS)
        else:
            from facecluster.evaluate.synth import synthesize_episode

            video = base / "episode.mp4"
            synthesize_episode(EPISODE_FACES, video, base / "truth.json", seconds=24, seed=3, small=True,
                               face_model="yunet")
            config = build_config(FAST, {"fps": 2.0, **FACE_ONLY})
        run(video, config, output_dir=base / "out")
        _PRISTINE[name] = base / "out"
    return _PRISTINE[name]


def copy_of(name: str, factory, dest: Path) -> Path:
    return Path(shutil.copytree(pristine(name, factory), dest / "out"))


@pytest.fixture
def ham(tmp_path_factory, tmp_path) -> Path:
    return copy_of("hamilton", tmp_path_factory, tmp_path)


@pytest.fixture
def episode(tmp_path_factory, tmp_path) -> tuple[Path, dict]:
    out = copy_of("episode", tmp_path_factory, tmp_path)
    return out, json.loads((pristine("episode", tmp_path_factory).parent / "truth.json").read_text())


@pytest.fixture
def persons(tmp_path_factory, tmp_path) -> Path:
    return copy_of("persons", tmp_path_factory, tmp_path)


@pytest.fixture
def torso(tmp_path_factory, tmp_path) -> Path:
    return copy_of("torso", tmp_path_factory, tmp_path)


def people(folder: Path) -> list[dict]:
    return json.loads((folder / "people.json").read_text())["people"]


def table(folder: Path):
    """The run table with the person ids of the current grouping."""
    rf = RunFolder(folder)
    with rf.reading():
        return rf.load().table


def unit_groups(folder: Path) -> set[frozenset]:
    t = table(folder)
    return {frozenset(t.unit_id[t.person_id == p].tolist()) for p in np.unique(t.person_id) if p >= 0}


def person_of_unit(folder: Path) -> dict[int, int]:
    t = table(folder)
    return dict(zip(t.unit_id.tolist(), t.person_id.tolist()))


def identities(folder: Path, truth: dict) -> dict[int, str]:
    """detection id -> true identity (IoU > 0.3 with a truth face box of its frame)."""
    t, out = table(folder), {}
    frames = {f["frame_index"]: [o for o in f["objects"] if o["kind"] == "face"] for f in truth["frames"]}
    for i in np.flatnonzero(t.is_face).tolist():
        faces = frames.get(int(t.frame_index[i]), [])
        iou = iou_matrix(t.boxes[i:i + 1], [o["box"] for o in faces])[0]
        if len(iou) and iou.max() > 0.3:
            out[int(t.detection_id[i])] = faces[int(iou.argmax())]["identity"]
    return out


@pytest.mark.parametrize("name, stricter", [("hamilton", 0.25), ("episode", 0.4)])
def test_recluster_stricter_without_the_video(name, stricter, tmp_path_factory, tmp_path):
    out = copy_of(name, tmp_path_factory, tmp_path)
    video = Path(json.loads((out / "manifest.json").read_text())["input"]["path"])
    moved = video.rename(video.with_suffix(".moved"))  # prove that no decoding happens
    try:
        before = unit_groups(out)
        result = CliRunner().invoke(main, ["recluster", str(out), "--cluster-distance", str(stricter)])
    finally:
        moved.rename(video)
    assert result.exit_code == 0 and f"{len(people(out))} people in " in result.output, result.output
    after = unit_groups(out)
    assert after != before and all(any(g <= old for old in before) for g in after)  # stricter only splits
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["cluster_distance"] == manifest["grouping"]["face_cut"] == stricter
    rows = list(csv.DictReader((out / "people.csv").read_text(encoding="utf-8").splitlines()))
    assert list(rows[0]) == PEOPLE_CSV_COLUMNS
    assert [(int(r["id"]), float(r["screen_time_s"])) for r in rows] == [(p["id"], p["screen_time_s"])
                                                                        for p in people(out)]
    assert len(people(out)) == (out / "report.html").read_text().count('class="card person"')


def test_label_merge_split_survive_recluster(ham):
    big = max(people(ham), key=lambda p: len(p["units"]))
    assert len(people(ham)) >= 4 and len(big["units"]) >= 2
    units_big = big["units"]
    split(ham, big["id"], by="track")
    apart = {person_of_unit(ham)[u] for u in units_big}
    assert len(apart) == len(units_big)
    a, b = [p["id"] for p in people(ham) if p["id"] not in apart][:2]
    units_ab = [u for u, p in person_of_unit(ham).items() if p in (a, b)]
    assert sorted((merged := merge(ham, [a, b]))["units"]) == sorted(units_ab)
    assert label(ham, merged["id"], "Lin-Manuel <b>Miranda</b>")["name"] == "Lin-Manuel <b>Miranda</b>"
    for setting in (0.25, 0.9, 0.0):  # stricter, looser, back to the default
        recluster(ham, {"cluster_distance": setting})
        pou = person_of_unit(ham)
        assert len({pou[u] for u in units_ab}) == 1  # merged units stay together
        assert len({pou[u] for u in units_big}) == len(units_big)  # split units stay apart
        holder = next(p for p in people(ham) if p["id"] == pou[units_ab[0]])
        assert holder["name"] == "Lin-Manuel <b>Miranda</b>"  # the name follows its units
    edits = json.loads((ham / "edits.json").read_text())["edits"]
    assert [e["op"] for e in edits] == ["split", "merge", "label"]
    captions = (ham / "people.vtt").read_text(encoding="utf-8")
    assert "Lin-Manuel &lt;b&gt;Miranda&lt;/b&gt;" in captions and "<b>" not in captions
    assert json.loads((ham / "manifest.json").read_text())["files"]["people.vtt"]["bytes"] == len(captions.encode())


def _cues(vtt: str) -> list[tuple[float, float, str]]:
    def seconds(stamp: str) -> float:
        h, m, s = stamp.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    blocks = vtt.split("\n\n")
    assert blocks[0] == "WEBVTT" and blocks[1].startswith("NOTE ")
    out = []
    for block in blocks[2:]:
        if block.strip():
            number, timing, text = block.strip().split("\n")
            start, end = timing.split(" --> ")
            out.append((seconds(start), seconds(end), text))
    return out


def test_people_vtt_says_who_is_on_screen_without_overlaps():
    """One caption track: cues in time order that never overlap, each naming everyone on screen then; a
    stretch of the same people is one cue; names are one line of text, never markup or a timing arrow."""
    from facecluster.runfolder.documents import people_vtt

    people = [{"id": 0, "name": "Ann", "appearances": [[0.0, 4.0], [10.0, 12.0]]},
              {"id": 1, "name": None, "appearances": [[2.0, 6.0]]},
              {"id": 2, "name": "B <i>&</i>\n--> x", "appearances": [[6.0, 8.0], [3600.5, 3601.25]]},
              {"id": 3, "name": "Nobody seen", "appearances": []}]
    cues = _cues(people_vtt(people).decode("utf-8"))
    assert cues == [(0.0, 2.0, "Ann"), (2.0, 4.0, "Ann, person 1"), (4.0, 6.0, "person 1"),
                    (6.0, 8.0, "B &lt;i&gt;&amp;&lt;/i&gt; --&gt; x"), (10.0, 12.0, "Ann"),
                    (3600.5, 3601.25, "B &lt;i&gt;&amp;&lt;/i&gt; --&gt; x")]
    assert all(a[1] <= b[0] for a, b in zip(cues, cues[1:]))
    assert b"01:00:00.500 --> 01:00:01.250" in people_vtt(people)
    assert _cues(people_vtt([]).decode("utf-8")) == []


def test_ffmpeg_reads_people_vtt(tmp_path):
    """Other tools read it: FFmpeg's WebVTT demuxer (what players and converters use) gives the same cues."""
    import av

    from facecluster.runfolder.documents import people_vtt

    people = [{"id": 0, "name": "Ann & Bo", "appearances": [[1.0, 3.5], [7.0, 9.0]]},
              {"id": 5, "name": "", "appearances": [[3.0, 4.0]]}]
    path = tmp_path / "people.vtt"
    path.write_bytes(people_vtt(people))
    with av.open(str(path)) as container:
        stream = container.streams[0]
        got = [(float(p.pts * p.time_base), float((p.pts + p.duration) * p.time_base), bytes(p).decode())
               for p in container.demux(stream) if p.size]
    assert got == [(1.0, 3.0, "Ann &amp; Bo"), (3.0, 3.5, "Ann &amp; Bo, person 5"), (3.5, 4.0, "person 5"),
                   (7.0, 9.0, "Ann &amp; Bo")]


def test_a_users_own_people_vtt_is_never_replaced(episode):
    """An OUTDIR made before facecluster wrote people.vtt, holding the user's own file of that name: a
    re-grouping keeps it byte for byte, says so, and does not list it as facecluster's."""
    out, _ = episode
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"].pop("people.vtt", None)
    (out / "manifest.json").write_text(json.dumps(manifest))
    mine = b"WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.000\nmy own subtitles\n"
    (out / "people.vtt").write_bytes(mine)
    result = CliRunner().invoke(main, ["recluster", str(out), "--cluster-distance", "0.5"])
    assert result.exit_code == 0, result.output
    assert (out / "people.vtt").read_bytes() == mine and "people.vtt was not written by facecluster" in result.output
    assert "people.vtt" not in json.loads((out / "manifest.json").read_text())["files"]
    (out / "people.vtt").unlink()  # moved away: the next grouping writes facecluster's
    assert CliRunner().invoke(main, ["recluster", str(out)]).exit_code == 0
    assert (out / "people.vtt").read_text().startswith("WEBVTT") and "my own" not in (out / "people.vtt").read_text()


def test_split_strict_and_errors(ham):
    ids = [p["id"] for p in people(ham)]
    with pytest.raises(ConfigError, match="valid person ids: " + ", ".join(map(str, ids))):
        label(ham, 999, "x")
    with pytest.raises(ConfigError, match="two different"):
        merge(ham, [ids[0], ids[0]])
    single = next(p for p in people(ham) if len(p["units"]) == 1)
    with pytest.raises(ConfigError, match="only one track"):
        split(ham, single["id"], by="strict")
    assert len(split(ham, merge(ham, ids[:3])["id"], by="strict")) >= 2
    result = CliRunner().invoke(main, ["label", str(ham), "12345", "x"])
    assert result.exit_code == ConfigError.exit_code and "valid person ids" in result.output
    with pytest.raises(ConfigError, match="facecluster run"):  # extraction options need the video
        recluster(ham, {"fps": 2.0})
    result = CliRunner().invoke(main, ["recluster", str(ham), "--fps", "2"])  # not even an option of recluster
    assert result.exit_code == 2
    with pytest.raises(OutputError, match="not a facecluster output"):
        label(ham.parent, 0, "x")


def test_edits_wait_for_the_lock(ham):
    with folder_lock(ham, exclusive=False):  # a reader holds the folder
        (worker := threading.Thread(target=label, args=(ham, people(ham)[0]["id"], "Waited"))).start()
        time.sleep(0.5)
        assert worker.is_alive()  # blocked until we release
    worker.join(30)
    assert people(ham)[0]["name"] == "Waited"


def test_find_episode_people_and_strangers(episode):
    out, truth = episode
    who = identities(out, truth)
    t = table(out)
    pairs = Counter((who[d], p) for d, p in zip(t.detection_id.tolist(), t.person_id.tolist())
                    if d in who and p >= 0)
    expected = {ident: max((n, p) for (i, p), n in pairs.items() if i == ident)[1] for ident, _ in pairs}
    assert len(expected) >= 3
    for ident in (i for i in truth["identities"] if i["name"] in expected):
        matches = find(out, EPISODE_FACES / ident["photos"][0])["faces"][0]["matches"]
        assert matches and matches[0]["person_id"] == expected[ident["name"]], (ident["name"], matches)
        assert matches[0]["appearances"] and matches[0]["similarity"] > 0.4
    stranger = next(d for d in sorted(EPISODE_FACES.iterdir())
                    if d.is_dir() and d.name not in {i["name"] for i in truth["identities"]})
    for photo in (sorted(stranger.iterdir())[0], EXAMPLES / "biden.jpg"):
        face = find(out, photo)["faces"][0]
        assert face["matches"] == [] and face["closest"]["similarity"] < 0.4, photo


def test_find_cli_on_the_clip(ham, tmp_path):
    result = CliRunner().invoke(main, ["find", str(ham), str(EXAMPLES / "lin-manuel-miranda.png"), "--json"])
    assert result.exit_code == 0, result.output
    match = json.loads(result.output)["faces"][0]["matches"]  # Lin-Manuel Miranda is the clip's main face
    assert match and next(p for p in people(ham) if p["id"] == match[0]["person_id"])["faces"] >= 3
    result = CliRunner().invoke(main, ["find", str(ham), str(FACES / "faceapi_bbt" / "bbt1.jpg")])
    assert result.exit_code == 0 and "nobody" in result.output and ": similarity" not in result.output
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    with pytest.raises(InputError, match="no face found"):
        find(ham, blank)
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    result = CliRunner().invoke(main, ["find", str(ham), str(tmp_path / "bad.jpg")])
    assert result.exit_code == InputError.exit_code and "cannot read" in result.output


def test_similar_finds_the_same_person_first(episode):
    out, truth = episode
    who = identities(out, truth)
    most_seen = Counter(who.values()).most_common(1)[0][0]
    query = min(d for d, ident in who.items() if ident == most_seen)
    res = (result := similar(out, query, top=5))["results"]
    assert res and all(r["unit_id"] != result["unit_id"] for r in res)  # other sightings, not its own unit
    assert [r["face_similarity"] for r in res] == sorted((r["face_similarity"] for r in res), reverse=True)
    assert who.get(res[0]["detection_id"]) == who.get(query) is not None
    cli = CliRunner().invoke(main, ["similar", str(out), str(query), "--top", "3", "--json"])
    assert cli.exit_code == 0 and len(json.loads(cli.output)["results"]) == 3
    with pytest.raises(ConfigError, match="no detection 1000000"):
        similar(out, 10 ** 6)


def test_annotate_keeps_every_frame(ham, tmp_path):
    source, dest = json.loads((ham / "manifest.json").read_text())["input"]["path"], tmp_path / "annotated.mp4"
    result = CliRunner().invoke(main, ["-q", "annotate", str(ham), "-o", str(dest)])
    assert result.exit_code == 0, result.output
    t = table(ham)
    sample = int(t.frame_index[t.person_id >= 0][0])
    videos = []
    for path in (source, dest):
        with av.open(str(path)) as c:
            videos.append([f.to_ndarray(format="bgr24").astype(int) if i == sample else None
                           for i, f in enumerate(c.decode(video=0))])
    assert len(videos[0]) == len(videos[1]) > 0  # same frame count, and the output decodes
    assert np.abs(videos[0][sample] - videos[1][sample]).max() > 100  # boxes were drawn on the sampled frame
    result = CliRunner().invoke(main, ["annotate", str(ham), "-o", str(tmp_path / "x.mp4"), "--video",
                                       str(tmp_path / "missing.mp4")])
    assert result.exit_code == InputError.exit_code and "--video" in result.output


def check_units(folder: Path):
    """Every unit is one person, and a face and the body it was seen in are the same person."""
    t = table(folder)
    for unit in np.unique(t.unit_id):
        assert len(np.unique(t.person_id[t.unit_id == unit])) == 1, unit
    for det, body in zip(t.detection_id.tolist(), t.body_detection_id.tolist()):
        assert body < 0 or t.person_id[body] == t.person_id[det], (det, body)
    return t


@needs_persons
def test_recluster_with_person_rows_without_the_video(persons):
    video = Path(json.loads((persons / "manifest.json").read_text())["input"]["path"])
    run_table, run_people = check_units(persons), people(persons)
    assert {"face", "body"} <= set(run_table.kind.tolist()) and len(run_people) >= 2
    assert all(p["bodies"] > 0 for p in run_people)
    run_manifest = json.loads((persons / "manifest.json").read_text())
    moved = video.rename(video.with_suffix(".moved"))
    try:
        same = CliRunner().invoke(main, ["recluster", str(persons)])  # the stored settings: what `run` found
        assert same.exit_code == 0, same.output
        assert np.array_equal(table(persons).person_id, run_table.person_id)
        assert [(p["id"], p["faces"], p["bodies"]) for p in people(persons)] == \
            [(p["id"], p["faces"], p["bodies"]) for p in run_people]
        assert "bodies in" in same.output
        stricter = CliRunner().invoke(main, ["recluster", str(persons), "--cluster-distance", "0.3",
                                             "--clothing-weight", "0.2"])
        assert stricter.exit_code == 0, stricter.output
    finally:
        moved.rename(video)
    t = check_units(persons)
    assert len(people(persons)) > len(run_people)  # a stricter distance splits someone
    for col in ("kind", "detection_id", "track_id", "unit_id", "face_detection_id", "body_detection_id", "x1"):
        assert np.array_equal(getattr(t, col), getattr(run_table, col)), col  # only person_id changes
    assigned = t.person_id >= 0
    assert sum(p["faces"] for p in people(persons)) == int((assigned & t.is_face).sum())
    assert sum(p["bodies"] for p in people(persons)) == int((assigned & t.is_body).sum())
    manifest = json.loads((persons / "manifest.json").read_text())
    assert manifest["config"]["clothing_weight"] == manifest["grouping"]["clothing_weight"] == 0.2
    assert manifest["grouping"]["clothing_cut"] > 0 and manifest["grouping"]["face_cut"] == 0.3
    html = (persons / "report.html").read_text(encoding="utf-8")
    assert html.count('class="card person"') == html.count('<g class="row"') == len(people(persons))
    back = {k: run_manifest["config"][k] for k in ("cluster_distance", "clothing_weight")}
    recluster(persons, back)  # back to the run's settings, the run's people
    assert np.array_equal(table(persons).person_id, run_table.person_id)


@needs_persons
def test_edits_on_a_person_seen_only_as_a_body(torso, tmp_path):
    (only,) = people(torso)
    assert only["faces"] == 0 and len(only["units"]) >= 2 and only["thumbnail"].startswith("thumbs/bodies/")
    assert (torso / only["thumbnail"]).is_file()
    html = (torso / "report.html").read_text(encoding="utf-8")
    assert f'<img class="rep body" loading="lazy" src="{only["thumbnail"]}"' in html
    assert 'src="thumbs/bodies/' in html and 'src="thumbs/faces/' not in html
    assert label(torso, only["id"], "Back <i>view</i>")["name"] == "Back <i>view</i>"
    units = sorted(person_of_unit(torso))
    parts = split(torso, only["id"], by="track")
    assert len(parts) == len(units) and sum(p["bodies"] for p in parts) == only["bodies"]
    recluster(torso, {"min_person_detections": 1})
    assert len({person_of_unit(torso)[u] for u in units}) == len(units)  # the split survives
    merged = merge(torso, [p["id"] for p in people(torso)])
    assert len(merged["units"]) == len(units) and merged["bodies"] == only["bodies"]
    recluster(torso, {"min_person_detections": 2})
    (back,) = people(torso)
    assert back["name"] == "Back <i>view</i>" and len(back["units"]) == len(units)
    assert "Back &lt;i&gt;view&lt;/i&gt;" in (torso / "report.html").read_text(encoding="utf-8")
    body = int(table(torso).detection_id[0])
    res = similar(torso, body, top=3)
    assert res["kind"] == "body" and res["results"]
    assert all(r["kind"] == "body" and r["face_similarity"] is None and r["clothing_similarity"] is not None
               and r["thumbnail"].startswith("thumbs/bodies/") for r in res["results"])
    cli = CliRunner().invoke(main, ["similar", str(torso), str(body), "--top", "2"])
    assert cli.exit_code == 0 and cli.output.startswith(f"body detection {body} ") and "clothing" in cli.output


@needs_persons
def test_similar_on_bodies_and_faces_uses_clothing(persons):
    t = table(persons)
    with_face = np.flatnonzero(t.is_body & (t.face_detection_id >= 0))
    query = int(t.detection_id[with_face[0]])
    res = similar(persons, query, top=5)
    assert res["kind"] == "body" and res["results"]
    assert all(r["unit_id"] != res["unit_id"] and r["clothing_similarity"] is not None for r in res["results"])
    assert any(r["face_similarity"] is not None for r in res["results"])  # the unit has a face: faces count too
    assert res["results"][0]["person_id"] == res["person_id"]
    assert [r["relative_distance"] for r in res["results"]] == sorted(r["relative_distance"] for r in res["results"])
    face = int(t.detection_id[t.is_face][0])
    res = similar(persons, face, top=3)
    # candidates are faces, and bodies never seen with a face (compared by clothing alone)
    assert res["kind"] == "face" and res["results"]
    assert all(r["kind"] == "face" or t.face_detection_id[r["detection_id"]] < 0 for r in res["results"])
    assert all(r["clothing_similarity"] is not None for r in res["results"])
    with pytest.raises(ConfigError, match="detection ids are 0"):
        similar(persons, 10 ** 6)


@needs_persons
def test_annotate_draws_bodies(torso, tmp_path):
    dest = tmp_path / "annotated.mp4"
    result = CliRunner().invoke(main, ["-q", "annotate", str(torso), "-o", str(dest)])
    assert result.exit_code == 0, result.output
    t = table(torso)
    i = int(np.flatnonzero(t.person_id >= 0)[0])
    sample = int(t.frame_index[i])
    x1, y1, x2, y2 = (int(round(float(v))) for v in t.boxes[i])
    source = json.loads((torso / "manifest.json").read_text())["input"]["path"]
    videos = []
    for path in (source, dest):
        with av.open(str(path)) as c:
            videos.append([f.to_ndarray(format="bgr24").astype(int) if k == sample else None
                           for k, f in enumerate(c.decode(video=0))])
    assert len(videos[0]) == len(videos[1]) > 0
    diff = np.abs(videos[0][sample] - videos[1][sample]).max(axis=2)
    h, w = diff.shape
    band = np.zeros_like(diff, bool)
    band[max(y1 - 3, 0):min(y2 + 4, h), max(x1 - 3, 0):min(x2 + 4, w)] = True
    band[max(y1 + 4, 0):max(y2 - 30, 0), max(x1 + 4, 0):max(x2 - 3, 0)] = False  # the inside, above the label
    assert diff[band].max() > 100 and diff[~band].max() < 60  # a box (and its label) around the body only


def test_merges_chain_into_one_must_link_group():
    """Corrections' must-link groups are the connected components of the merges (a-b then b-d is a-b-d)."""
    from facecluster.grouping import components

    comp = components(6, [[0, 1], [1, 3], [4, 5]])
    assert comp[0] == comp[1] == comp[3] and comp[4] == comp[5]
    assert len({comp[0], comp[2], comp[4]}) == 3 and len(np.unique(comp)) == 3
    assert components(0, []).shape == (0,)
