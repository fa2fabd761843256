"""RunFolder: the one owner of an OUTDIR (see layout.py for what it holds).

    folder = RunFolder(path)
    with folder.reading():                 # shared lock; finishes an interrupted commit first
        run = folder.load()                # everything checked: StoredRun
    with folder.writing():                 # exclusive lock, for recluster / edits / report
        run = folder.load()
        folder.commit(ResultSet(...))      # the whole result set, or nothing

`run` prepares the folder (refusing one that is not facecluster's), writes its checkpoint under
.facecluster/checkpoint/ while it works, and commits it with the results at the end; the edits log and
every file the user added survive.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, OutputError
from ..models import file_sha256
from ..table import RunTable
from . import commit as journal
from .documents import (check_edits, check_manifest, check_people, dumps, dumps_edits, is_ours, people_csv,
                        people_vtt, read_json)
from .extraction import Extraction, ExtractionWriter, read_extraction, read_extraction_meta
from .layout import (CHECKPOINT, DETECTIONS_CSV, DETECTIONS_PARQUET, EDITS, EDITS_FORMAT, EXTRACTION, MANIFEST,
                     LATER_EXPORTS, OUTDIR_FORMAT, PEOPLE, PEOPLE_CSV, PEOPLE_FORMAT, PEOPLE_VTT, PRIVATE, REPORT,
                     THUMBS, TOOL)
from .locks import folder_lock, run_lock

log = logging.getLogger(__name__)


def _unit_person(people: list[dict], n_units: int) -> np.ndarray:
    """Person id of every unit (-1: nobody's)."""
    out = np.full(n_units, -1, np.int64)
    for p in people:
        out[p["units"]] = p["id"]
    return out


@dataclass
class StoredPeople:
    """A run's committed people without its detections (RunFolder.load_people)."""

    folder: Path
    manifest: dict
    people: list[dict]
    grouping: dict
    meta: dict  # the extraction's meta
    n_units: int

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]

    def unit_person(self) -> np.ndarray:
        return _unit_person(self.people, self.n_units)


@dataclass
class StoredRun:
    """A run as stored: the extraction (table with person ids from the grouping), documents, edits."""

    folder: Path
    extraction: Extraction
    manifest: dict
    people: list[dict]
    grouping: dict
    edits: list[dict]
    generation: int
    grouping_doc: dict = field(default_factory=dict)

    @property
    def table(self) -> RunTable:
        return self.extraction.table

    @property
    def run_id(self) -> str:
        return self.extraction.run_id

    @property
    def config(self) -> dict:
        return self.extraction.meta.get("config") or {}

    def unit_person(self) -> np.ndarray:
        return _unit_person(self.people, self.table.n_units)

    def base(self) -> np.ndarray:
        """The clustering before the user's corrections (people.json "clustered")."""
        return np.asarray(self.grouping_doc.get("clustered"), np.int64)


@dataclass
class ResultSet:
    """What a commit writes. The runfolder renders the JSON/CSV/Parquet files itself; the report comes
    rendered (it sits above this layer)."""

    run_id: str
    table: RunTable  # with person ids
    people: list[dict]  # people.json entries (with "units")
    grouping: dict  # how the people were made (cut, fusion, backend, edits applied)
    manifest: dict  # without tool/format/generation/files: filled in here
    report_html: str
    edits: list[dict] | None = None  # None = leave edits.json as it is
    unassigned_units: list[int] = field(default_factory=list)
    base: np.ndarray | None = None  # the clustering before corrections, per unit
    new_extraction: Path | None = None  # run only: the finished checkpoint database
    new_thumbs: Path | None = None  # run only: its thumbnails folder


class RunFolder:
    def __init__(self, path):
        self.path = Path(path)
        self.private = self.path / PRIVATE
        self.checkpoint = self.private / CHECKPOINT

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # ownership ----------------------------------------------------------------------------------------
    def state(self) -> str:
        """missing | file | empty | ours | foreign"""
        p = self.path
        if not p.exists():
            return "missing"
        if not p.is_dir():
            return "file"
        try:
            entries = list(p.iterdir())
        except OSError as exc:
            raise OutputError(f"cannot read the output folder {p} ({exc.strerror}); check its permissions") from None
        if not entries:
            return "empty"
        if self.private.is_dir() or is_ours(p / MANIFEST):
            return "ours"
        return "foreign"

    def require_ours(self) -> None:
        state = self.state()
        if state in ("missing", "file", "empty"):
            raise OutputError(f"{self.path} is not a facecluster output folder; run `facecluster run VIDEO -o "
                              f"{self.path}` first")
        if state == "foreign":
            raise OutputError(f"{self.path} is not a facecluster output folder (no manifest.json written by "
                              f"facecluster); give the folder that `facecluster run -o` wrote")

    def prepare_for_run(self) -> None:
        """Before a run decodes anything: the folder must be new, empty or facecluster's own, and writable."""
        state = self.state()
        if state == "file":
            raise OutputError(f"output path {self.path} exists and is a file; choose a folder name")
        if state == "foreign":
            raise OutputError(f"output folder {self.path} is not empty and is not a facecluster output; choose a "
                              f"new or empty folder (nothing in it was touched)")
        try:
            self.private.mkdir(parents=True, exist_ok=True)
            probe = self.private / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise OutputError(f"cannot write the output folder {self.path} ({exc.strerror}); choose another output "
                              f"folder or fix its permissions") from None
        self._clean_legacy_staging()

    def _clean_legacy_staging(self) -> None:
        """facecluster 0.1 staged whole outputs beside the folder and left them behind when killed."""
        real = Path(os.path.realpath(self.path))
        for stale in list(real.parent.glob(f".{real.name}.tmp-*")) + list(real.parent.glob(f".{real.name}.old-*")):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
                log.info("removed %s, left behind by an interrupted run", stale)

    # locks --------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def reading(self):
        self.require_ours()
        if (self.private / "journal.json").exists():
            with self.writing():
                pass
        with folder_lock(self.path, exclusive=False):
            yield self

    @contextlib.contextmanager
    def writing(self):
        self.require_ours()
        with folder_lock(self.path, exclusive=True):
            journal.recover(self.path, self.private)
            yield self

    def running(self):
        return run_lock(self.private, self.path)

    # checkpoint ---------------------------------------------------------------------------------------
    def open_checkpoint(self, fingerprint: str, meta: dict) -> tuple[ExtractionWriter, dict | None]:
        """The run's database under .facecluster/checkpoint/: resumed (with the stored state) when an
        interrupted run of the same video and extraction settings left one, else new. Call inside
        running(): that lock already rules out a live run (checking run_in_progress here would find our
        own lock and never resume)."""
        db = self.checkpoint / EXTRACTION
        state = None
        if db.exists():
            _roll_back_interrupted_write(db)
            try:
                old = read_extraction(db, partial=True)
                same = old.meta.get("fingerprint") == fingerprint
                # a finished extraction (interrupted while grouping or committing) is kept whole
                state = ({"complete": True} if old.meta.get("complete") else old.meta.get("checkpoint")) \
                    if same else None
                if state is None:
                    log.info("%s: an interrupted run used another video or other settings; starting over", self.path)
            except InputError:
                log.info("%s: the interrupted run's checkpoint is unreadable; starting over", self.path)
        if state is None:
            shutil.rmtree(self.checkpoint, ignore_errors=True)
        (self.checkpoint / THUMBS).mkdir(parents=True, exist_ok=True)
        writer = ExtractionWriter(db, meta)
        return writer, state

    def discard_checkpoint(self) -> None:
        shutil.rmtree(self.checkpoint, ignore_errors=True)

    # reading ------------------------------------------------------------------------------------------
    def load(self, grouping: bool = True) -> StoredRun:
        """Everything checked (see runfolder docs). grouping=False skips people.json (recluster rebuilds it)."""
        extraction = read_extraction(self.path / EXTRACTION)
        people, info, doc = [], {}, {}
        if not grouping:
            try:
                manifest = check_manifest(self.path / MANIFEST, read_json(self.path / MANIFEST))
            except InputError:
                manifest = self._manifest_from(extraction)  # recluster rebuilds the manifest from the extraction
        else:
            manifest, doc = self._documents(extraction.run_id, extraction.table.n_units)
            people, info = doc["people"], doc.get("grouping") or {}
            person = _unit_person(people, extraction.table.n_units)
            extraction.table.person_id = person[extraction.table.unit_id] if len(extraction.table) else \
                extraction.table.person_id
        edits = self.load_edits()
        return StoredRun(self.path, extraction, manifest, people, info, edits, int(manifest["generation"]), doc)

    def load_people(self) -> StoredPeople:
        """The committed manifest and people, checked against the extraction's run id and unit count, without
        reading its detections or vectors (for summaries over whole archives)."""
        meta, n_units = read_extraction_meta(self.path / EXTRACTION)
        manifest, doc = self._documents(meta["run_id"], n_units)
        return StoredPeople(self.path, manifest, doc["people"], doc.get("grouping") or {}, meta, n_units)

    def _documents(self, run_id: str, n_units: int) -> tuple[dict, dict]:
        manifest = check_manifest(self.path / MANIFEST, read_json(self.path / MANIFEST,
                                                                  fix="run `facecluster recluster` to rebuild it"))
        if manifest["run_id"] != run_id:
            raise self._mixed(MANIFEST)
        doc = check_people(self.path / PEOPLE, read_json(self.path / PEOPLE), n_units)
        if doc["run_id"] != run_id:
            raise self._mixed(PEOPLE)
        return manifest, doc

    @staticmethod
    def _manifest_from(extraction: Extraction) -> dict:
        meta = extraction.meta
        return {"tool": TOOL, "format": OUTDIR_FORMAT, "generation": 0, "run_id": extraction.run_id,
                "version": meta.get("version"), "created": meta.get("created"), "input": meta.get("video") or {},
                "config": meta.get("config") or {}, "backends": meta.get("backends") or {},
                "models": meta.get("models") or [], "counts": meta.get("counts") or {},
                "decode": meta.get("decode") or {}, "timings_s": meta.get("timings") or {}}

    def check_edits_file(self) -> None:
        """Before a run: the corrections in edits.json must be readable (they are re-applied at the end).
        A file from facecluster 0.1 (corrections on its own track ids) is kept as edits.v1.json."""
        path = self.path / EDITS
        if not path.exists():
            return
        data = read_json(path, fix="fix it, or move it away to start without corrections")
        if data.get("format") == "facecluster-edits/1":
            os.replace(path, self.path / "edits.v1.json")
            log.warning("%s is from facecluster 0.1 and cannot be carried over to this run; kept as edits.v1.json",
                        path)
            return
        check_edits(path, data)

    def load_edits(self) -> list[dict]:
        path = self.path / EDITS
        return check_edits(path, read_json(path)) if path.exists() else []

    def _mixed(self, name: str) -> InputError:
        return InputError(f"{self.path / name} does not belong to the run stored in {self.path / EXTRACTION}; "
                          f"run `facecluster recluster {self.path}` to group the stored detections again")

    def changed_exports(self, manifest: dict) -> list[str]:
        """Exported files that differ from what the last commit wrote (edited by hand, damaged)."""
        out = []
        for name, info in (manifest.get("files") or {}).items():
            path = self.path / name
            if not path.is_file() or not isinstance(info, dict) or file_sha256(path) != info.get("sha256"):
                out.append(name)
        return out

    def _users_files(self, names, listed) -> list[str]:
        """Those of `names` present in the folder but not written by facecluster (not `listed` in the last
        manifest's files)."""
        return [n for n in names if (self.path / n).exists() and not (isinstance(listed, dict) and n in listed)]

    def _previous_manifest(self) -> dict:
        try:
            return read_json(self.path / MANIFEST)
        except InputError:
            return {}

    # writing ------------------------------------------------------------------------------------------
    def commit(self, results: ResultSet) -> dict:
        """Replace the result set (call inside writing()); returns the manifest written."""
        previous = self._previous_manifest()
        before = previous.get("generation")
        generation = (before if isinstance(before, int) and before >= 0 else 0) + 1
        people_doc = {"format": PEOPLE_FORMAT, "run_id": results.run_id, "generation": generation,
                      "grouping": results.grouping, "people": results.people,
                      "unassigned_units": [int(u) for u in results.unassigned_units],
                      "clustered": [] if results.base is None else np.asarray(results.base).tolist()}
        files: dict[str, bytes] = {PEOPLE: dumps(people_doc), PEOPLE_CSV: people_csv(results.people),
                                   PEOPLE_VTT: people_vtt(results.people), REPORT: results.report_html.encode("utf-8")}
        for name in self._users_files(LATER_EXPORTS, previous.get("files")):
            log.warning("%s was not written by facecluster: left as it is, so this run's %s is not written (move "
                        "that file away to get it)", self.path / name, name)
            files.pop(name)
        staging = self.private / f"render-{generation}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            staging.mkdir(parents=True)
            results.table.to_csv(staging / DETECTIONS_CSV)
            files[DETECTIONS_CSV] = (staging / DETECTIONS_CSV).read_bytes()
            parquet = results.table.to_parquet(staging / DETECTIONS_PARQUET)
            if parquet:
                files[DETECTIONS_PARQUET] = (staging / DETECTIONS_PARQUET).read_bytes()
        except OSError as exc:
            raise journal._space_error(self.path, exc) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if results.edits is not None:
            files[EDITS] = dumps_edits({"format": EDITS_FORMAT, "edits": results.edits})
        manifest = {"tool": TOOL, "format": OUTDIR_FORMAT, "generation": generation, "run_id": results.run_id,
                    **results.manifest,
                    "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                              for name, data in files.items() if name != EDITS}}
        files[MANIFEST] = dumps(manifest)
        moves = {}
        if results.new_extraction is not None:
            moves[EXTRACTION] = results.new_extraction
        if results.new_thumbs is not None:
            moves[THUMBS] = results.new_thumbs
        remove = [] if parquet else [DETECTIONS_PARQUET]
        journal.commit(self.path, self.private, generation, files, moves, remove)
        return manifest


def _roll_back_interrupted_write(db: Path) -> None:
    """A run killed inside a checkpoint's transaction leaves a hot journal, which a read-only connection
    cannot roll back ("attempt to write a readonly database"): the checkpoint looked unreadable and the next
    run started over (1 kill in 20 in bench_resume.py). A read-write connection rolls it back to the last
    checkpoint."""
    try:
        con = sqlite3.connect(db)
        try:
            con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        pass  # read_extraction says what is wrong with it
