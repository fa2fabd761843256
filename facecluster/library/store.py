"""The people library: one SQLite file (people, their names, where each was learnt, face prototypes)
and an in-memory flat vector index over the prototypes (index.py), built when first searched.

    lib = Library.open("people.fclib", create=True)
    lib.add_run("ep01.facecluster")          # the people named in that run -> prototypes
    lib.people(); lib.person("Ada"); lib.remove("Ada"); lib.merge(["Ada L.", "Ada"])

Every change is one SQLite transaction: a killed command leaves the library as it was before or after.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..errors import ConfigError, InputError, OutputError
from . import embedder as emb
from .index import make_index
from .prototypes import of_person

log = logging.getLogger(__name__)
FORMAT = "facecluster-library/1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL,
                                   updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, folder TEXT NOT NULL,
                                    video TEXT, added TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prototypes (id INTEGER PRIMARY KEY,
                                       person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
                                       source_id INTEGER REFERENCES sources(id) ON DELETE SET NULL,
                                       source_person INTEGER, faces INTEGER NOT NULL, vector BLOB NOT NULL,
                                       kind TEXT NOT NULL DEFAULT 'person', added TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS prototypes_person ON prototypes(person_id);
CREATE INDEX IF NOT EXISTS prototypes_source ON prototypes(source_id);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def clean_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise ConfigError("a person in the library needs a non-empty name")
    return name


class Library:
    def __init__(self, path, con: sqlite3.Connection, readonly: bool):
        self.path = Path(path)
        self.con = con
        self.readonly = readonly
        self._vectors: dict = {}  # scope -> (person ids, (N, D) matrix, names) as loaded
        self._index: dict = {}

    # opening --------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path, create: bool = False, readonly: bool = False) -> "Library":
        """Open the library file at `path` (create it when `create` and missing)."""
        path = Path(path).expanduser()
        if path.is_dir():
            raise InputError(f"{path} is a folder; a people library is one file, e.g. {path / 'people.fclib'}")
        if not path.exists() and not create:
            raise InputError(f"no people library at {path}; make one with `facecluster library add OUTDIR "
                             f"--library {path}` (OUTDIR: a run in which you named people)")
        try:
            if path.exists() and readonly:
                con = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=30.0)
            elif path.exists():
                con = sqlite3.connect(path, timeout=30.0)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                con = sqlite3.connect(path, timeout=30.0)
        except (OSError, sqlite3.Error) as exc:
            raise OutputError(f"cannot open the people library {path} ({exc}); check the path and its "
                              f"permissions") from None
        lib = cls(path, con, readonly)
        lib._check(fresh=not readonly)
        return lib

    def _check(self, fresh: bool) -> None:
        try:
            self.con.execute("PRAGMA foreign_keys = ON")
            tables = {r[0] for r in self.con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables and fresh:
                with self.con:
                    self.con.executescript(SCHEMA)
                    self._set("format", FORMAT)
                    self._set("created", _now())
            fmt = self._get("format") if "meta" in tables or fresh else None
        except sqlite3.DatabaseError:
            fmt = None
        if fmt != FORMAT:
            self.con.close()
            raise InputError(f"{self.path} is not a facecluster people library ({FORMAT}); give the file that "
                             f"`facecluster library add` made, or a new file name")

    def close(self) -> None:
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def revision(self) -> str:
        """Changes with every change to the library (a new value in each write transaction): runs named at
        the same revision were named by the same people and prototypes."""
        return str(self._get("revision") or "0")

    def _get(self, key: str):
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def _set(self, key: str, value) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def _write(self):
        if self.readonly:
            raise OutputError(f"{self.path} was opened read-only")
        self._vectors, self._index = {}, {}
        self._set("revision", uuid.uuid4().hex)  # in the transaction: gone with it if it rolls back
        return self.con  # `with lib._write():` is one transaction

    # the embedder ---------------------------------------------------------------------------------------
    @property
    def embedder(self) -> dict | None:
        return self._get("embedder")

    def check_embedder(self, other: dict, what: str) -> None:
        """ConfigError when `other` (the embedder of a run or config) is not the library's."""
        mine = self.embedder
        if mine is not None and not emb.same(mine, other):
            raise ConfigError(f"{self.path} holds faces embedded by {emb.describe(mine)}, but {what} uses "
                              f"{emb.describe(other)}; faces of different embedders cannot be compared. Run with "
                              f"--face-embedder {mine['backend']} and the same model, or use another library")

    def _bind(self, other: dict, what: str) -> None:
        self.check_embedder(other, what)
        if self.embedder is None:
            self._set("embedder", other)

    @property
    def same_person_distance(self) -> float | None:
        e = self.embedder or {}
        return e.get("same_person_distance")

    # reading --------------------------------------------------------------------------------------------
    def people(self) -> list[dict]:
        rows = self.con.execute(
            "SELECT p.id, p.name, p.created, p.updated, COUNT(v.id), COALESCE(SUM(v.faces), 0), "
            "COUNT(DISTINCT v.source_id) FROM people p LEFT JOIN prototypes v ON v.person_id = p.id "
            "GROUP BY p.id ORDER BY p.name COLLATE NOCASE").fetchall()
        return [{"id": i, "name": n, "created": c, "updated": u, "prototypes": k, "faces": f, "episodes": e}
                for i, n, c, u, k, f, e in rows]

    def _find(self, who) -> tuple[int, str]:
        key = str(who).strip()
        row = self.con.execute("SELECT id, name FROM people WHERE name = ?", (clean_name(key),)).fetchone()
        if row is None and key.isdigit():
            row = self.con.execute("SELECT id, name FROM people WHERE id = ?", (int(key),)).fetchone()
        if row is None:
            row = self.con.execute("SELECT id, name FROM people WHERE name = ? COLLATE NOCASE",
                                   (clean_name(key),)).fetchone()
        if row is None:
            known = [p["name"] for p in self.people()]
            listed = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
            raise ConfigError(f"no person {who!r} in {self.path}; known: {listed or '(the library is empty)'}")
        return row

    def person(self, who) -> dict:
        pid, _ = self._find(who)
        info = next(p for p in self.people() if p["id"] == pid)
        info["sources"] = [{"run_id": r, "folder": f, "video": v, "added": a, "prototypes": k, "faces": n}
                           for r, f, v, a, k, n in self.con.execute(
                               "SELECT s.run_id, s.folder, s.video, s.added, COUNT(v.id), SUM(v.faces) "
                               "FROM prototypes v JOIN sources s ON s.id = v.source_id WHERE v.person_id = ? "
                               "GROUP BY s.id ORDER BY s.added, s.id", (pid,))]
        info["unsourced_prototypes"] = self.con.execute(
            "SELECT COUNT(*) FROM prototypes WHERE person_id = ? AND source_id IS NULL", (pid,)).fetchone()[0]
        return info

    def vectors(self, scope: str = "all") -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
        """(person id per prototype, (N, D) prototypes, {person id: name}); scope "person": only each run's
        mean face of a person, "all": also their track means."""
        if scope not in self._vectors:
            where = "" if scope == "all" else "WHERE kind = 'person' "
            rows = self.con.execute(f"SELECT person_id, vector FROM prototypes {where}ORDER BY id").fetchall()
            dim = (self.embedder or {}).get("dim") or 0
            owners = np.array([r[0] for r in rows], np.int64)
            matrix = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), dim) if rows \
                else np.zeros((0, dim), np.float32)
            names = dict(self.con.execute("SELECT id, name FROM people").fetchall())
            self._vectors[scope] = (owners, matrix, names)
        return self._vectors[scope]

    def index(self, scope: str = "all"):
        if scope not in self._index:
            _, matrix, _ = self.vectors(scope)
            self._index[scope] = make_index(matrix.shape[1])
            self._index[scope].add(matrix)
        return self._index[scope]

    def best_people(self, queries: np.ndarray, k: int = 3, scope: str = "all") -> list[list[tuple[int, float]]]:
        """For each query vector, up to `k` library people as (person id, best prototype similarity),
        most similar first."""
        owners, _, _ = self.vectors(scope)
        if not len(owners) or not len(queries):
            return [[] for _ in range(len(queries))]
        depth = min(len(owners), max(64, 16 * k))
        sims, rows = self.index(scope).search(np.asarray(queries, np.float32), depth)
        out = []
        for s, r in zip(sims, rows):
            best: dict[int, float] = {}
            for sim, row in zip(s.tolist(), r.tolist()):
                if row >= 0 and int(owners[row]) not in best:
                    best[int(owners[row])] = sim
            out.append(sorted(best.items(), key=lambda kv: -kv[1])[:k])
        return out

    # changing -------------------------------------------------------------------------------------------
    def add_vectors(self, name: str, vectors: np.ndarray, faces=None, source: dict | None = None,
                    source_person: int | None = None, embedder: dict | None = None) -> int:
        """Add prototypes (unit rows) to the person called `name` (made if new); returns their number."""
        vectors = np.asarray(vectors, np.float32)
        with self._write():
            if embedder is not None:
                self._bind(embedder, "these faces")
            dim = (self.embedder or {}).get("dim")
            if dim is None or vectors.ndim != 2 or vectors.shape[1] != dim:
                raise ConfigError(f"prototypes must be (N, {dim}) vectors of the library's embedder")
            source_id = self._source(source) if source else None
            self._insert(clean_name(name), vectors, faces, source_id, source_person)
        return len(vectors)

    def _source(self, source: dict) -> int:
        row = self.con.execute("SELECT id FROM sources WHERE run_id = ?", (source["run_id"],)).fetchone()
        if row:
            self.con.execute("UPDATE sources SET folder = ?, video = ?, added = ? WHERE id = ?",
                             (source["folder"], source.get("video"), _now(), row[0]))
            return row[0]
        return self.con.execute("INSERT INTO sources (run_id, folder, video, added) VALUES (?, ?, ?, ?)",
                                (source["run_id"], source["folder"], source.get("video"), _now())).lastrowid

    def _insert(self, name: str, vectors: np.ndarray, faces, source_id, source_person, kinds=None) -> int:
        now = _now()
        row = self.con.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
        pid = row[0] if row else self.con.execute("INSERT INTO people (name, created, updated) VALUES (?, ?, ?)",
                                                  (name, now, now)).lastrowid
        self.con.execute("UPDATE people SET updated = ? WHERE id = ?", (now, pid))
        faces = np.ones(len(vectors), np.int64) if faces is None else np.asarray(faces, np.int64)
        kinds = kinds or ["person"] * len(vectors)
        self.con.executemany("INSERT INTO prototypes (person_id, source_id, source_person, faces, vector, kind, "
                             "added) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(pid, source_id, source_person, int(f), np.ascontiguousarray(v).tobytes(), kind, now)
                              for v, f, kind in zip(vectors, faces, kinds)])
        return pid

    def add_run(self, folder, with_recognised: bool = False) -> dict:
        """Store the people named in a run (OUTDIR) as face prototypes. Adding a run again replaces what
        it gave before (a renamed person moves). People named by the library itself are skipped unless
        `with_recognised` (they would only echo what the library already holds)."""
        from ..runfolder import RunFolder

        rf = RunFolder(folder)
        with rf.reading():
            stored = rf.load()
        e = emb.of_run(stored.extraction.meta, str(folder))
        named = [p for p in stored.people if p.get("name")]
        chosen = [p for p in named if with_recognised or p.get("name_source") != "library"]
        unit_person = stored.unit_person()
        source = {"run_id": stored.run_id, "folder": str(Path(folder).resolve()),
                  "video": (stored.manifest.get("input") or {}).get("path")}
        added, new, dropped = [], [], []
        with self._write():
            self._bind(e, str(folder))
            before = {r[0] for r in self.con.execute("SELECT name FROM people")}
            source_id = self._source(source)
            self.con.execute("DELETE FROM prototypes WHERE source_id = ?", (source_id,))
            for p in chosen:
                vectors, faces = of_person(stored.extraction, unit_person, p["id"])
                if not len(vectors):
                    continue  # named, but seen only as a body: nothing for a face library
                name = clean_name(p["name"])
                # the person's mean over the run first, then their track means (prototypes.of_person)
                self._insert(name, vectors, faces, source_id, p["id"], ["person"] + ["track"] * (len(vectors) - 1))
                added.append({"name": name, "person_id": p["id"], "prototypes": int(len(vectors)),
                              "faces": int(faces[0])})
                if name not in before:
                    new.append(name)
            for pid, name in self.con.execute(
                    "SELECT id, name FROM people WHERE id NOT IN (SELECT DISTINCT person_id FROM prototypes)"
            ).fetchall():
                dropped.append(name)
                self.con.execute("DELETE FROM people WHERE id = ?", (pid,))
        return {"folder": str(folder), "run_id": stored.run_id, "added": added, "new_people": new,
                "dropped_people": dropped, "skipped_recognised": len(named) - len(chosen),
                "unnamed": len(stored.people) - len(named)}

    def remove(self, who) -> dict:
        info = self.person(who)
        with self._write():
            self.con.execute("DELETE FROM prototypes WHERE person_id = ?", (info["id"],))
            self.con.execute("DELETE FROM people WHERE id = ?", (info["id"],))
        return info

    def merge(self, names: list, into: str | None = None) -> dict:
        """One person from several (their prototypes pooled): named `into`, else the first listed."""
        found = list(dict.fromkeys(self._find(n) for n in names))
        if len(found) < 2 and into is None:
            raise ConfigError("merge needs at least two different people of the library, e.g. `facecluster library "
                              "merge 'Ada L.' 'Ada Lovelace' --library LIB`")
        target = clean_name(into) if into else found[0][1]
        with self._write():
            clash = self.con.execute("SELECT id FROM people WHERE name = ?", (target,)).fetchone()
            if clash and clash[0] not in {pid for pid, _ in found}:
                raise ConfigError(f"{target!r} is already another person of {self.path}; list it among the people "
                                  f"to merge")
            keep = clash[0] if clash else found[0][0]
            for pid, _ in found:
                if pid != keep:
                    self.con.execute("UPDATE prototypes SET person_id = ? WHERE person_id = ?", (keep, pid))
                    self.con.execute("DELETE FROM people WHERE id = ?", (pid,))
            self.con.execute("UPDATE people SET name = ?, updated = ? WHERE id = ?", (target, _now(), keep))
        return self.person(target)
