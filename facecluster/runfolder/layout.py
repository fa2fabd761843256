"""What an OUTDIR holds: the names and formats that only the runfolder package may know.

    OUTDIR/manifest.json        facecluster's marker and the run's summary (written last in every commit)
    OUTDIR/facecluster.sqlite   what the run extracted from the video: detections, units, vectors, frames
    OUTDIR/people.json          the grouping: people, the units each one holds, names
    OUTDIR/edits.json           the user's corrections (kept across re-runs)
    OUTDIR/detections.csv|.parquet, people.csv, people.vtt, report.html, thumbs/   exports for people and
                                tools (people.vtt: who is on screen, as captions for players and editors)
    OUTDIR/.facecluster/        private: checkpoint/ of a run in progress, staging/ and journal.json of a
                                commit in progress, run.lock
    PARENT/.OUTDIR.facecluster.lock   the lock every command that writes takes (beside the folder, so
                                      nothing a command replaces can hold it)
Files the user put in OUTDIR are never touched.
"""

OUTDIR_FORMAT = "facecluster-outdir/2"
PEOPLE_FORMAT = "facecluster-people/2"
EDITS_FORMAT = "facecluster-edits/2"
EXTRACTION_FORMAT = "facecluster-extraction/2"
TOOL = "facecluster"

MANIFEST = "manifest.json"
EXTRACTION = "facecluster.sqlite"
PEOPLE = "people.json"
EDITS = "edits.json"
DETECTIONS_CSV = "detections.csv"
DETECTIONS_PARQUET = "detections.parquet"
PEOPLE_CSV = "people.csv"
PEOPLE_VTT = "people.vtt"
REPORT = "report.html"
THUMBS = "thumbs"
THUMB_FOLDERS = {"face": "faces", "body": "bodies"}  # thumbs/faces/ID.jpg, thumbs/bodies/ID.jpg
PRIVATE = ".facecluster"
CHECKPOINT = "checkpoint"
JOURNAL = "journal.json"
RUN_LOCK = "run.lock"

# files a commit may replace; everything else in OUTDIR belongs to the user
RESULT_FILES = (EXTRACTION, PEOPLE, EDITS, DETECTIONS_CSV, DETECTIONS_PARQUET, PEOPLE_CSV, PEOPLE_VTT, REPORT,
                MANIFEST)
# exports newer than some OUTDIRs: a file of that name in a folder whose manifest does not list it is the user's
LATER_EXPORTS = (PEOPLE_VTT,)
RESULT_DIRS = (THUMBS,)


def thumbnail(kind: str, detection_id: int) -> str:
    """Path of a detection's thumbnail relative to OUTDIR."""
    return f"{THUMBS}/{THUMB_FOLDERS[kind]}/{int(detection_id)}.jpg"
