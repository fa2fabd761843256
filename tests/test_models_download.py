"""Model downloads against local HTTP servers (never the internet): redirects, overall deadline, size cap,
checksum, unpinned files, archives, profiles; `models list` / `models download` from the command line.

Every failure case also checks that nothing was installed and no partial file was left behind."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import shutil
import threading
import zipfile

import pytest
from click.testing import CliRunner

from facecluster import download, models, profiles
from facecluster.cli import main
from facecluster.errors import ModelError

from .conftest import MEDIA, MODELS

YUNET = MODELS / "face_detection_yunet_2023mar.onnx"
# shipped-profile models whose publishers give no sha256 yet (README: `models download --allow-unpinned`)
KNOWN_UNPINNED: set[str] = set()  # every model of every shipped profile has a pinned sha256


class Server:
    """An HTTP server on 127.0.0.1 (port 0) answering each path from `routes`:
    ("file", bytes) | ("redirect", url) | ("trickle", bytes, seconds per byte) | ("stream", bytes) (no
    Content-Length) | ("announce", n) (claims n bytes, sends none) | ("slow-headers", seconds per byte).
    Unknown paths: files of `folder`."""

    def __init__(self, folder=None):
        self.routes, self.requests, self.stop = {}, [], threading.Event()
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder or MODELS), **kwargs)

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                route = server.routes.get(self.path)
                if route is None:
                    return super().do_GET()
                kind, arg = route[0], route[1]
                if kind == "slow-headers":  # a header line one byte at a time, never finished
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    for byte in b"X-Slow: " + b"a" * 40:
                        if server.stop.wait(arg):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    return
                if kind == "redirect":
                    self.send_response(302)
                    self.send_header("Location", arg)
                    self.end_headers()
                    return
                self.send_response(200)
                if kind == "announce":
                    self.send_header("Content-Length", str(arg))
                elif kind != "stream":
                    self.send_header("Content-Length", str(len(arg)))
                self.end_headers()
                if kind in ("file", "stream"):
                    self.wfile.write(arg)
                elif kind == "trickle":
                    for i in range(len(arg)):  # bounded: at most len(arg) bytes, stops with the fixture
                        if server.stop.wait(route[2]):
                            return
                        self.wfile.write(arg[i:i + 1])
                        self.wfile.flush()
                if kind == "stream":
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def other_server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty cache and model folder, no mirror from the environment."""
    monkeypatch.setenv("FACECLUSTER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FACECLUSTER_MODELS", str(tmp_path / "none"))
    monkeypatch.delenv("FACECLUSTER_MODEL_MIRROR", raising=False)
    return tmp_path / "cache"


def installed(folder):
    """Every file in a download folder (hidden temporaries included)."""
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_download_from_mirror_verifies_and_respects_umask(server, env):
    seen = []
    path = models.download("yunet", env, mirror=server.url, mirror_only=True,
                           progress=lambda done, total: seen.append((done, total)))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == models.REGISTRY["yunet"].sha256
    assert seen[-1] == (YUNET.stat().st_size, YUNET.stat().st_size)
    assert installed(env) == [YUNET.name]
    assert path.stat().st_mode & 0o044  # readable by others under the usual umask, not 0600


def test_redirect_to_another_port_is_refused(server, other_server, env):
    server.routes["/face_detection_yunet_2023mar.onnx"] = ("redirect", other_server.url + "/" + YUNET.name)
    with pytest.raises(ModelError, match="refused redirect"):
        models.download("yunet", env, mirror=server.url, mirror_only=True)
    assert other_server.requests == [] and installed(env) == []


def test_redirect_within_the_same_server_and_to_an_allowed_host_work(server, other_server, env):
    server.routes["/face_detection_yunet_2023mar.onnx"] = ("redirect", "/moved/face_detection_yunet_2023mar.onnx")
    server.routes["/moved/face_detection_yunet_2023mar.onnx"] = ("file", YUNET.read_bytes())
    assert models.download("yunet", env / "a", mirror=server.url, mirror_only=True).is_file()
    server.routes["/FSRCNN_x2.pb"] = ("redirect", other_server.url + "/FSRCNN_x2.pb")
    port = other_server.url.rsplit(":", 1)[1]
    path = models.download("fsrcnn-x2", env / "b", mirror=server.url, mirror_only=True,
                           allow_hosts=(f"127.0.0.1:{port}",))
    assert models.sha256_of(path) == models.REGISTRY["fsrcnn-x2"].sha256


def test_redirect_rules():
    allowed = download._redirect_allowed
    assert allowed("https://github.com/a", "https://objects.githubusercontent.com/b", ())
    assert not allowed("https://github.com/a", "http://objects.githubusercontent.com/b", ())  # no downgrade
    assert not allowed("https://github.com/a", "https://evil.example/b", ())
    assert not allowed("http://127.0.0.1:8000/a", "http://127.0.0.1:8001/a", ())
    assert allowed("http://127.0.0.1:8000/a", "http://127.0.0.1:8000/b", ())


def test_a_trickling_server_is_cut_off_by_the_overall_deadline(server, env):
    data = YUNET.read_bytes()
    server.routes["/face_detection_yunet_2023mar.onnx"] = ("trickle", data[:40], 0.25)
    with pytest.raises(ModelError, match="within the 1 s allowed"):
        models.download("yunet", env, mirror=server.url, mirror_only=True, timeout=1.0)
    assert installed(env) == []


def test_a_server_trickling_its_headers_is_cut_off_too(server, env):
    server.routes["/face_detection_yunet_2023mar.onnx"] = ("slow-headers", 0.25)
    with pytest.raises(ModelError, match="within the 1 s allowed"):
        models.download("yunet", env, mirror=server.url, mirror_only=True, timeout=1.0)
    assert installed(env) == []


def test_wrong_file_is_rejected_and_nothing_is_left(server, env):
    server.routes["/FSRCNN-small_x2.pb"] = ("file", b"not a model")
    with pytest.raises(ModelError, match="does not match the pinned"):
        models.download("fsrcnn-small-x2", env, mirror=server.url, mirror_only=True)
    assert installed(env) == []


@pytest.mark.parametrize("route", [("announce", 5000), ("stream", b"\0" * 5000)])
def test_size_cap(server, env, monkeypatch, route):
    monkeypatch.setattr(download, "size_cap", lambda size: 1000)
    server.routes["/face_detection_yunet_2023mar.onnx"] = route
    with pytest.raises(ModelError, match="more than"):
        models.download("yunet", env, mirror=server.url, mirror_only=True)
    assert installed(env) == []


def test_unpinned_file_needs_explicit_permission(server, env, monkeypatch):
    unpinned = dataclasses.replace(models.REGISTRY["yunet"], name="yunet-unpinned", sha256=None, sha256_source="")
    monkeypatch.setitem(models.REGISTRY, unpinned.name, unpinned)
    with pytest.raises(ModelError, match="--allow-unpinned"):
        models.download(unpinned.name, env, mirror=server.url, mirror_only=True)
    assert server.requests == [] and installed(env) == []
    path = models.download(unpinned.name, env, mirror=server.url, mirror_only=True, allow_unpinned=True)
    assert models.sha256_of(path) == models.sha256_of(YUNET)


def test_a_file_that_is_not_the_release_asset_is_refused(server, env):
    """yolox-nano's pinned sha256 is the release asset's; the re-export in ../shared is accepted when found
    locally but never installed by a download."""
    with pytest.raises(ModelError, match="does not match the pinned"):
        models.download("yolox-nano", env, mirror=server.url, mirror_only=True)
    assert installed(env) == []
    assert models.resolve("yolox-nano", str(MODELS)).path == MODELS / "yolox_nano.onnx"


def test_existing_files_are_kept(server, env):
    env.mkdir(parents=True)
    (env / YUNET.name).write_bytes(b"a file of the user's")
    with pytest.raises(ModelError, match="already exists"):
        models.download("yunet", env, mirror=server.url, mirror_only=True)
    assert (env / YUNET.name).read_bytes() == b"a file of the user's"
    shutil.copy(YUNET, env / YUNET.name)
    assert models.download("yunet", env, mirror=server.url, mirror_only=True) == env / YUNET.name
    assert server.requests == []


def test_archive_member_is_extracted_and_verified(server, env, tmp_path):
    scrfd = MODELS / "scrfd_500m_bnkps.onnx"
    archive = tmp_path / "pack.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("buffalo_s/1k3d68.onnx", b"another model")
        zf.write(scrfd, "buffalo_s/det_500m.onnx")
    server.routes["/pack.zip"] = ("file", archive.read_bytes())
    digest = models.sha256_of(scrfd)
    target = env / "scrfd_500m_bnkps.onnx"
    download.fetch_verified([(server.url + "/pack.zip", "det_500m.onnx")], target, digest, scrfd.stat().st_size)
    assert models.sha256_of(target) == digest and installed(env) == [target.name]
    with pytest.raises(ModelError, match="has no w600k_mbf.onnx"):
        download.fetch_verified([(server.url + "/pack.zip", "w600k_mbf.onnx")], env / "w600k_mbf.onnx", None, None)
    assert installed(env) == [target.name]


def test_unreachable_server_is_one_model_error(env):
    with pytest.raises(ModelError, match="could not download face_detection_yunet_2023mar.onnx: http://127.0.0.1:9"):
        models.download("yunet", env, mirror="http://127.0.0.1:9", mirror_only=True, timeout=2)


# ---- command line ----------------------------------------------------------------------------------------
def test_cli_model_without_download_fails_before_any_progress_bar(server, env):
    result = CliRunner().invoke(main, ["models", "download", "osnet-x0.25", "--mirror", server.url, "--mirror-only"])
    assert result.exit_code == 4
    assert "no official download" in result.output and "B/s" not in result.output and "0.00" not in result.output
    assert server.requests == [] and installed(env) == []


def test_cli_profile_download_then_verify_then_run(server, env, tmp_path, monkeypatch):
    """The README's user flow with a local mirror standing in for the official hosts: download the fast
    profile (every file checked against its pinned sha256), then run it on a video."""
    runner = CliRunner()
    result = runner.invoke(main, ["models", "download", "--profile", "fast", "--mirror", server.url, "--mirror-only"])
    assert result.exit_code == 0, result.output
    needed = profiles.required_models("fast")
    assert installed(env) == sorted(models.REGISTRY[n].file for n in needed)
    for name in needed:
        spec = models.REGISTRY[name]
        lines = [li.rsplit("\r", 1)[-1].strip() for li in result.output.splitlines()]  # after progress bars
        line = next(li for li in lines if li.startswith(f"{name}: "))
        assert ("sha256 verified" in line) == bool(spec.sha256), line
    verify = runner.invoke(main, ["models", "verify", *needed])
    assert verify.exit_code == 0 and verify.output.count(" ok ") == len(needed)
    again = runner.invoke(main, ["models", "download", "--profile", "fast", "--mirror", server.url])
    assert again.exit_code == 0 and again.output.count("already there") == len(needed)
    # the run that follows finds the models in the user cache only (no FACECLUSTER_MODELS)
    monkeypatch.delenv("FACECLUSTER_MODELS", raising=False)
    video = MEDIA / "videos" / "secureface_rpi_test_4.avi"
    ran = runner.invoke(main, ["-q", "run", str(video), "-o", str(tmp_path / "out"), "--profile", "fast"])
    assert ran.exit_code == 0, ran.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert {m["name"] for m in manifest["models"]} == set(needed)
    assert all(str(env) in m["path"] for m in manifest["models"]) and manifest["counts"]["people"] >= 1


def test_cli_list_table_and_json(env):
    runner = CliRunner()
    table = runner.invoke(main, ["models", "list", "--profile", "fast"])
    assert table.exit_code == 0
    lines = table.output.splitlines()
    assert lines[0].split()[:4] == ["NAME", "TASK", "SIZE", "LICENCE"] and "SHA256" in lines[0]
    listed = [li.split()[0] for li in lines[1:] if li and not li.startswith("Models are")]
    assert listed == profiles.required_models("fast")
    assert "models download yunet" in table.output  # nothing installed: how to get it
    doc = json.loads(runner.invoke(main, ["models", "list", "--json"]).output)
    by_name = {m["name"]: m for m in doc["models"]}
    assert set(by_name) == set(models.REGISTRY)
    for profile in profiles.names():
        for name in profiles.required_models(profile):
            entry = by_name[name]
            assert entry["license"] and entry["commercial_use"] in (True, False)
            assert entry["urls"] or entry["package"]
            assert entry["sha256"] or name in KNOWN_UNPINNED


# ---- registry and profiles -------------------------------------------------------------------------------
def test_every_shipped_profile_names_only_models_users_can_obtain():
    assert {"builtin", "fast"} <= set(profiles.names())
    for profile in profiles.names():
        config = profiles.load(profile)
        needed = profiles.required_models(profile)
        assert needed, profile
        for name in needed:
            spec = models.REGISTRY[name]
            assert spec.obtainable, f"profile {profile} needs {name}, which has no official download"
            assert spec.sha256 or name in KNOWN_UNPINNED, f"profile {profile} needs unpinned {name}"
            assert spec.license and spec.source
        assert config.face_detector


def test_registry_entries_are_complete_and_honest():
    for spec in models.REGISTRY.values():
        assert spec.license and spec.source and spec.task, spec.name
        if spec.sha256:
            assert len(spec.sha256) == 64 and spec.sha256_source, spec.name
        for url in spec.urls:
            assert url.startswith(("https://", "http://dlib.net/")), url
        if spec.member:
            assert spec.urls and spec.urls[0].endswith(".zip"), spec.name
        for alt in spec.alternatives:
            assert models.REGISTRY[alt].task == spec.task
    # files here that are byte-identical to the official ones carry the official sha256
    for name in ("yunet", "sface-int8bq", "mobilenetv2-int8", "fsrcnn-x2", "lapsrn-x8"):
        assert models.sha256_of(MODELS / models.REGISTRY[name].file) == models.REGISTRY[name].sha256


def test_profile_path_accepts_a_toml_file_and_rejects_unknown_names(tmp_path):
    from facecluster.errors import ConfigError

    custom = tmp_path / "mine.toml"
    custom.write_text('face_detector = "yunet"\nface_embedder = "sface"\n')
    assert profiles.required_models(str(custom)) == ["yunet", "sface"]
    with pytest.raises(ConfigError, match="builtin, fast"):
        profiles.path("no-such-profile")


def test_timeouts_are_not_reads(server, env):
    """The deadline covers the whole file: a slow but steady server is stopped too, while a quick one
    passes with the same limit."""
    server.routes["/slow/face_detection_yunet_2023mar.onnx"] = ("trickle", YUNET.read_bytes()[:30], 0.1)
    with pytest.raises(ModelError):
        models.download("yunet", env, mirror=server.url + "/slow", mirror_only=True, timeout=1.5)
    assert installed(env) == []
    assert models.download("yunet", env, mirror=server.url, mirror_only=True, timeout=1.5).is_file()
