"""Fetch one model file over HTTP(S) so that only a complete, verified file is ever installed.

Guards (each a one-line ModelError naming the URL): redirects only to the same origin, to the download
hosts of the official site (GitHub's and Hugging Face's file hosts) or to hosts the caller allows; never
from https to http; an overall deadline per file (a server that trickles bytes is cut off, not only one
that stalls); a size cap from the registry's expected size (Content-Length checked before reading); the
sha256 checked before the file is moved into place. Partial files live under a temporary name beside the
target and are removed on any failure.
"""

from __future__ import annotations

import http.client
import os
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

from .errors import ModelError
from .models import file_sha256

READ_TIMEOUT = 30.0          # seconds one network read may block (the overall deadline is separate)
DEFAULT_CAP = 1 << 30        # bytes, when the registry does not know a file's size (archives)
BLOCK = 1 << 16
# official sites that serve their files from other hosts (release assets, Git LFS, raw files)
FILE_HOSTS = {
    "github.com": {"objects.githubusercontent.com", "release-assets.githubusercontent.com",
                   "media.githubusercontent.com", "raw.githubusercontent.com", "codeload.github.com"},
    "huggingface.co": {"cdn-lfs.huggingface.co", "cdn-lfs.hf.co", "cdn-lfs-us-1.hf.co", "cas-bridge.xethub.hf.co"},
}


class DownloadRefused(OSError):
    """A transfer stopped by one of the guards above."""


def size_cap(size: int | None) -> int:
    """The most bytes accepted for a file the registry expects to be `size` bytes: a margin for
    re-exports that are slightly larger, never the unbounded stream a broken server can send."""
    return int(size * 1.25) + (8 << 20) if size else DEFAULT_CAP


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _redirect_allowed(start: str, new: str, allow_hosts: tuple[str, ...]) -> bool:
    (s_scheme, s_host, s_port), (n_scheme, n_host, n_port) = _origin(start), _origin(new)
    if n_scheme not in ("http", "https") or (s_scheme == "https" and n_scheme != "https"):
        return False
    if (n_scheme, n_host, n_port) == (s_scheme, s_host, s_port):
        return True
    if n_host in FILE_HOSTS.get(s_host, ()):
        return True
    return n_host in allow_hosts or f"{n_host}:{n_port}" in allow_hosts


class _Watchdog:
    """Shuts the connections of one download at its deadline, wherever it is blocked (connecting, in the
    headers, in the body): the per-read socket timeout alone lets a server that trickles bytes run forever."""

    def __init__(self, timeout: float):
        self.sockets: list[socket.socket] = []
        self.expired = False
        self.timer = threading.Timer(timeout, self._expire)
        self.timer.daemon = True

    def _expire(self) -> None:
        self.expired = True
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()


def _opener(start: str, allow_hosts: tuple[str, ...], watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    class Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            if not _redirect_allowed(start, newurl, allow_hosts):
                raise DownloadRefused(f"refused redirect to {newurl} (not the same host as {start}; "
                                      f"allow a mirror host explicitly)")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    class Http(http.client.HTTPConnection):
        def connect(self):
            super().connect()
            watchdog.sockets.append(self.sock)

    class Https(http.client.HTTPSConnection):
        def connect(self):
            super().connect()
            watchdog.sockets.append(self.sock)

    class HttpHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(Http, req)

    class HttpsHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(Https, req, context=self._context)

    return urllib.request.build_opener(Redirects, HttpHandler, HttpsHandler)


def _stream(url: str, out, cap: int, timeout: float, allow_hosts, progress) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DownloadRefused(f"only http(s) URLs are fetched, not {url}")
    with _Watchdog(timeout) as watchdog:
        try:
            _read(url, out, cap, timeout, allow_hosts, progress, watchdog)
        except DownloadRefused:
            raise
        except (OSError, http.client.HTTPException, ValueError):
            if watchdog.expired:
                raise DownloadRefused(f"not finished within the {timeout:g} s allowed per file") from None
            raise


def _read(url: str, out, cap: int, timeout: float, allow_hosts, progress, watchdog: _Watchdog) -> None:
    deadline = time.monotonic() + timeout
    with _opener(url, allow_hosts, watchdog).open(url, timeout=min(READ_TIMEOUT, timeout)) as resp:
        total = int(resp.headers.get("Content-Length") or 0) or None
        if total and total > cap:
            raise DownloadRefused(f"server announces {total} bytes, more than the {cap} expected at most")
        done = 0
        while True:
            block = resp.read1(BLOCK)  # returns after one network read: the deadline is checked often
            if not block:
                break
            done += len(block)
            if done > cap:
                raise DownloadRefused(f"more than {cap} bytes received, more than expected; stopped")
            out.write(block)
            if progress:
                progress(done, total)
            if time.monotonic() > deadline:
                raise DownloadRefused(f"not finished within the {timeout:g} s allowed per file")
        if watchdog.expired:
            raise DownloadRefused(f"not finished within the {timeout:g} s allowed per file")
        if total and done != total:
            raise DownloadRefused(f"connection closed after {done} of {total} bytes")


def _extract(archive: Path, member: str, out, cap: int) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if i.filename == member or i.filename.endswith("/" + member)]
            if not infos:
                raise DownloadRefused(f"the archive has no {member}")
            if infos[0].file_size > cap:
                raise DownloadRefused(f"{member} in the archive has {infos[0].file_size} bytes, more than {cap}")
            with zf.open(infos[0]) as src:
                done = 0
                for block in iter(lambda: src.read(BLOCK), b""):
                    done += len(block)
                    if done > cap:
                        raise DownloadRefused(f"{member} in the archive is larger than {cap} bytes")
                    out.write(block)
    except zipfile.BadZipFile:
        raise DownloadRefused("the download is not a valid zip archive") from None


def _temp(target: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    return Path(name)


def _fetch_one(url: str, member: str | None, target: Path, sha256: str | None, size: int | None,
               timeout: float, progress, allow_hosts) -> str:
    """Download one source into a temporary file beside `target`; return that file's sha256 after moving
    it into place, or raise (leaving nothing behind)."""
    temps = [_temp(target)]
    try:
        with open(temps[0], "wb") as out:
            _stream(url, out, DEFAULT_CAP if member else size_cap(size), timeout, allow_hosts, progress)
        if member:
            temps.append(_temp(target))
            with open(temps[1], "wb") as out:
                _extract(temps[0], member, out, size_cap(size))
        final = temps[-1]
        digest = file_sha256(final)
        if sha256 and digest != sha256:
            raise DownloadRefused(f"sha256 {digest[:12]}... does not match the pinned {sha256[:12]}...")
        umask = os.umask(0)
        os.umask(umask)
        final.chmod(0o666 & ~umask)
        os.replace(final, target)
        return digest
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def fetch_verified(sources: list[tuple[str, str | None]], target: Path, sha256: str | None, size: int | None,
                   timeout: float = 600.0, progress: Callable[[int, int | None], None] | None = None,
                   allow_hosts: tuple[str, ...] = ()) -> Path:
    """Try each (url, zip member or None) in turn until one gives the file with the pinned sha256."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create model folder {target.parent}: {exc.strerror}") from None
    errors = []
    for url, member in sources:
        try:
            _fetch_one(url, member, target, sha256, size, timeout, progress, allow_hosts)
            return target
        except DownloadRefused as exc:
            errors.append(f"{url}: {exc}")
        except urllib.error.HTTPError as exc:
            errors.append(f"{url}: HTTP {exc.code} {exc.reason}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            errors.append(f"{url}: {reason}")
    raise ModelError(f"could not download {target.name}: " + "; ".join(errors))
