"""ARCHIVE_DIR/batch-summary.json and batch-summary.csv: one row per episode of the batch, rewritten
atomically (write beside, flush, rename) after every finished episode, so a killed batch leaves a summary
of what it had finished."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from ..errors import OutputError
from ..table import neutralise_cell

SUMMARY_JSON = "batch-summary.json"
SUMMARY_CSV = "batch-summary.csv"
FORMAT = "facecluster-batch/1"
COLUMNS = ["episode", "status", "reason", "video", "outdir", "people", "named", "named_by_library",
           "suggested_by_library", "seconds_of_video", "wall_s", "speed_x_realtime", "resumed_frames", "generation",
           "host", "fingerprint"]


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path} ({exc.strerror}); free some space or fix the permissions of "
                          f"{path.parent}") from None


def write_json_and_csv(json_path: Path, doc: dict, csv_path: Path, columns: list[str], rows: list[dict]) -> None:
    """An archive's document and its table, each replaced whole: the CSV has `columns` (other keys of a row
    are left out), empty cells for None and spreadsheet formulas neutralised."""
    _atomic(json_path, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: neutralise_cell("" if r.get(k) is None else r[k]) for k in columns})
    _atomic(csv_path, buf.getvalue().encode("utf-8"))


def rows(episodes) -> list[dict]:
    out = []
    for e in episodes:
        r = e.result or {}
        out.append({"episode": e.name, "status": e.status, "reason": e.reason, "video": str(e.video),
                    "outdir": str(e.outdir), "people": r.get("people"), "named": r.get("named"),
                    "named_by_library": r.get("named_by_library"),
                    "suggested_by_library": r.get("suggested_by_library"),
                    "seconds_of_video": round(e.duration_s, 3) if e.duration_s else None, "wall_s": r.get("wall_s"),
                    "speed_x_realtime": r.get("speed_x_realtime"), "resumed_frames": r.get("resumed_frames"),
                    "generation": r.get("generation"), "host": r.get("host"), "fingerprint": e.fingerprint,
                    **({"warnings": r["warnings"]} if r.get("warnings") else {}),
                    **({"traceback": r["traceback"]} if r.get("traceback") else {})})
    return out


def write(archive: Path, episodes, info: dict) -> dict:
    table = rows(episodes)
    counts = {s: sum(r["status"] == s for r in table)
              for s in ("done", "skipped", "failed", "interrupted", "running", "pending")}
    doc = {"format": FORMAT, "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"), **info,
           "counts": counts, "episodes": table}
    write_json_and_csv(archive / SUMMARY_JSON, doc, archive / SUMMARY_CSV, COLUMNS, table)
    return doc
