"""The archive's cast list: who is named in which episode, with screen time, for spreadsheets and scripts.

One row per (name, episode) from each episode's people as committed (names the user gave, the library's,
an archive identity's); several people of one episode with one name (the parts of a person the grouping
split, each named) are one row, their faces and screen time summed. Per name: episodes and total screen
time. Written next to the episodes as ARCHIVE/cast.csv and cast.json, each replaced whole; an episode
that cannot be read is left out with its reason (cast.json "skipped").
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

from ..errors import FaceclusterError
from .archive import episode_folders, load_episode_people

log = logging.getLogger(__name__)

CAST_JSON = "cast.json"
CAST_CSV = "cast.csv"
FORMAT = "facecluster-cast/1"
COLUMNS = ["name", "episode", "person_ids", "name_sources", "faces", "screen_time_s", "screen_share",
           "first_seen_s", "last_seen_s", "appearances"]


def archive_cast(archive) -> dict:
    """Read every episode of ARCHIVE_DIR, write cast.csv and cast.json there, return the document."""
    archive = Path(archive)
    rows, skipped = [], []
    folders = episode_folders(archive)
    for folder in folders:
        try:
            stored = load_episode_people(folder)
        except FaceclusterError as exc:  # one damaged episode is left out, said, not the whole cast
            log.info("cast: %s left out: %s", folder, exc)  # the command lists them at the end
            skipped.append({"episode": folder.name, "reason": str(exc)})
            continue
        duration = float(stored.manifest.get("analysed_seconds") or 0.0)
        named: dict[str, dict] = {}
        for p in stored.people:
            if not p.get("name"):
                continue
            r = named.setdefault(p["name"], {"name": p["name"], "episode": folder.name, "person_ids": [],
                                             "name_sources": [], "faces": 0, "screen_time_s": 0.0,
                                             "first_seen_s": p["first_seen_s"], "last_seen_s": p["last_seen_s"],
                                             "appearances": 0})
            r["person_ids"].append(p["id"])
            source = p.get("name_source") or "edit"
            if source not in r["name_sources"]:
                r["name_sources"].append(source)
            r["faces"] += int(p["faces"])
            r["screen_time_s"] += float(p["screen_time_s"])
            r["first_seen_s"] = min(r["first_seen_s"], p["first_seen_s"])
            r["last_seen_s"] = max(r["last_seen_s"], p["last_seen_s"])
            r["appearances"] += len(p.get("appearances") or [])
        for r in named.values():
            r["screen_time_s"] = round(r["screen_time_s"], 3)
            r["screen_share"] = round(min(r["screen_time_s"] / duration, 1.0), 4) if duration else None
            rows.append(r)
    rows.sort(key=lambda r: (r["name"].casefold(), r["episode"]))
    people: dict[str, dict] = {}
    for r in rows:
        t = people.setdefault(r["name"], {"name": r["name"], "episodes": 0, "screen_time_s": 0.0, "faces": 0})
        t["episodes"] += 1
        t["screen_time_s"] = round(t["screen_time_s"] + r["screen_time_s"], 3)
        t["faces"] += r["faces"]
    doc = {"format": FORMAT, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "archive": str(archive.resolve()), "episodes": len(folders),
           "people": sorted(people.values(), key=lambda t: (-t["screen_time_s"], t["name"].casefold())),
           "skipped": skipped, "rows": rows}
    write_cast(archive, doc)
    return doc


def write_cast(archive: Path, doc: dict) -> None:
    from ..batch.summary import write_json_and_csv

    rows = [{**r, "person_ids": " ".join(map(str, r["person_ids"])), "name_sources": " ".join(r["name_sources"])}
            for r in doc["rows"]]
    write_json_and_csv(archive / CAST_JSON, doc, archive / CAST_CSV, COLUMNS, rows)
