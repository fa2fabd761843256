"""`facecluster serve OUTDIR`: a local review app in the browser to look at each person's appearances
and fix the grouping (rename, merge, split, not this person, give unassigned tracks to someone, answer
"are these the same person?", undo). Every fix is the same edit the CLI makes (facecluster.results), so
it is kept in edits.json and survives `recluster` and re-runs.

    server = start(outdir)            # 127.0.0.1, a free port; raises ConfigError for a remote host
    print(server.url); server.serve_forever()   # or server.shutdown() from another thread

Modules: app (routes), views (what is shown), security (bind, Host, token, headers), media (video and
frames); pages in facecluster/templates/review_*.html.j2, script and styles in static/.
"""

from __future__ import annotations

import logging
import threading

from ..errors import ConfigError
from .security import check_bind

log = logging.getLogger(__name__)


class ReviewServer:
    """A running app: `url`, `serve_forever()`, `start_thread()`, `shutdown()`."""

    def __init__(self, server, app):
        self.server, self.app = server, app
        host = server.host if ":" not in server.host else f"[{server.host}]"
        self.url = f"http://{host}:{server.port}/"
        self._thread: threading.Thread | None = None

    @property
    def token(self) -> str:
        return self.app.extensions["facecluster"]["guard"].token

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def start_thread(self) -> "ReviewServer":
        self._thread = threading.Thread(target=self.server.serve_forever, name="facecluster-serve", daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


def start(folder, host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False, video=None,
          quiet_requests: bool = True) -> ReviewServer:
    """Check the folder, bind the address, return the server (not yet serving)."""
    from .app import create_app

    check_bind(host, allow_remote)
    app = create_app(folder, host, port, allow_remote, video)
    from werkzeug.serving import make_server  # installed with Flask, which create_app checked

    if quiet_requests:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port "
                          f"(--port 0 picks a free one)") from None
    app.extensions["facecluster"]["guard"].set_port(server.port)
    return ReviewServer(server, app)


__all__ = ["ReviewServer", "start"]
