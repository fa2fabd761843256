"""report.html: rendered by headless Chromium from file://, escaped, self-contained, small and fast.

The browser test uses the real outputs of the Hamilton clip (faces only) and of a clip run with persons
and clothing (made once, see test_results.pristine);
Chromium comes from Debian (`apt-get install chromium`, done by .ci/run).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from facecluster import store
from facecluster.cli import main
from facecluster.config import Config
from facecluster.people import summarize_people
from facecluster.report import write_report
from facecluster.types import l2_normalize
from tests.test_results import needs_persons, people, pristine, pytestmark as needs_real_outputs

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
SCRIPT_NAME = "<script>alert(1)</script>"


def chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--no-first-run", "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=90)


def make_outdir(folder: Path, n_people: int, n_detections: int, per_frame: int = 10, seed: int = 0) -> Path:
    """A synthetic OUTDIR (no video, no thumbnails): people appear in random frames, tracks of 8 frames."""
    rng = np.random.default_rng(seed)
    n_frames = -(-n_detections // per_frame)
    who = np.concatenate([rng.choice(n_people, per_frame, replace=False) for _ in range(n_frames)])[:n_detections]
    frame = np.arange(n_detections) // per_frame
    slot = np.arange(n_detections) % per_frame
    _, track = np.unique(who * 100000 + frame // 8, return_inverse=True)
    table = {"detection_id": np.arange(n_detections), "frame_index": frame * 25, "time_s": frame.astype(float),
             "kind": np.array(["face"] * n_detections), "x1": slot * 60.0, "y1": np.full(n_detections, 20.0),
             "x2": slot * 60.0 + 50, "y2": np.full(n_detections, 70.0), "score": np.full(n_detections, 0.9),
             "track_id": track.ravel(), "person_id": who}
    emb = l2_normalize(rng.normal(size=(n_people, 32))[who] + 0.05 * rng.normal(size=(n_detections, 32)))
    folder.mkdir(parents=True)
    people_ = summarize_people(table, (table["detection_id"], emb), 1.0, "thumbs")
    config = Config(face_detector="yunet", face_embedder="arcface").to_dict()
    manifest = {"version": "test", "input": {"path": "/videos/long <episode>.mp4", "duration_s": float(n_frames)},
                "config": config, "same_person_distance": 0.6, "counts": {"face_detections": n_detections},
                "models": [{"name": "yunet", "path": "/models/yunet.onnx", "sha256": "ab" * 32}]}
    store.write_detections(folder, table)
    store.write_json(folder / "people.json", {"people": people_})
    store.write_json(folder / store.MANIFEST, manifest)
    return folder


def test_big_episode_report_is_fast_and_small(tmp_path):
    folder = make_outdir(tmp_path / "big", n_people=200, n_detections=50_000)
    started = time.perf_counter()
    path = write_report(folder)
    took = time.perf_counter() - started
    html = path.read_text(encoding="utf-8")
    assert took < 2.0, f"report took {took:.2f} s"
    assert path.stat().st_size < 2_000_000
    assert html.count('class="card person"') == 200 and html.count('<g class="row"') == 200
    assert "data:" not in html and "<script" not in html  # no inlined images, no scripts
    assert "long &lt;episode&gt;.mp4" in html and "ab" * 32 in html


def test_report_is_self_contained_and_escaped(tmp_path):
    folder = make_outdir(tmp_path / "small", n_people=5, n_detections=300, per_frame=3)
    people_ = json.loads((folder / "people.json").read_text())["people"]
    people_[0]["name"] = SCRIPT_NAME
    store.write_json(folder / "people.json", {"people": people_})
    html = write_report(folder).read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html) and "<link" not in html
    imgs = re.findall(r"<img [^>]*>", html)
    assert imgs and all('loading="lazy"' in i and 'src="thumbs/faces/' in i for i in imgs)


@needs_real_outputs
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
@pytest.mark.parametrize("name", ["hamilton", pytest.param("persons", marks=needs_persons)])
def test_report_in_headless_chromium(name, tmp_path_factory, tmp_path):
    from facecluster.results import label

    out = Path(shutil.copytree(pristine(name, tmp_path_factory), tmp_path / "out"))
    first = people(out)[0]["id"]
    label(out, first, SCRIPT_NAME)  # rewrites report.html
    (out / "report.html").unlink()
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 0 and (out / "report.html").exists()
    url = (out / "report.html").resolve().as_uri()
    dom = chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    n = len(people(out))
    assert n >= 2
    assert len(re.findall(r'<div class="card person"', html)) == n
    assert re.search(r"<svg[^>]*>", html) and len(re.findall(r'<g class="row"', html)) == n
    assert len(re.findall(r'<path class="seg" d="M', html)) == n
    assert "&lt;script&gt;alert(1)&lt;/script&gt;</h3>" in html and "<script>alert" not in html
    if name == "persons":  # face and body rows: counts of both, every person on the timeline
        bodies = sum(p["person_detections"] for p in people(out))
        assert bodies and " body detections in " in html and re.search(r"(&middot;|\u00b7) \d+ bodies", html)
    shot = tmp_path / "report.png"
    res = chromium(f"--screenshot={shot}", "--window-size=1280,2000", url)
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[:2] == (2000, 1280) and image.std() > 20  # not a blank page
