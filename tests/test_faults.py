"""The output-folder fault suite (issue 10): a damaged folder, a signal, a crash, a full or read-only disk,
a race between commands. Each gives a one-line error with its exit code, or the right result, and never
loses or mixes data.

Every command runs through the real CLI in a subprocess (real exit codes, stderr and signals) on a copy
of one good OUTDIR made once per module: secureface_rpi_test_4.avi with the fast config, a name given
with `label`, and two files of the user's. A row of CASES is: the fault made on the copy, the command,
the exit code, a fragment of the one-line message and the proof that nothing was lost (every file the
same sha256 as before, the user's files and edits.json still there) or that the result is right.

Signals and crashes at chosen moments come from WRAP, which runs the CLI with one function patched to
signal (or kill) its own process when it is called the n-th time. Disk-full and read-only cases mount a
small tmpfs (root only; elsewhere they are skipped and test_disk_full_in_process covers disk full).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from .conftest import MODELS, ROOT, VIDEOS

VIDEO = VIDEOS / "secureface_rpi_test_4.avi"
FAST = ROOT / "tests" / "configs" / "fast.toml"
USER_FILES = {"notes.txt": b"my notes\n", "mine/list.csv": b"a,b\n1,2\n"}
pytestmark = pytest.mark.skipif(not VIDEO.is_file() or not (MODELS / "face_detection_yunet_2023mar.onnx").is_file(),
                                reason="needs ../shared media and models")

# The CLI with one function patched: argv = module:attr.path SIGNAL|CRASH N facecluster-args...
WRAP = """
import importlib, os, signal, sys
target, what, nth = sys.argv[1:4]
module, path = target.split(":")
owner = importlib.import_module(module)
*parents, name = path.split(".")
for p in parents:
    owner = getattr(owner, p)
original, calls = getattr(owner, name), [0]
def patched(*args, **kwargs):
    calls[0] += 1
    if calls[0] == int(nth):
        if what == "CRASH":
            os._exit(99)
        os.kill(os.getpid(), getattr(signal, what))
    return original(*args, **kwargs)
setattr(owner, name, patched)
from facecluster.cli import main
main(args=sys.argv[4:], prog_name="facecluster")
"""


# running the CLI --------------------------------------------------------------------------------------------
@dataclass
class Ran:
    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The one error line; every other stderr line may only be a log line or a progress bar."""
        lines = [s.strip() for s in self.err.replace("\r", "\n").splitlines() if s.strip()]
        assert "Traceback" not in self.err, self.err
        errors = [s for s in lines if s.startswith("facecluster: error:")]
        assert len(errors) == 1, self.err
        others = [s for s in lines if s not in errors and not s.startswith(("WARNING:", "INFO:", "frames:"))]
        assert not others, self.err
        return errors[0]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACECLUSTER_")}
    env["FACECLUSTER_MODELS"] = str(MODELS)
    return env


# the console script users run (under `python -m`, CPython 3.11 may report an interrupt that passed through
# an import as death by SIGINT instead of exit code 130)
ENTRY = Path(sys.executable).with_name("facecluster")


def _command(args, wrap=None) -> list[str]:
    plain = [str(ENTRY)] if ENTRY.is_file() else [sys.executable, "-m", "facecluster.cli"]
    head = [sys.executable, "-c", WRAP, *map(str, wrap)] if wrap else plain
    return head + [str(a) for a in args]


def _preexec(umask=None, memory=None):
    def setup():
        # Ctrl-C as a user's terminal delivers it, however the suite was started: a shell's background job (`cmd &`
        # in a script) ignores SIGINT, and an ignored SIGINT is inherited, so the CLI would never see it
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if umask is not None:
            os.umask(umask)
        if memory is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return setup


def cli(*args, wrap=None, umask=None, memory=None, timeout=300) -> Ran:
    proc = subprocess.run(_command(args, wrap), capture_output=True, text=True, env=_env(), timeout=timeout,
                          preexec_fn=_preexec(umask, memory))
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def start(*args, wrap=None) -> subprocess.Popen:
    return subprocess.Popen(_command(args, wrap), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(), preexec_fn=_preexec())


# what a folder holds ----------------------------------------------------------------------------------------
def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file (and every folder) under OUTDIR, the private .facecluster/ left out."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if rel.parts[0] == ".facecluster":
            continue
        out[str(rel)] = sha(p) if p.is_file() and not p.is_symlink() else "dir"
    return out


def beside(folder: Path) -> set[str]:
    return {p.name for p in folder.parent.iterdir()} if folder.parent.is_dir() else set()


def no_commit_garbage(folder: Path) -> None:
    private = folder / ".facecluster"
    left = [p.name for p in private.iterdir()] if private.is_dir() else []
    assert not [n for n in left if n.startswith(("staging-", "trash-", "render-", "journal"))], left


def run_id_of(folder: Path) -> str:
    with contextlib.closing(sqlite3.connect(folder / "facecluster.sqlite")) as con:
        return json.loads(dict(con.execute("SELECT key, value FROM meta").fetchall())["run_id"])


def consistent(folder: Path) -> dict:
    """One complete result set: manifest, people.json and the database of one run and one commit, every
    exported file as the manifest recorded it. Returns the manifest."""
    manifest = json.loads((folder / "manifest.json").read_text())
    people = json.loads((folder / "people.json").read_text())
    assert manifest["run_id"] == people["run_id"] == run_id_of(folder)
    assert manifest["generation"] == people["generation"]
    for name, info in manifest["files"].items():
        assert sha(folder / name) == info["sha256"], f"{name} is not the one of generation {manifest['generation']}"
    for p in people["people"]:
        assert (folder / p["thumbnail"]).is_file()
    return manifest


def user_files_kept(folder: Path) -> None:
    for name, data in USER_FILES.items():
        assert (folder / name).read_bytes() == data, name


def names(folder: Path) -> list:
    return [p.get("name") for p in json.loads((folder / "people.json").read_text())["people"]]


def edits(folder: Path) -> list[dict]:
    return json.loads((folder / "edits.json").read_text())["edits"]


def kept(folder: Path) -> None:
    """The user's files and corrections are all still there."""
    user_files_kept(folder)
    assert [e["name"] for e in edits(folder) if e["op"] == "label"][:1] == ["Alice"]


# the good run ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A finished OUTDIR with a name given and two files of the user's; copy it before changing it."""
    out = tmp_path_factory.mktemp("good") / "out"
    ran = cli("-q", "run", VIDEO, "-o", out, "-c", FAST)
    assert ran.code == 0, ran.err
    ran = cli("label", out, 0, "Alice")
    assert ran.code == 0, ran.err
    for name, data in USER_FILES.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    assert len(names(out)) >= 2 and "Alice" in names(out)
    return out


@pytest.fixture
def out(good, tmp_path) -> Path:
    return Path(shutil.copytree(good, tmp_path / "work" / "out", symlinks=True))


# damage -----------------------------------------------------------------------------------------------------
def sql(statement: str):
    def damage(out: Path):
        with contextlib.closing(sqlite3.connect(out / "facecluster.sqlite")) as con:
            con.execute(statement)
            con.commit()
    return damage


def write(name: str, data):
    def damage(out: Path):
        path = out / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return damage


def truncate(name: str, keep: float):
    def damage(out: Path):
        data = (out / name).read_bytes()
        (out / name).write_bytes(data[: int(len(data) * keep)])
    return damage


def edit_json(name: str, change: Callable[[dict], object]):
    def damage(out: Path):
        data = json.loads((out / name).read_text())
        data = change(data) or data
        (out / name).write_text(json.dumps(data))
    return damage


def remove(name: str):
    def damage(out: Path):
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return damage


def foreign(out: Path) -> Path:
    """A folder of someone else's that holds only a manifest.json (not facecluster's)."""
    folder = out.parent / "foreign"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"name": "holiday photos", "version": 3}')
    return folder


def foreign_with_photo(out: Path) -> Path:
    folder = foreign(out)
    (folder / "photo.jpg").write_bytes(b"\xff\xd8 not really a photo")
    return folder


def bad_journal(moves) -> Callable:
    def damage(out: Path):
        (out.parent / "outside.txt").write_text("a file outside OUTDIR that the journal names")
        (out / ".facecluster" / "journal.json").write_text(json.dumps(
            {"generation": 9, "moves": moves, "stage": ".facecluster/staging-9", "trash": ".facecluster/trash-9"}))
    return damage


def split_with_one_part(data):
    data["edits"].append({"id": 7, "op": "split", "parts": [[0]]})


def person_units(index, units):
    def change(data):
        data["people"][index]["units"] = units
    return change


def with_edit(entry):
    def change(data):
        data["edits"].append(entry)
    return change


# the table --------------------------------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    damage: Callable | None  # damage(out) -> None, or a folder to use instead of OUTDIR
    args: list  # {out} = the folder, {video} = the good run's video
    code: int
    message: str
    memory: int | None = None  # address-space limit of the command (bytes)
    proof: str = "unchanged"  # unchanged: every file as it was after the damage


TRUTH_ARGS = ["--truth", "{truth}", "--json", "{tmp}/eval.json"]
CASES = [
    # (1) a folder that merely holds a manifest.json is not facecluster's: refused, untouched
    Case("foreign-run", foreign, ["-q", "run", "{video}", "-o", "{out}", "-c", FAST], 5, "not a facecluster output"),
    Case("foreign-label", foreign_with_photo, ["label", "{out}", 0, "X"], 5, "not a facecluster output folder"),
    Case("foreign-recluster", foreign, ["recluster", "{out}"], 5, "not a facecluster output folder"),
    Case("missing-folder", lambda out: out.parent / "nothing", ["label", "{out}", 0, "X"], 5, "run `facecluster run"),
    Case("output-under-a-file", lambda out: out / "notes.txt" / "out", ["-q", "run", "{video}", "-o", "{out}"], 5,
         "cannot write the output folder"),
    Case("no-overwrite", None, ["-q", "run", "{video}", "-o", "{out}", "-c", FAST, "--no-overwrite"], 5,
         "already holds results"),
    # (6) a damaged database
    Case("sqlite-truncated", truncate("facecluster.sqlite", 0.3), ["label", "{out}", 0, "X"], 3,
         "facecluster.sqlite is damaged"),
    Case("sqlite-garbage", write("facecluster.sqlite", bytes(range(256)) * 64), ["recluster", "{out}"], 3,
         "facecluster.sqlite is damaged (file is not a database)"),
    Case("sqlite-zero-bytes", write("facecluster.sqlite", b""), ["report", "{out}"], 3,
         "facecluster.sqlite is damaged"),
    Case("sqlite-missing", remove("facecluster.sqlite"), ["similar", "{out}", 0], 3, "facecluster.sqlite is missing"),
    Case("vector-size", sql("UPDATE vectors SET vector = zeroblob(12) WHERE rowid = 1"), ["similar", "{out}", 0], 3,
         "vector has the wrong size"),
    Case("meta-not-json", sql("UPDATE meta SET value = '{not json' WHERE key = 'config'"), ["label", "{out}", 0, "X"],
         3, "meta table is not JSON"),
    Case("track-id-1e12", sql("UPDATE detections SET track_id = 1000000000000 WHERE detection_id = 1"),
         ["recluster", "{out}"], 3, "track_id must be in", memory=8 << 30),
    Case("unit-id-1e12", sql("UPDATE detections SET unit_id = 1000000000000 WHERE detection_id = 0"),
         ["label", "{out}", 0, "X"], 3, "unit_id must be in", memory=8 << 30),
    Case("link-id-1e12", sql("UPDATE detections SET body_detection_id = 1000000000000 WHERE detection_id = 0"),
         ["report", "{out}"], 3, "body_detection_id must be", memory=8 << 30),
    Case("box-not-a-number", sql("UPDATE detections SET x1 = 'wide' WHERE detection_id = 0"),
         ["label", "{out}", 0, "X"], 3, "facecluster.sqlite is damaged"),
    # (6) documents of the wrong shape
    Case("people-json-list", write("people.json", "[]"), ["label", "{out}", 0, "X"], 3,
         "people.json is not a JSON object"),
    Case("people-json-truncated", truncate("people.json", 0.5), ["merge", "{out}", 0, 1], 3,
         "people.json is not valid JSON"),
    Case("people-json-unit-out-of-range", edit_json("people.json", person_units(0, [10 ** 12])),
         ["label", "{out}", 0, "X"], 3, "lists bad units for person 0", memory=8 << 30),
    Case("people-json-unit-twice", edit_json("people.json", person_units(1, [0])), ["split", "{out}", 0], 3,
         "gives a unit to two people"),
    Case("manifest-list", write("manifest.json", "[1, 2]"), ["label", "{out}", 0, "X"], 3,
         "manifest.json is not a JSON object"),
    Case("manifest-generation-text", edit_json("manifest.json", lambda d: d.update(generation="two")),
         ["label", "{out}", 0, "X"], 3, "has no valid 'generation'"),
    Case("manifest-other-run", edit_json("manifest.json", lambda d: d.update(run_id="0" * 32)),
         ["label", "{out}", 0, "X"], 3, "does not belong to the run"),
    Case("people-other-run", edit_json("people.json", lambda d: d.update(run_id="0" * 32)), ["similar", "{out}", 0], 3,
         "does not belong to the run"),
    # (6) malformed corrections: refused before anything is decoded or written
    Case("edits-no-id", edit_json("edits.json", with_edit({"op": "label", "units": [0], "name": "x"})),
         ["label", "{out}", 0, "X"], 3, "edits.json entry 2 has no id"),
    Case("edits-unknown-op", edit_json("edits.json", with_edit({"op": "rename", "id": 5})), ["recluster", "{out}"], 3,
         "entry 2 is not an edit"),
    Case("edits-split-one-part", edit_json("edits.json", split_with_one_part),
         ["-q", "run", "{video}", "-o", "{out}", "-c", FAST], 3, "(split) needs two or more lists of units"),
    Case("edits-not-json", write("edits.json", '{"format": "facecluster-edits/2", "edits": [{'),
         ["-q", "run", "{video}", "-o", "{out}", "-c", FAST], 3, "edits.json is not valid JSON"),
    Case("edits-bad-anchors", edit_json("edits.json", lambda d: d["edits"][0].update(anchors={"0": [[1, 2]]})),
         ["label", "{out}", 1, "X"], 3, "malformed anchors"),
    Case("edits-name-not-text", edit_json("edits.json", lambda d: d["edits"][0].update(name=7)), ["report", "{out}"], 3,
         "(label) has no name"),
    # a commit journal that is damaged, or that would move files out of the folder
    Case("journal-garbage", write(".facecluster/journal.json", "{{{"), ["label", "{out}", 0, "X"], 5,
         "journal.json is damaged"),
    Case("journal-escapes", bad_journal([["../outside.txt", "x"], [None, "/etc/hostname"]]), ["report", "{out}"], 5,
         "journal.json is damaged"),
    # wrong requests
    Case("unknown-person", None, ["label", "{out}", 12345, "X"], 2, "valid person ids: 0, 1"),
    Case("unknown-detection", None, ["similar", "{out}", 10 ** 6], 2, "no detection 1000000"),
    # (5) exported files damaged by hand: readers do not use them, recluster writes them again
    Case("csv-emptied-recluster", write("detections.csv", ""), ["recluster", "{out}"], 0, "", proof="rebuilt"),
    Case("csv-truncated-recluster", truncate("detections.csv", 0.5), ["recluster", "{out}"], 0, "", proof="rebuilt"),
    Case("csv-dropped-column-recluster", write("detections.csv", "detection_id,frame_index\n0,0\n"),
         ["recluster", "{out}"], 0, "", proof="rebuilt"),
    Case("people-json-damaged-recluster", write("people.json", '{"people": 5}'), ["recluster", "{out}"], 0, "",
         proof="rebuilt"),
    Case("manifest-missing-recluster", remove("manifest.json"), ["recluster", "{out}"], 0, "", proof="rebuilt"),
    Case("manifest-other-run-recluster", edit_json("manifest.json", lambda d: d.update(run_id="0" * 32)),
         ["recluster", "{out}"], 0, "", proof="rebuilt"),
    Case("private-folder-deleted", remove(".facecluster"), ["label", "{out}", 0, "Alice"], 0, "", proof="rebuilt"),
    Case("csv-not-a-number-eval", lambda out: (out / "detections.csv").write_text(
        (out / "detections.csv").read_text().replace(",face,", ",face,x", 1)), ["eval", "{out}", *TRUTH_ARGS], 0, "",
         proof="eval"),
    Case("csv-binary-eval", write("detections.csv", b"\x00\xff\xfe binary"), ["eval", "{out}", *TRUTH_ARGS], 0, "",
         proof="eval"),
    Case("csv-dropped-column-eval", lambda out: (out / "detections.csv").write_text(
        "\n".join(",".join(line.split(",")[:-1]) for line in (out / "detections.csv").read_text().splitlines())),
         ["eval", "{out}", *TRUTH_ARGS], 0, "", proof="eval"),
]


def make_truth(folder: Path, path: Path) -> Path:
    """A truth file for the good run: its own face boxes with the person ids as identities."""
    from facecluster.runfolder import RunFolder

    stored = RunFolder(folder).load()
    t = stored.table
    frames = [{"frame_index": i, "time_s": i / 15, "shot": 0, "objects": []}
              for i in range(int(stored.extraction.frames[:, 0].max()) + 1)]
    for r in np.flatnonzero(t.is_face):
        frames[int(t.frame_index[r])]["objects"].append(
            {"identity": f"p{int(t.person_id[r])}", "kind": "face", "box": t.boxes[r].tolist(), "tags": []})
    path.write_text(json.dumps({"format": "facecluster-truth/1", "video": {"frames": len(frames)}, "frames": frames}))
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, out, good, tmp_path):
    folder = out
    if case.damage is not None:
        given = case.damage(out)
        folder = given if isinstance(given, Path) else out
    truth = make_truth(good, tmp_path / "truth.json") if case.proof == "eval" else None
    args = [str(a).format(out=folder, video=VIDEO, truth=truth, tmp=tmp_path) if isinstance(a, str) else a
            for a in case.args]
    watch = folder if folder.is_dir() else out  # a missing folder or a file given as OUTDIR: watch OUTDIR
    existed = folder.exists()
    before, near = snapshot(watch), beside(folder)
    ran = cli(*args, memory=case.memory)
    assert ran.code == case.code, (ran.code, ran.err[-3000:])
    if case.code:
        line = ran.error_line()
        assert case.message in line, line
    if case.proof == "unchanged":
        assert snapshot(watch) == before and folder.exists() == existed
        assert beside(folder) ^ near <= {f".{folder.name}.facecluster.lock"}  # at most the lock beside is new
        if watch == out:  # (edits.json is in the snapshot)
            user_files_kept(out)
            assert (out / "edits.json").is_file()
            assert not list((out / ".facecluster").glob("*.tmp"))
            assert (out / ".facecluster" / "journal.json").exists() == case.id.startswith("journal")
    elif case.proof == "rebuilt":  # the same result as the good run, from its stored extraction
        manifest = consistent(out)
        kept(out)
        no_commit_garbage(out)
        assert manifest["run_id"] == run_id_of(good)
        assert (out / "detections.csv").read_bytes() == (good / "detections.csv").read_bytes()
        assert names(out) == names(good)
    elif case.proof == "eval":  # eval reads the database, not the exported CSV
        scores = json.loads((tmp_path / "eval.json").read_text())
        assert scores["faces"]["clustering"]["bcubed"]["f"] == 1.0
        assert scores["faces"]["detection"]["recall"] == 1.0 and scores["faces"]["detection"]["precision"] == 1.0


@pytest.mark.parametrize("text, where", [
    ("", "the header must be"),
    ("detection_id,frame_index\n0,0\n", "the header must be"),
    ("{header}\n0,0,0,0,face,1,1,2,2,0.9,0,0,0,-1\n", "14 cells, expected 15"),
    ("{header}\n0,0,zero,0,face,1,1,2,2,0.9,0,0,0,-1,-1\n", "column time_s holds something that is not"),
    ("{header}\n0,0,0,0,face,1,1,2,2,0.9,1000000000000,0,0,-1,-1\n", "track_id must be in 0..0"),
    ("{header}\n0,0,0,0,face,1,1,2,2,0.9,0,0,0,-1,99999999999999999999999\n", "is not a int64"),
    (b"\x00\xff\xfe\x80binary", "not a text CSV file"),
])
def test_damaged_csv_is_one_clear_error(text, where, tmp_path):
    """RunTable.from_csv, the reader for detections.csv: every damage is a TableError (InputError, exit 3)
    naming the file and what to do; ids are bounded by the number of rows before anything is allocated."""
    from facecluster.errors import InputError
    from facecluster.table import COLUMNS, RunTable

    path = tmp_path / "detections.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.format(header=",".join(COLUMNS)).encode())
    with pytest.raises(InputError) as caught:
        RunTable.from_csv(path)
    message = str(caught.value)
    assert where in message and str(path) in message and "\n" not in message


# (2) a second run keeps the corrections and the user's files ---------------------------------------------
def test_rerun_keeps_and_reapplies_edits_and_user_files(out, good):
    before = (out / "edits.json").read_bytes()
    ran = cli("run", VIDEO, "-o", out, "-c", FAST)
    assert ran.code == 0, ran.err
    assert f"re-applied 1 correction(s) from {out / 'edits.json'}" in ran.out
    manifest = consistent(out)
    assert manifest["run_id"] != run_id_of(good) and manifest["generation"] == 3
    assert (out / "edits.json").read_bytes() == before and "Alice" in names(out)
    user_files_kept(out)
    no_commit_garbage(out)
    assert not (out / ".facecluster" / "checkpoint").exists()


def test_rerun_keeps_old_edits_file_aside(out):
    old = b'{"format": "facecluster-edits/1", "edits": [{"op": "label", "track": 3, "name": "Bob"}]}'
    (out / "edits.json").write_bytes(old)
    ran = cli("-q", "run", VIDEO, "-o", out, "-c", FAST)
    assert ran.code == 0, ran.err
    assert "edits.v1.json" in ran.err and (out / "edits.v1.json").read_bytes() == old
    assert edits(out) == [] and "Alice" not in names(out)
    consistent(out)
    user_files_kept(out)


# (3) edits racing a run never mix two runs ------------------------------------------------------------------
def test_labels_racing_a_run_never_mix_runs(out, good):
    run = start("-q", "run", VIDEO, "-o", out, "-c", FAST)
    labelled = []
    while run.poll() is None or not labelled:
        name = f"Racer {len(labelled)}"
        ran = cli("label", out, 0, name)
        assert ran.code == 0, ran.err
        labelled.append(name)
    _, err = run.communicate()
    assert run.returncode == 0, err
    manifest = consistent(out)
    assert manifest["run_id"] != run_id_of(good)
    assert [e["name"] for e in edits(out) if e["op"] == "label"] == ["Alice"] + labelled
    assert labelled[-1] in names(out)  # the latest name, whether it landed before or after the run's commit
    user_files_kept(out)
    no_commit_garbage(out)


def test_a_second_run_into_the_same_folder_fails_cleanly(out):
    """A run in progress holds .facecluster/run.lock (here: this test holds it)."""
    before = snapshot(out)
    fd = os.open(out / ".facecluster" / "run.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        ran = cli("-q", "run", VIDEO, "-o", out, "-c", FAST)
    finally:
        os.close(fd)
    assert ran.code == 5 and "another `facecluster run` is writing" in ran.error_line()
    assert snapshot(out) == before
    kept(out)


def test_a_killed_run_leaves_no_lock_behind(out, good):
    """SIGKILL (here: os._exit) in the middle of extraction; its locks die with it, later commands go on,
    and the next run cleans the checkpoint it left."""
    before = snapshot(out)
    ran = cli("-q", "run", VIDEO, "-o", out, "-c", FAST,
              wrap=["facecluster.extract.stages:Extractor._record", "CRASH", 1])
    assert ran.code == 99
    assert snapshot(out) == before and (out / ".facecluster" / "checkpoint").is_dir()
    ran = cli("label", out, 1, "Bob")
    assert ran.code == 0, ran.err
    ran = cli("-q", "run", VIDEO, "-o", out, "-c", FAST)
    assert ran.code == 0, ran.err
    consistent(out)
    assert {"Alice", "Bob"} <= set(names(out))
    assert not (out / ".facecluster" / "checkpoint").exists()
    no_commit_garbage(out)
    assert beside(out) == {"out", ".out.facecluster.lock"}


# (4) (10) signals and crashes at chosen moments --------------------------------------------------------------
RECLUSTER_MOMENTS = [
    ("facecluster.results.recluster:regroup", "SIGINT", 1),  # grouping
    ("facecluster.report:render_report", "SIGTERM", 1),  # rendering the report
    ("facecluster.runfolder.commit:_write", "SIGHUP", 3),  # staging the files
    ("facecluster.runfolder.commit:apply", "SIGTERM", 2),  # journal written, nothing moved yet
    ("os:replace", "SIGINT", 3),  # between the moves
    ("os:replace", "SIGTERM", 6),
]
RUN_MOMENTS = [
    ("facecluster.extract.stages:Extractor._record", "SIGINT", 1),  # extracting
    ("facecluster.pipeline:regroup", "SIGHUP", 1),  # grouping
    ("facecluster.runfolder.commit:_write", "SIGTERM", 2),  # staging
    ("facecluster.runfolder.commit:apply", "SIGINT", 2),  # journal written
    ("os:replace", "SIGHUP", 3),  # between the moves
]


def interrupted(ran: Ran) -> None:
    lines = [s.strip() for s in ran.err.replace("\r", "\n").splitlines() if s.strip()]
    assert ran.code == 130 and "Traceback" not in ran.err, ran.err
    assert [s for s in lines if s.startswith("facecluster:")] == [lines[-1]] and "interrupted" in lines[-1], ran.err


def _old_or_new(out: Path, good: Path, new_run: bool) -> dict:
    """Right after an interrupted command: either the old or the new result set, complete."""
    manifest = consistent(out)
    if manifest["generation"] == 2:
        assert manifest["run_id"] == run_id_of(good)
    else:
        assert manifest["generation"] == 3 and (manifest["run_id"] != run_id_of(good)) == new_run
    return manifest


def _next_command_cleans(out: Path) -> None:
    """The next command that writes finishes an interrupted commit and removes the staging of one
    interrupted before its journal (a reader finishing it: test_crash_inside_a_commit...[reader])."""
    ran = cli("label", out, 1, "Bob")
    assert ran.code == 0, ran.err
    consistent(out)
    no_commit_garbage(out)
    kept(out)
    assert "Bob" in names(out)
    assert beside(out) == {"out", ".out.facecluster.lock"}


@pytest.mark.parametrize("target, signame, nth", RECLUSTER_MOMENTS, ids=[f"{t.split(':')[1]}-{s}-{n}"
                                                                       for t, s, n in RECLUSTER_MOMENTS])
def test_signal_during_recluster(target, signame, nth, out, good):
    interrupted(cli("recluster", out, "--cluster-distance", 0.3, wrap=[target, signame, nth]))
    _old_or_new(out, good, new_run=False)
    _next_command_cleans(out)


@pytest.mark.parametrize("target, signame, nth", RUN_MOMENTS, ids=[f"{t.split(':')[1]}-{s}-{n}"
                                                                 for t, s, n in RUN_MOMENTS])
def test_signal_during_run(target, signame, nth, out, good):
    interrupted(cli("-q", "run", VIDEO, "-o", out, "-c", FAST, wrap=[target, signame, nth]))
    assert beside(out) <= {"out", ".out.facecluster.lock"}  # no staging folder beside OUTDIR
    _old_or_new(out, good, new_run=True)
    _next_command_cleans(out)


def _when(proc: subprocess.Popen, ready: Callable[[], bool]) -> None:
    """Wait until the command is past Python's start-up (signals before that are Python's, not ours)."""
    deadline = time.monotonic() + 120
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def test_signals_from_outside_at_any_moment(out, good):
    """Real signals, sent a while after the command took the folder: whatever the moment, one complete
    result set."""
    lock = out.parent / ".out.facecluster.lock"
    for k, (signum, delay) in enumerate([(signal.SIGINT, 0.0), (signal.SIGTERM, 0.3), (signal.SIGHUP, 0.8)]):
        lock.unlink(missing_ok=True)
        proc = start("recluster", out, "--cluster-distance", 0.3 + 0.1 * k)
        _when(proc, lock.exists)
        time.sleep(delay)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
        # -signum: the command had finished and Python, exiting, had put the default handlers back
        assert proc.returncode in (0, 130, -signum) and "Traceback" not in err, err
        consistent(out)
    proc = start("-q", "run", VIDEO, "-o", out, "-c", FAST)
    _when(proc, (out / ".facecluster" / "checkpoint").exists)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130) and "Traceback" not in err, err
    consistent(out)
    _next_command_cleans(out)


@pytest.mark.parametrize("nth, then", [(2, ["similar", 0]), (4, ["label", 1, "Bob"])], ids=["reader", "writer"])
def test_crash_inside_a_commit_is_completed_by_the_next_command(nth, then, out, good):
    """A crash (no signal handler runs) after the journal was written, before (nth=2: the first move) or
    between the moves: the folder is rolled forward by the next command, reader or writer."""
    ran = cli("recluster", out, "--cluster-distance", 0.3, wrap=["os:replace", "CRASH", nth])
    assert ran.code == 99
    assert (out / ".facecluster" / "journal.json").is_file()
    ran = cli(then[0], out, *then[1:])
    assert ran.code == 0, ran.err
    manifest = consistent(out)
    assert manifest["generation"] == 3 + (then[0] == "label") and manifest["config"]["cluster_distance"] == 0.3
    no_commit_garbage(out)
    kept(out)


def test_legacy_staging_folders_beside_are_cleaned(out):
    """facecluster 0.1 left .OUT.tmp-* and .OUT.old-* folders beside OUTDIR when killed."""
    for name in (".out.tmp-4242", ".out.old-4242"):
        (out.parent / name / "thumbs").mkdir(parents=True)
    (out.parent / ".out.tmp-note.txt").write_text("a file of the user's, not a staging folder")
    ran = cli("-q", "run", VIDEO, "-o", out, "-c", FAST)
    assert ran.code == 0, ran.err
    assert beside(out) == {"out", ".out.facecluster.lock", ".out.tmp-note.txt"}
    consistent(out)


# disk full, read-only folders, another filesystem -------------------------------------------------------------
@pytest.fixture
def tmpfs(tmp_path):
    """mount(size) -> a small tmpfs (root only), unmounted afterwards."""
    mounted = []

    def mount(size: str, name: str = "disk") -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                              capture_output=True) if os.geteuid() == 0 else None
        if done is None or done.returncode:
            pytest.skip("needs root to mount a tmpfs")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill(disk: Path, leave_kb: int) -> None:
    """Fill the tmpfs until about leave_kb KiB are free."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize - leave_kb * 1024
    with open(disk / "filler", "wb") as fh:
        block = b"\0" * (1 << 16)
        while free > 0:
            n = fh.write(block[: min(len(block), free)])
            free -= n


@pytest.mark.parametrize("command, leave_kb", [
    (["label", "{out}", 0, "Zoe"], 8), (["recluster", "{out}", "--cluster-distance", 0.3], 8),
    (["-q", "run", VIDEO, "-o", "{out}", "-c", FAST], 30), (["-q", "run", VIDEO, "-o", "{out}", "-c", FAST], 120),
    (["-q", "run", VIDEO, "-o", "{out}", "-c", FAST], 200)],
    ids=["label", "recluster", "run-30k", "run-120k", "run-200k"])
def test_disk_full(command, leave_kb, good, tmpfs):
    disk = tmpfs("3m")
    out = Path(shutil.copytree(good, disk / "out", symlinks=True))
    fill(disk, leave_kb)
    before = snapshot(out)
    ran = cli(*[c.format(out=out) if isinstance(c, str) else c for c in command])
    assert ran.code == 5, ran.err
    line = ran.error_line()
    assert "cannot write" in line and ("No space left" in line or "disk is full" in line), line
    assert snapshot(out) == before
    no_commit_garbage(out)
    assert not list((out / ".facecluster").glob("*.tmp"))
    kept(out)
    (disk / "filler").unlink()
    ran = cli("label", out, 0, "Zoe")  # with space again, everything works
    assert ran.code == 0, ran.err
    consistent(out)


def test_disk_full_in_process(out, monkeypatch):
    """Without root (no tmpfs): every write of a commit fails with ENOSPC."""
    from facecluster.errors import OutputError
    from facecluster.results import label
    from facecluster.runfolder import commit

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(commit, "_write", full)
    before = snapshot(out)
    with pytest.raises(OutputError, match="No space left on device.*nothing was changed"):
        label(out, 0, "Zoe")
    assert snapshot(out) == before
    no_commit_garbage(out)
    kept(out)


@contextlib.contextmanager
def read_only(folder: Path):
    """folder (bind-mounted) read-only; root only."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a read-only bind mount (root ignores file permissions)")
    if subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.mark.parametrize("command, code, message", [
    (["report", "{out}"], 5, "Read-only file system"),
    (["label", "{out}", 0, "X"], 5, "Read-only file system"),
    (["-q", "run", VIDEO, "-o", "{out}", "-c", FAST], 5, "cannot write the output folder"),
    (["similar", "{out}", 0], 0, ""),
    (["eval", "{out}", "--truth", "{truth}"], 5, "give a writable --json path"),
], ids=["report", "label", "run", "similar-reads", "eval-writes-beside"])
def test_read_only_outdir(command, code, message, out, good, tmp_path):
    truth = make_truth(good, tmp_path / "truth.json")
    before = snapshot(out)
    with read_only(out):
        ran = cli(*[c.format(out=out, truth=truth) if isinstance(c, str) else c for c in command])
    assert ran.code == code, ran.err
    if code:
        assert message in ran.error_line()
    assert snapshot(out) == before
    kept(out)


def test_read_only_filesystem_around_outdir(good, tmpfs):
    """The parent is read-only too, so the lock beside OUTDIR cannot be made: writers say so, readers
    read without it."""
    disk = tmpfs("4m")
    out = Path(shutil.copytree(good, disk / "out", symlinks=True))
    before = snapshot(out)
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    ran = cli("report", out)
    assert ran.code == 5 and "needs to write beside the output folder" in ran.error_line()
    ran = cli("similar", out, 0)
    assert ran.code == 0, ran.err
    assert snapshot(out) == before


def test_outdir_symlinked_to_another_filesystem(good, tmpfs, tmp_path):
    disk = tmpfs("8m")
    (disk / "real").mkdir()
    link = tmp_path / "link"
    link.symlink_to(disk / "real")
    ran = cli("-q", "run", VIDEO, "-o", link, "-c", FAST)
    assert ran.code == 0, ran.err
    ran = cli("label", link, 0, "Ann")
    assert ran.code == 0, ran.err
    consistent(disk / "real")
    assert "Ann" in names(link) and link.is_symlink()
    assert {p.name for p in disk.iterdir()} == {"real", ".real.facecluster.lock"}  # the lock beside the real folder
    assert {p.name for p in tmp_path.iterdir()} == {"disk", "link"}
    no_commit_garbage(disk / "real")


# (13) modes, spreadsheet formulas, the report's policy --------------------------------------------------------
def test_outputs_follow_the_umask(tmp_path, good):
    """Files 0666 and folders 0777 less the user's umask (027 here: neither the old fixed 0600/0700 nor
    the usual 022), for a run and for a commit."""
    out = tmp_path / "out"
    ran = cli("-q", "run", VIDEO, "-o", out, "-c", FAST, umask=0o027)
    assert ran.code == 0, ran.err
    for p in [out, *out.rglob("*"), tmp_path / ".out.facecluster.lock"]:
        mode = p.stat().st_mode & 0o777
        assert mode == (0o750 if p.is_dir() else 0o640), (p, oct(mode))
    for umask in (0o022, 0o077):
        copy = Path(shutil.copytree(good, tmp_path / f"copy{umask:o}"))
        ran = cli("label", copy, 0, "Ann", umask=umask)
        assert ran.code == 0, ran.err
        for name in ("people.json", "people.csv", "report.html", "manifest.json", "edits.json"):
            assert (copy / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_names_that_start_like_formulas_are_neutralised_in_people_csv(out):
    import csv

    from facecluster.runfolder.documents import people_csv

    ran = cli("label", out, 0, "--", "=HYPERLINK(\"http://x\")")
    assert ran.code == 0, ran.err
    rows = list(csv.DictReader((out / "people.csv").read_text(encoding="utf-8").splitlines()))
    assert rows[0]["name"] == "'=HYPERLINK(\"http://x\")"
    assert "=HYPERLINK" in names(out)[0] and not names(out)[0].startswith("'")  # only the CSV cell is escaped
    people = [{"id": i, "name": n} for i, n in enumerate(["+1+2", "-3", "@SUM(A1)", "=1", "Ann", "a=b", "\tx"])]
    cells = [r["name"] for r in csv.DictReader(people_csv(people).decode().splitlines())]
    assert cells == ["'+1+2", "'-3", "'@SUM(A1)", "'=1", "Ann", "a=b", "'\tx"]


def test_report_forbids_remote_loads(good):
    """The policy as a browser reads it: the attribute value with its character references decoded."""
    from html.parser import HTMLParser

    html = (good / "report.html").read_text(encoding="utf-8")
    head = html[: html.find("</head>")]
    found = []

    class Meta(HTMLParser):
        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "content-security-policy":
                found.append(attrs.get("content") or "")

    Meta().feed(head)
    assert len(found) == 1
    policy = found[0]
    assert "default-src 'none'" in policy or "default-src 'self'" in policy
    assert "script-src" not in policy  # the report runs no script
    assert "http:" not in policy and "https:" not in policy and "*" not in policy


def test_signal_during_an_extension_import_is_an_interruption(out, good, monkeypatch):
    """A signal that lands while a C extension initialises (hdbscan -> scipy.spatial, seen in CI) reaches
    Python as that import's ImportError, caused by the KeyboardInterrupt: still exit 130, one line, and the
    folder untouched."""
    from click.testing import CliRunner

    import facecluster.results
    from facecluster.cli import main

    def interrupted_import(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    before = snapshot(out)
    monkeypatch.setattr(facecluster.results, "recluster", interrupted_import)  # what `recluster` imports
    result = CliRunner().invoke(main, ["recluster", str(out)])
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "Traceback" not in result.output
    assert snapshot(out) == before
