"""`facecluster batch` on a local Ray started here (2 workers): a bad file fails alone, a re-run skips what
is done, a killed batch started again redoes only what was not finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from facecluster import build_config
from facecluster.cli import main

from .conftest import MEDIA, MODELS, ROOT

ray = pytest.importorskip("ray", reason="batch needs the ray extra: pip install 'facecluster[ray]'")
FACES = MEDIA / "faces" / "yywbxgl_video_faces"
pytestmark = pytest.mark.skipif(not (FACES.is_dir() and (MODELS / "face_detection_yunet_2023mar.onnx").is_file()),
                                reason="needs ../shared/media/faces and ../shared/models")
OPTIONS = {"face_detector": "yunet", "face_embedder": "arcface", "fps": 2.0}
CLI_OPTIONS = ["--face-detector", "yunet", "--face-embedder", "arcface", "--fps", "2"]


@pytest.fixture(scope="module")
def cluster():
    """One local Ray for the module (2 CPUs); batch calls in this process reuse it, subprocesses join it."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 << 20, log_to_driver=False,
             logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    from facecluster.evaluate.synth import synthesize_episode

    folder = tmp_path_factory.mktemp("episodes")
    out = []
    for k in range(4):
        video = folder / f"episode{k + 1}.mp4"
        synthesize_episode(FACES, video, folder / f"episode{k + 1}.json", seconds=8, seed=20 + k, small=True)
        out.append(video)
    bad = folder / "broken.mp4"
    bad.write_bytes(os.urandom(50_000))  # not a video at all
    return out, bad


def manifest(outdir: Path) -> dict:
    return json.loads((outdir / "manifest.json").read_text())


def test_batch_bad_file_fails_alone_and_rerun_skips(cluster, videos, tmp_path):
    good, bad = videos
    archive = tmp_path / "archive"
    res = CliRunner().invoke(main, ["-q", "batch", *map(str, good[:3]), str(bad), "-o", str(archive), "--workers", "2",
                                    *CLI_OPTIONS])
    assert res.exit_code == 1, res.output  # one episode failed
    folders = sorted(p.name for p in archive.iterdir() if p.is_dir())
    assert folders == ["episode1", "episode2", "episode3"]
    for name in folders:
        assert manifest(archive / name)["tool"] == "facecluster"
        assert not (archive / name / ".facecluster" / "checkpoint").exists()
    summary = json.loads((archive / "batch-summary.json").read_text())
    status = {e["episode"]: e for e in summary["episodes"]}
    assert status["broken"]["status"] == "failed" and "broken.mp4" in status["broken"]["reason"]
    assert all(status[n]["status"] == "done" and status[n]["people"] >= 1 for n in folders)
    csv_text = (archive / "batch-summary.csv").read_text()
    assert "broken,failed," in csv_text and str(bad) in csv_text

    before = {n: ((archive / n / "manifest.json").stat().st_mtime_ns, manifest(archive / n)["generation"])
              for n in folders}
    from facecluster.batch import run_batch

    again = run_batch([*good[:3], bad], archive, build_config(overrides=OPTIONS), workers=2, progress=False)
    assert {e["episode"]: e["status"] for e in again["episodes"]} == {
        "episode1": "skipped", "episode2": "skipped", "episode3": "skipped", "broken": "failed"}
    assert before == {n: ((archive / n / "manifest.json").stat().st_mtime_ns, manifest(archive / n)["generation"])
                      for n in folders}
    # other extraction settings: the episode is run again into the same folder (edits would be kept)
    changed = run_batch([good[0]], archive, build_config(overrides={**OPTIONS, "fps": 1.0}), workers=2,
                        progress=False)
    assert changed["episodes"][0]["status"] == "done"
    assert manifest(archive / "episode1")["generation"] == before["episode1"][1] + 1


def test_folder_of_another_video_is_not_overwritten(cluster, videos, tmp_path):
    import facecluster
    from facecluster.batch import run_batch

    good, _ = videos
    archive = tmp_path / "archive"
    facecluster.run(good[1], build_config(overrides=OPTIONS), output_dir=archive / "episode1")
    generation = manifest(archive / "episode1")["generation"]
    out = run_batch([good[0]], archive, build_config(overrides=OPTIONS), workers=1, progress=False)
    row = out["episodes"][0]
    assert row["status"] == "failed" and "another video" in row["reason"]
    assert manifest(archive / "episode1")["generation"] == generation
    assert Path(manifest(archive / "episode1")["input"]["path"]).name == "episode2.mp4"


def _running(outdir: Path) -> bool:
    from facecluster.runfolder.locks import run_in_progress

    return run_in_progress(outdir / ".facecluster")


def _checkpoint_frames(outdir: Path) -> int:
    """Sampled frames of a resumable checkpoint (0: none, or its extraction had finished: run again)."""
    from facecluster.runfolder import read_extraction

    db = outdir / ".facecluster" / "checkpoint" / "facecluster.sqlite"
    try:
        stored = read_extraction(db, partial=True) if db.exists() else None
    except Exception:
        return 0
    return len(stored.frames) if stored is not None and stored.meta.get("checkpoint") else 0


def test_killed_batch_redoes_only_what_was_not_finished(cluster, videos, tmp_path):
    from facecluster.batch import run_batch

    good, _ = videos
    archive = tmp_path / "archive"
    env = {**os.environ, "FACECLUSTER_MODELS": str(MODELS)}
    proc = subprocess.Popen([sys.executable, "-m", "facecluster.cli", "-q", "batch", *map(str, good), "-o",
                             str(archive), "--address", cluster, "--workers", "2", *CLI_OPTIONS],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    names = [v.stem for v in good]
    while time.monotonic() < deadline and proc.poll() is None:
        if any((archive / n / "manifest.json").exists() for n in names):
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)  # no clean-up of any kind
    proc.wait()
    deadline = time.monotonic() + 60  # Ray ends the dead driver's tasks; their run locks go with them
    while time.monotonic() < deadline and any(_running(archive / n) for n in names if (archive / n).exists()):
        time.sleep(0.2)
    finished = {n: ((archive / n / "manifest.json").stat().st_mtime_ns, manifest(archive / n)["generation"])
                for n in names if (archive / n / "manifest.json").exists()}
    unfinished = [n for n in names if n not in finished]
    assert finished and unfinished, (finished, unfinished)
    checkpointed = {n: _checkpoint_frames(archive / n) for n in unfinished}

    out = run_batch(good, archive, build_config(overrides=OPTIONS), workers=2, progress=False)
    status = {e["episode"]: e for e in out["episodes"]}
    for n in finished:
        assert status[n]["status"] == "skipped"
        assert ((archive / n / "manifest.json").stat().st_mtime_ns, manifest(archive / n)["generation"]) == finished[n]
    for n in unfinished:
        assert status[n]["status"] == "done", status[n]
        assert manifest(archive / n)["generation"] == 1
        if checkpointed[n]:  # it had saved part of its work: that part was not done again
            assert manifest(archive / n)["resumed_frames"] > 0


def test_interrupted_episode_continues_from_its_checkpoint(cluster, videos, tmp_path, monkeypatch):
    import facecluster
    import facecluster.extract.stages as stages
    from facecluster.batch import run_batch

    good, _ = videos
    archive = tmp_path / "archive"
    monkeypatch.setattr(stages, "CHECKPOINT_S", 0.0)  # a checkpoint after every frame

    def stop(step, completed=None, total=None):
        if step == "frames" and completed and completed >= 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        facecluster.run(good[3], build_config(overrides=OPTIONS), output_dir=archive / "episode4", hook=stop)
    assert _checkpoint_frames(archive / "episode4") >= 6
    out = run_batch([good[3]], archive, build_config(overrides=OPTIONS), workers=1, progress=False)
    assert out["episodes"][0]["status"] == "done"
    assert out["episodes"][0]["resumed_frames"] >= 6
    assert manifest(archive / "episode4")["resumed_frames"] >= 6


def test_a_library_names_the_episodes_done_before(cluster, videos, tmp_path):
    """People named after the first batch: the same batch again with --library names them in every episode
    already done, without decoding it again; the user's own names stay."""
    from facecluster.batch import run_batch
    from facecluster.library import Library
    from facecluster.library.truth import label_from_truth, person_identities

    good, _ = videos
    archive = tmp_path / "archive"
    config = build_config(overrides=OPTIONS)
    first = run_batch(good[:2], archive, config, workers=2, progress=False)
    assert [e["status"] for e in first["episodes"]] == ["done", "done"]
    named = label_from_truth(archive / "episode1", good[0].with_suffix(".json"))
    lib = tmp_path / "people.fclib"
    with Library.open(lib, create=True) as library:
        library.add_run(archive / "episode1")
    generation = manifest(archive / "episode2")["generation"]

    again = run_batch(good[:2], archive, config, workers=2, library=lib, progress=False)
    status = {e["episode"]: e for e in again["episodes"]}
    assert all(e["status"] == "skipped" and "named from the library" in e["reason"] for e in again["episodes"])
    assert status["episode2"]["named_by_library"] >= 1
    assert manifest(archive / "episode2")["generation"] == generation + 1  # regrouped, not run again
    assert manifest(archive / "episode2")["resumed_frames"] == 0
    who = person_identities(archive / "episode2", good[1].with_suffix(".json"))
    people = json.loads((archive / "episode2" / "people.json").read_text())["people"]
    by_library = [p for p in people if p.get("name_source") == "library"]
    assert by_library and all(p["name"] == who[p["id"]]["identity"] for p in by_library)
    first_episode = json.loads((archive / "episode1" / "people.json").read_text())["people"]
    assert {p["id"]: p["name"] for p in first_episode if p.get("name_source") == "edit"} == named
    # the same library again: nothing to do; a library that changed: named again
    third = run_batch(good[:2], archive, config, workers=2, library=lib, progress=False)
    assert all("as it is now" in e["reason"] for e in third["episodes"])
    assert {e["episode"]: e["named_by_library"] for e in third["episodes"]}["episode2"] == \
        status["episode2"]["named_by_library"]
    assert manifest(archive / "episode2")["generation"] == generation + 1
    with Library.open(lib) as library:
        library.remove(next(iter(named.values())))
    fourth = run_batch(good[:2], archive, config, workers=2, library=lib, progress=False)
    assert all("named from the library again" in e["reason"] for e in fourth["episodes"])
    assert manifest(archive / "episode2")["generation"] == generation + 2


def test_batch_without_ray_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    res = CliRunner().invoke(main, ["batch", str(tmp_path / "x.mp4"), "-o", str(tmp_path / "a")])
    assert res.exit_code == 6
    assert "pip install" in res.output and "ray" in res.output


def test_progress_ends_at_its_total_whatever_the_episode_lengths():
    """Seconds of video done are rounded as a running sum: 22.7 s + 5.6 s fill a bar of 28 s exactly (rounding
    each episode gave 29 of 28, which tqdm shows as an unknown total)."""
    from facecluster.batch.episodes import Episode
    from facecluster.batch.ray_runner import _Progress

    episodes = [Episode(f"ep{k}", Path(f"ep{k}.mp4"), Path(f"ep{k}")) for k in range(3)]
    for e, seconds in zip(episodes, (22.7, 5.6, 0.2)):
        e.duration_s = seconds
    bar = _Progress(episodes, enabled=True)
    assert bar.bar.total == 29  # 22.7 + 5.6 + 1 (an episode counts at least a second)
    for e in episodes:
        bar.update(e, "")
        assert bar.bar.n <= bar.bar.total
    assert bar.bar.n == bar.bar.total
    bar.close()
