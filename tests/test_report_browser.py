"""report.html: self-contained, escaped, small for long episodes, and in a real browser (Debian's chromium
driven by Playwright from file://): thumbnails load, appearance links seek into the video beside it, and
its Content-Security-Policy stops a tampered people list from loading anything from elsewhere.

The reports are rendered from generated run tables (no models needed); the video and thumbnails beside
them are generated too.
"""

from __future__ import annotations

import http.server
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from facecluster.people import summarize_people
from facecluster.report import CSP, render_report
from facecluster.table import SCHEMA, RunTable
from facecluster.types import l2_normalize
from .conftest import wait_js, write_video

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
SCRIPT_NAME = "<script>alert(1)</script>"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def make_run(n_people: int, n_detections: int, per_frame: int = 10, seed: int = 0, noise: int = 0):
    """(table, people, manifest) of a generated run: people in random frames, 8-frame tracks (one unit
    each); the last `noise` units belong to nobody."""
    rng = np.random.default_rng(seed)
    n_frames = -(-n_detections // per_frame)
    who = np.concatenate([rng.choice(n_people, per_frame, replace=False) for _ in range(n_frames)])[:n_detections]
    frame = np.arange(n_detections) // per_frame
    slot = np.arange(n_detections) % per_frame
    _, unit = np.unique(who * 100000 + frame // 8, return_inverse=True)
    unit = unit.ravel()
    n = n_detections
    columns = {c: np.zeros(n, d) for c, d in SCHEMA.items()}
    columns.update(detection_id=np.arange(n), frame_index=frame * 25, time_s=frame.astype(float),
                   kind=np.full(n, "face"),
                   x1=slot * 60.0, y1=np.full(n, 20.0), x2=slot * 60.0 + 50, y2=np.full(n, 70.0),
                   score=np.full(n, 0.9), track_id=unit, unit_id=unit, face_detection_id=np.full(n, -1),
                   body_detection_id=np.full(n, -1))
    unit_person = np.zeros(unit.max() + 1, np.int64)
    unit_person[unit] = who
    if noise:
        unit_person[-noise:] = -1
    columns["person_id"] = unit_person[unit]
    table = RunTable(**columns)
    emb = l2_normalize(rng.normal(size=(n_people, 32))[who] + 0.05 * rng.normal(size=(n, 32))).astype(np.float32)
    people = summarize_people(table, unit_person, (np.arange(n), emb), 1.0, float(n_frames))
    model = {"name": "yunet", "path": "/models/yunet.onnx", "sha256": "ab" * 32}
    manifest = {"version": "test", "created": "2026-01-01T00:00:00+00:00",
                "input": {"path": "/videos/long <episode>.mp4", "duration_s": float(n_frames)},
                "analysed_seconds": float(n_frames), "config": {"fps": 1.0},
                "counts": {"face_detections": n, "sampled_frames": n_frames},
                "models": [model, dict(model)], "grouping": {"face_cut": 0.6}}
    return table, people, manifest


def test_big_episode_report_is_small(tmp_path):
    table, people, manifest = make_run(n_people=200, n_detections=50_000)
    html = render_report(tmp_path, table, people, manifest, [])
    assert len(html.encode()) < 2_000_000
    assert html.count('class="card person"') == 200 and html.count('<g class="row"') == 200
    assert "data:image" not in html and "<script" not in html  # no inlined images, no scripts
    assert "long &lt;episode&gt;.mp4" in html and html.count("ab" * 32) == 1  # each model file listed once


def test_report_is_self_contained_escaped_and_counted_right(tmp_path):
    table, people, manifest = make_run(n_people=5, n_detections=300, per_frame=3, noise=1)
    people[0]["name"] = SCRIPT_NAME
    html = render_report(tmp_path / "out", table, people, manifest, [])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    escaped = CSP.replace("'", "&#39;")
    assert f'<meta http-equiv="Content-Security-Policy" content="{escaped}">' in html
    assert CSP.startswith("default-src 'none';") and "media-src 'self'" in CSP and "http" not in CSP
    assert not re.search(r'(src|href)="(https?:)?//', html) and "<link" not in html
    imgs = re.findall(r"<img [^>]*>", html)
    assert imgs and all('loading="lazy"' in i and 'src="thumbs/faces/' in i for i in imgs)
    assert str((tmp_path / "out").resolve()) in html  # the final folder
    noise = int((table.person_id < 0).sum())
    assert f"{noise} unassigned faces" in html and 'id="unassigned"' in html
    assert f"{len(people)} people" in html
    # appearance intervals as text (no video beside the report) and screen-time share
    assert '<dd class="intervals">' in html and "#t=" not in html
    assert re.search(r"\(\d+% of the video\)", html)


def test_plural_forms_and_duration_from_the_container(tmp_path):
    table, _, manifest = make_run(n_people=1, n_detections=9, per_frame=1)  # units: frames 0-7, frame 8
    manifest["input"]["duration_s"] = 10.0  # the container's duration; the last sample is at 8 s
    manifest["analysed_seconds"] = 10.0
    unit_person = np.array([0, -1])
    table = table.replace(person_id=unit_person[table.unit_id])
    people = summarize_people(table, unit_person, None, 1.0, 10.0)
    html = render_report(tmp_path, table, people, manifest, [{"id": 1, "op": "label"}])
    header = re.search(r"<header>.*?</header>", html, re.S).group(0)
    assert "1 person " in header and "1 people" not in header
    assert "0:10.0 of video" in header and "0:09.9" not in header
    assert "1 unassigned face " in header or "1 unassigned face\n" in header
    assert "1 edit in edits.json" in html


def _thumbs(folder: Path, table) -> None:
    import cv2

    (folder / "thumbs" / "faces").mkdir(parents=True)
    for i in table.detection_id.tolist():
        image = np.full((48, 48, 3), (40 + 7 * i) % 255, np.uint8)
        cv2.imwrite(str(folder / "thumbs" / "faces" / f"{i}.jpg"), image)


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_report_in_chromium_seeks_and_loads_nothing_remote(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api",
                                     reason="needs Playwright for Python (pip install playwright)")
    table, people, manifest = make_run(n_people=3, n_detections=60, per_frame=2, noise=1)
    out = tmp_path / "out"
    out.mkdir()
    _thumbs(out, table)
    frames = [np.full((64, 96, 3), (i * 5) % 255, np.uint8) for i in range(int(table.time_s.max()) * 5 + 10)]
    video = write_video(out / "episode.mp4", frames, fps=5)
    manifest["input"] = {"path": str(tmp_path / "elsewhere" / "episode.mp4"), "duration_s": len(frames) / 5}
    # a tampered people list: a name with markup, a thumbnail on another host
    remote = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=remote.serve_forever, daemon=True).start()
    people[0]["name"] = SCRIPT_NAME
    people[1]["thumbnail"] = f"http://127.0.0.1:{remote.server_port}/steal.png"
    (out / "report.html").write_text(render_report(out, table, people, manifest, []), encoding="utf-8")
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            page.goto((out / "report.html").as_uri())
            page.wait_for_load_state("load")
            assert page.locator("h3.name").first.text_content() == SCRIPT_NAME  # shown as text
            loaded = page.evaluate("Array.from(document.querySelectorAll('img[src^=\"thumbs/\"]'))"
                                   ".map(i => { i.loading = 'eager'; return i.src; }).length")
            assert loaded > 10
            wait_js(page, "Array.from(document.querySelectorAll('img[src^=\"thumbs/\"]'))"
                    ".every(i => i.complete && i.naturalWidth > 0)", 15)
            links = page.locator("dd.intervals a")
            assert links.count() >= 3
            href = links.first.get_attribute("href")
            assert re.fullmatch(r"episode\.mp4#t=[\d.]+,[\d.]+", href)
            start, end = (float(x) for x in href.split("=")[1].split(","))
            # the browser's own player opens the video at that moment
            page.goto((out / href.split("#")[0]).as_uri() + "#" + href.split("#")[1])
            wait_js(page, "document.querySelector('video') && document.querySelector('video').readyState >= 1", 15)
            now = page.evaluate("document.querySelector('video').currentTime")  # it may be playing
            assert start - 0.05 <= now <= end + 0.3, (now, start, end)
            page.goto((out / "report.html").as_uri())
            page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
            browser.close()
    finally:
        remote.shutdown()
    assert _Recorder.hits == []  # the CSP stopped the remote image
    assert video.exists() and (tmp_path / "report.png").stat().st_size > 20_000
