"""A run's checkpoint database survives a kill at any moment, including inside a checkpoint's transaction."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np

from facecluster.config import Config
from facecluster.runfolder import RunFolder, read_extraction
from facecluster.runfolder.layout import EXTRACTION
from facecluster.table import RunTable

KILLED_INSIDE_A_TRANSACTION = """
import os, signal, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size=1")  # pages spill into the database file before the commit: the journal is hot
con.execute("BEGIN")
con.executemany("INSERT INTO frames VALUES (?, ?, 0)", [(75 + i, 3.0 + i) for i in range(5000)])
con.execute("INSERT OR REPLACE INTO meta VALUES ('checkpoint', '{\\"rows\\": 99}')")
os.kill(os.getpid(), signal.SIGKILL)
"""


def _checkpoint(folder) -> tuple[RunFolder, dict]:
    n = 3
    ids = np.arange(n)
    table = RunTable(detection_id=ids, frame_index=ids * 25, time_s=ids * 1.0, shot=np.zeros(n), kind=["face"] * n,
                     x1=np.zeros(n), y1=np.zeros(n), x2=np.full(n, 20.0), y2=np.full(n, 20.0), score=np.full(n, 0.9),
                     track_id=ids, unit_id=np.full(n, -1), person_id=np.full(n, -1),
                     face_detection_id=np.full(n, -1), body_detection_id=np.full(n, -1))
    rf = RunFolder(folder)
    rf.prepare_for_run()
    meta = {"run_id": "r1", "fingerprint": "fp", "config": Config().to_dict(), "face_prior": 0.5,
            "video": {"duration_s": 3.0}, "spaces": {"face": 2}}
    writer, state = rf.open_checkpoint("fp", meta)
    assert state is None
    saved = {"rows": n, "reader": {"frame": 2}}
    writer.append(table, {"face": (ids, np.tile([[1.0, 0.0]], (n, 1)).astype(np.float32))},
                  [(int(i) * 25, float(i), 0) for i in ids], saved)
    writer.close()
    return rf, saved


def test_a_kill_inside_a_checkpoint_transaction_resumes_from_the_last_checkpoint(tmp_path):
    """The kill leaves a hot journal; a read-only look at the database failed on it ("attempt to write a
    readonly database"), the checkpoint was taken for unreadable and the next run started over."""
    rf, saved = _checkpoint(tmp_path / "out")
    db = rf.checkpoint / EXTRACTION
    killed = subprocess.run([sys.executable, "-c", KILLED_INSIDE_A_TRANSACTION, str(db)])
    assert killed.returncode == -signal.SIGKILL
    assert db.with_name(db.name + "-journal").is_file()  # the hot journal the kill left
    writer, state = RunFolder(tmp_path / "out").open_checkpoint("fp", {"run_id": "r2", "fingerprint": "fp"})
    writer.close()
    assert json.loads(json.dumps(state)) == saved  # the last committed checkpoint, not the killed one
    previous = read_extraction(db, partial=True)
    assert len(previous.table) == 3 and previous.frames[:, 0].tolist() == [0, 25, 50]
