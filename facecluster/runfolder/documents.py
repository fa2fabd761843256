"""The JSON and CSV documents of an OUTDIR: rendering them, and reading them back with every field checked,
so a damaged or hand-edited file is one clear error naming the file, never a traceback."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..table import neutralise_cell
from .extraction import _json_default
from .layout import EDITS_FORMAT, OUTDIR_FORMAT, PEOPLE_FORMAT, TOOL

PEOPLE_CSV_COLUMNS = ["id", "name", "faces", "bodies", "tracks", "screen_time_s", "screen_share", "first_seen_s",
                      "last_seen_s", "thumbnail"]
EDIT_OPS = {"label", "merge", "split", "undo"}


def dumps(data) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n").encode("utf-8")


def dumps_edits(data: dict) -> bytes:
    """edits.json with one edit per line: easy to read, diff and fix by hand."""
    lines = [json.dumps(e, ensure_ascii=False, default=_json_default) for e in data["edits"]]
    body = ",\n    ".join(lines)
    return (f'{{"format": {json.dumps(data["format"])},\n "edits": [\n    {body}\n ]}}\n' if lines else
            f'{{"format": {json.dumps(data["format"])}, "edits": []}}\n').encode("utf-8")


def people_csv(people: list[dict]) -> bytes:
    """people.csv for spreadsheets: a name that starts like a formula (=, +, -, @) is written with a '
    in front so no spreadsheet runs it."""
    out = io.StringIO()
    writer = csv.DictWriter(out, PEOPLE_CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for p in people:
        writer.writerow({k: neutralise_cell("" if p.get(k) is None else p.get(k)) for k in PEOPLE_CSV_COLUMNS})
    return out.getvalue().encode("utf-8")


def people_vtt(people: list[dict]) -> bytes:
    """people.vtt (WebVTT): who is on screen when, as one caption track. Players (VLC, browsers) show it
    over the video, editing software imports it as captions on the timeline. Cues do not overlap: each one
    names everyone seen in its stretch ("Ann, person 4"), from each person's appearance intervals."""
    label = {p["id"]: _vtt_text(p.get("name") or f"person {p['id']}") for p in people}
    events = sorted((float(t), step, p["id"]) for p in people for a, b in p.get("appearances") or () if b > a
                    for t, step in ((a, 1), (b, -1)))
    on_screen: dict[int, int] = {}
    cues: list[list] = []
    for k, (t, step, pid) in enumerate(events):
        on_screen[pid] = on_screen.get(pid, 0) + step
        following = events[k + 1][0] if k + 1 < len(events) else t
        if following <= t:  # more events at this instant, or the last one
            continue
        text = ", ".join(label[i] for i in sorted(i for i, n in on_screen.items() if n > 0))
        if not text:
            continue
        if cues and cues[-1][1] == t and cues[-1][2] == text:
            cues[-1][1] = following
        else:
            cues.append([t, following, text])
    lines = ["WEBVTT", "", "NOTE who is on screen (facecluster); unnamed people are 'person ID' as in people.csv", ""]
    for k, (start, end, text) in enumerate(cues, 1):
        lines += [str(k), f"{_vtt_time(start)} --> {_vtt_time(end)}", text, ""]
    return "\n".join(lines).encode("utf-8")


def _vtt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _vtt_text(name: str) -> str:
    """A name as cue text: markup characters escaped, one line, no cue-timing arrow."""
    flat = " ".join(str(name).split())
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def bad_file(path: Path, what: str, fix: str = "run `facecluster recluster {folder}` to write it again") -> InputError:
    return InputError(f"{path} {what}; " + fix.format(folder=path.parent))


def read_json(path: Path, fix: str | None = None) -> dict:
    kw = {"fix": fix} if fix else {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise bad_file(path, "is missing", **kw) from None
    except (OSError, ValueError) as exc:
        raise bad_file(path, f"is not valid JSON ({str(exc).split(':')[0]})", **kw) from None
    if not isinstance(data, dict):
        raise bad_file(path, "is not a JSON object", **kw)
    return data


def is_ours(manifest_path: Path) -> bool:
    """Only a manifest.json that facecluster wrote marks a folder as facecluster's (its content is read,
    not just its name)."""
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("tool") == TOOL


def check_manifest(path: Path, data: dict) -> dict:
    if data.get("tool") != TOOL:
        raise bad_file(path, "was not written by facecluster", "choose the output folder of `facecluster run`")
    if data.get("format") != OUTDIR_FORMAT:
        raise bad_file(path, f"is from an older facecluster (format {data.get('format') or '1'})",
                       "run `facecluster run VIDEO -o {folder}` again to bring the folder up to date")
    for key, kind in (("generation", int), ("run_id", str), ("config", dict), ("input", dict), ("counts", dict)):
        if not isinstance(data.get(key), kind):
            raise bad_file(path, f"has no valid {key!r}")
    return data


def _int_list(value, limit: int) -> bool:
    return isinstance(value, list) and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < limit
                                           for x in value)


def check_people(path: Path, data: dict, n_units: int) -> dict:
    """people.json: format, run id, people with unique ids and names, each unit in at most one person."""
    if data.get("format") != PEOPLE_FORMAT:
        raise bad_file(path, "is not a facecluster people file of this version")
    people = data.get("people")
    if not isinstance(people, list) or not all(isinstance(p, dict) for p in people):
        raise bad_file(path, "has no list of people")
    seen_units = np.zeros(n_units, bool)
    ids = set()
    for p in people:
        pid, units, name = p.get("id"), p.get("units"), p.get("name")
        if not isinstance(pid, int) or isinstance(pid, bool) or not 0 <= pid < max(n_units, 1) or pid in ids:
            raise bad_file(path, f"has a person with a bad or repeated id ({pid!r})")
        ids.add(pid)
        if not _int_list(units, n_units) or not units:
            raise bad_file(path, f"lists bad units for person {pid}")
        if seen_units[units].any():
            raise bad_file(path, f"gives a unit to two people (person {pid})")
        seen_units[units] = True
        if name is not None and not isinstance(name, str):
            raise bad_file(path, f"has a name of person {pid} that is not text")
    if not isinstance(data.get("run_id"), str) or not isinstance(data.get("generation"), int):
        raise bad_file(path, "has no run id or generation")
    clustered = data.get("clustered")
    if not (isinstance(clustered, list) and len(clustered) == n_units and
            all(isinstance(x, int) and not isinstance(x, bool) and -1 <= x < max(n_units, 1) for x in clustered)):
        raise bad_file(path, "has no valid clustering of the units")
    return data


def check_edits(path: Path, data: dict) -> list[dict]:
    """edits.json entries: known ops with well-formed fields; anything else is refused with the entry's
    number, so the user can fix or remove it."""
    fix = "fix or remove that entry (or the file, to drop every correction)"
    if data.get("format") != EDITS_FORMAT:
        raise bad_file(path, f"is not a {EDITS_FORMAT} file", fix)
    edits = data.get("edits")
    if not isinstance(edits, list):
        raise bad_file(path, "has no list of edits", fix)
    for k, e in enumerate(edits):
        where = f"entry {k + 1}"
        if not isinstance(e, dict) or e.get("op") not in EDIT_OPS:
            raise bad_file(path, f"{where} is not an edit ({', '.join(sorted(EDIT_OPS))})", fix)
        if not isinstance(e.get("id"), int):
            raise bad_file(path, f"{where} has no id", fix)
        op = e["op"]
        if op in ("label", "merge") and not _int_list(e.get("units"), 1 << 40):
            raise bad_file(path, f"{where} ({op}) has no list of units", fix)
        if op == "label" and not isinstance(e.get("name"), str):
            raise bad_file(path, f"{where} (label) has no name", fix)
        if op == "split" and not (isinstance(e.get("parts"), list) and len(e["parts"]) >= 2
                                  and all(_int_list(p, 1 << 40) for p in e["parts"])):
            raise bad_file(path, f"{where} (split) needs two or more lists of units", fix)
        if op == "undo" and not isinstance(e.get("target"), int):
            raise bad_file(path, f"{where} (undo) has no target edit id", fix)
        anchors = e.get("anchors", {})
        if not isinstance(anchors, dict) or not all(
                isinstance(v, list) and all(isinstance(a, list) and len(a) == 5 and
                                            all(isinstance(x, (int, float)) for x in a) for a in v)
                for v in anchors.values()):
            raise bad_file(path, f"{where} has malformed anchors", fix)
    return edits
