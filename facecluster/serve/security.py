"""What keeps the review app local and its edits the user's own.

- It listens on the loopback interface unless the user says --allow-remote (`check_bind`).
- Host header: only the names of the address it listens on, so a web page cannot reach it through a
  DNS name rebound to 127.0.0.1 (DNS rebinding) and read the people list.
- Every POST (every edit) must carry the per-process token that the app's own pages hold (a <meta> tag,
  sent back in the X-Facecluster-Token header), as JSON, and, when the browser says where it comes from
  (Origin, Sec-Fetch-Site), come from the app itself. A page on another site can neither read the token
  nor send that header without a CORS preflight the app never answers.
- Every response forbids framing, sniffing and referrers, and the pages carry a Content-Security-Policy
  that allows the app's own script, styles, images and video only (nothing remote, no inline script).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket

from ..errors import ConfigError

TOKEN_HEADER = "X-Facecluster-Token"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
           "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin"}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) only reaches this machine."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def check_bind(host: str, allow_remote: bool) -> None:
    if not allow_remote and not is_loopback(host):
        raise ConfigError(f"--host {host} would let other machines reach your review app (and edit the run); use "
                          f"--host 127.0.0.1, or add --allow-remote if you really mean it")


class Guard:
    """The checks of one app instance (one token per process)."""

    def __init__(self, host: str, port: int, allow_remote: bool):
        self.token = secrets.token_urlsafe(32)
        self.allow_remote = allow_remote
        self.port = int(port)
        names = set(LOOPBACK_NAMES) | {host if ":" not in host or host.startswith("[") else f"[{host}]"}
        self.hosts = {f"{n}:{self.port}".lower() for n in names}

    def set_port(self, port: int) -> None:
        """The real port, once an ephemeral one (--port 0) is known."""
        old = f":{self.port}"
        self.port = int(port)
        self.hosts = {h[: -len(old)] + f":{self.port}" for h in self.hosts}

    def host_ok(self, host_header: str | None) -> bool:
        return self.allow_remote or (host_header or "").lower() in self.hosts

    def post_problem(self, headers, host_header: str, is_json: bool) -> str | None:
        """Why a POST is refused, or None."""
        token = headers.get(TOKEN_HEADER, "")
        if not token or not hmac.compare_digest(token.encode(), self.token.encode()):
            return "missing or wrong request token; reload the page"
        origin = headers.get("Origin")
        if origin is not None and origin.lower() != f"http://{host_header}".lower():
            return "request from another site"
        if headers.get("Sec-Fetch-Site") not in (None, "same-origin"):
            return "request from another site"
        if not is_json:
            return "edits are sent as JSON"
        return None
