"""`facecluster batch`: many episodes, one Ray task each, into ARCHIVE_DIR/<episode>/.

    summary = run_batch(["season1/"], "archive", config, workers=2)     # local Ray with 2 cores
    summary = run_batch(videos, "archive", config, address="auto")      # join a running Ray cluster

Each OUTDIR is written by pipeline.run (checkpointed, committed atomically); episodes already done with
the same video content and settings are skipped, failed and interrupted ones are run again (an interrupted
one continues from its checkpoint); a bad file fails alone with its reason in batch-summary.csv/.json.
Modules: episodes (inputs, OUTDIRs, done or not), worker (one episode), summary (the summary files),
ray_runner (Ray: start or join, tasks, progress).
"""

from .episodes import Episode, expand_inputs, plan
from .ray_runner import run_batch
from .summary import SUMMARY_CSV, SUMMARY_JSON

__all__ = ["Episode", "SUMMARY_CSV", "SUMMARY_JSON", "expand_inputs", "plan", "run_batch"]
