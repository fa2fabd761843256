"""The review app's routes (Flask). Pages are server-rendered (autoescaped templates) and enhanced by one
small script (static/app.js) that sends each correction as JSON to /api/...; every correction is the
function the CLI calls (facecluster.results: label, merge, split, not_person, assign, answer, undo), so it
is locked, logged in edits.json and committed like any other edit, and survives `recluster` and re-runs.

Files served: the app's own static files, thumbnails of OUTDIR (thumbs/faces|bodies/ID.jpg, built from
an integer id, nothing else under OUTDIR), the run's video (and nothing else on disk) and frames decoded
from it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import DependencyError, FaceclusterError
from .. import results
from ..runfolder.layout import THUMB_FOLDERS, THUMBS
from .media import FrameSource, video_mime
from .security import CSP, HEADERS, Guard
from .views import Review

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
MAX_NAME = 200
MAX_IDS = 100_000


class BadRequest(FaceclusterError):
    exit_code = 2


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{what} must be a whole number")
    return value


def _ints(value, what: str) -> list[int]:
    if not isinstance(value, list) or len(value) > MAX_IDS:
        raise BadRequest(f"{what} must be a list of whole numbers")
    return [_int(v, what) for v in value]


def create_app(folder, host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False, video=None):
    """The WSGI app for OUTDIR `folder` (checked and loaded now, so a bad folder fails before serving)."""
    try:
        from flask import Flask, abort, jsonify, render_template, request, send_file
    except ModuleNotFoundError:
        raise DependencyError("the review app needs Flask: pip install 'facecluster[serve]'") from None

    review = Review(folder, video)
    review.stored()
    guard = Guard(host, port, allow_remote)
    frames = FrameSource(review.video())
    app = Flask(__name__, static_folder="static", static_url_path="/static", template_folder=str(TEMPLATES))
    app.jinja_env.autoescape = True
    app.config.update(MAX_CONTENT_LENGTH=1 << 20, JSON_SORT_KEYS=False)
    app.extensions["facecluster"] = {"review": review, "guard": guard}

    @app.before_request
    def _check():
        if not guard.host_ok(request.host):
            return jsonify(error="unknown Host; open the app at the address `facecluster serve` printed"), 421
        if request.method == "POST":
            problem = guard.post_problem(request.headers, request.host, request.is_json)
            if problem:
                return jsonify(error=problem), 403
        elif request.method not in ("GET", "HEAD"):
            return jsonify(error="method not allowed"), 405
        return None

    @app.after_request
    def _headers(response):
        response.headers.update(HEADERS)
        if response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = CSP
        if response.mimetype in ("text/html", "application/json"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(FaceclusterError)
    def _error(exc):
        return jsonify(error=str(exc)), 400

    def page(name: str, **context):
        return render_template(name, summary=review.summary(), token=guard.token, **context)

    # pages -------------------------------------------------------------------------------------------
    @app.get("/")
    def people_page():
        return page("review_people.html.j2", people=review.people(), history=review.history(),
                    suggestions=bool(review.suggestions(1)))

    @app.get("/person/<int:person_id>")
    def person_page(person_id: int):
        person = review.person(person_id, all_units=request.args.get("all") == "1")
        if person is None:
            return page("review_missing.html.j2", person_id=person_id), 404
        video = review.video()
        return page("review_person.html.j2", person=person,
                    video={"found": bool(video and video.is_file()), "type": video_mime(video) if video else ""})

    @app.get("/unassigned")
    def unassigned_page():
        return page("review_unassigned.html.j2", units=review.unassigned(), people=review.people())

    @app.get("/suggestions")
    def suggestions_page():
        return page("review_suggestions.html.j2", pairs=review.suggestions(10))

    # data --------------------------------------------------------------------------------------------
    @app.get("/api/summary")
    def api_summary():
        return jsonify(review.summary())

    @app.get("/api/people")
    def api_people():
        return jsonify(review.people())

    @app.get("/api/person/<int:person_id>")
    def api_person(person_id: int):
        person = review.person(person_id, all_units=True)
        return jsonify(person) if person else (jsonify(error=f"no person {person_id}"), 404)

    @app.get("/api/unassigned")
    def api_unassigned():
        return jsonify(review.unassigned())

    @app.get("/api/suggestions")
    def api_suggestions():
        top = request.args.get("top", "10")
        return jsonify(review.suggestions(int(top) if top.isdigit() else 10))

    @app.get("/api/history")
    def api_history():
        return jsonify(review.history(100))

    # files -------------------------------------------------------------------------------------------
    @app.get("/thumbs/<kind>/<int:detection_id>.jpg")
    def thumb(kind: str, detection_id: int):
        if kind not in THUMB_FOLDERS.values():
            abort(404)
        root = review.folder.path.resolve()
        path = (root / THUMBS / kind / f"{detection_id}.jpg").resolve()
        if not path.is_file() or not path.is_relative_to(root):  # a link out of OUTDIR is not followed
            abort(404)
        return send_file(path, mimetype="image/jpeg", max_age=3600)

    @app.get("/video")
    def video_file():
        path = review.video()
        if path is None or not path.is_file():
            abort(404)
        return send_file(path.resolve(), mimetype=video_mime(path), conditional=True, max_age=0)

    @app.get("/captions.vtt")
    def captions():
        """Who is on screen, for the player's caption track: the current people (people.vtt as committed)."""
        from flask import Response

        return Response(review.captions(), mimetype="text/vtt", headers={"Cache-Control": "no-store"})

    @app.get("/frame/<int:ms>.jpg")
    def frame(ms: int):
        from flask import Response

        return Response(frames.jpeg(ms), mimetype="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    # corrections -------------------------------------------------------------------------------------
    def body() -> dict:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise BadRequest("send a JSON object")
        return data

    def done(**data):
        return jsonify(ok=True, **data)

    @app.post("/api/label")
    def api_label():
        data = body()
        name = data.get("name", "")
        if not isinstance(name, str) or len(name) > MAX_NAME:
            raise BadRequest(f"a name is text of at most {MAX_NAME} characters")
        return done(person=results.label(review.folder.path, _int(data.get("person"), "person"), name))

    @app.post("/api/merge")
    def api_merge():
        return done(person=results.merge(review.folder.path, _ints(body().get("people"), "people")))

    @app.post("/api/split")
    def api_split():
        data = body()
        by = data.get("by", "track")
        if by not in ("track", "strict", "units"):
            raise BadRequest("split by track, strict or units")
        units = _ints(data.get("units"), "units") if by == "units" else None
        people = results.split(review.folder.path, _int(data.get("person"), "person"),
                               by="track" if by == "units" else by, units=units)
        return done(people=people)

    @app.post("/api/not-person")
    def api_not_person():
        return done(person=results.not_person(review.folder.path, _int(body().get("detection"), "detection")))

    @app.post("/api/assign")
    def api_assign():
        data = body()
        return done(person=results.assign(review.folder.path, _ints(data.get("detections"), "detections"),
                                          _int(data.get("person"), "person")))

    @app.post("/api/answer")
    def api_answer():
        data = body()
        same = data.get("same")
        if not isinstance(same, bool):
            raise BadRequest("same must be true or false")
        people = results.answer(review.folder.path, _int(data.get("a"), "a"), _int(data.get("b"), "b"), same)
        return done(people=people)

    @app.post("/api/undo")
    def api_undo():
        data = body()
        edit = data.get("edit")
        return done(**results.undo(review.folder.path, None if edit is None else _int(edit, "edit")))

    return app
