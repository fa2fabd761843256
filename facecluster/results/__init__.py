"""Working with a finished OUTDIR without the video's heavy processing: re-cluster with new settings,
fix the grouping (label / merge / split, kept in edits.json as track constraints that survive
re-clustering), ask who a photo shows (find) or where a face appears again (similar), write people.csv
and an annotated video. The HTML report is facecluster.report.

Modules: outdir (read/lock/atomic writes, people.csv), edits (constraint log), state (commit),
recluster, edit_ops (label/merge/split), search (find/similar), annotate.
"""

from .annotate import annotate
from .edit_ops import SPLIT_MODES, label, merge, split
from .edits import read_edits
from .outdir import check_folder, load, write_people_csv
from .recluster import RECLUSTER_OPTIONS, recluster
from .search import find, similar

__all__ = ["annotate", "label", "merge", "split", "SPLIT_MODES", "read_edits", "check_folder", "load",
           "write_people_csv", "recluster", "RECLUSTER_OPTIONS", "find", "similar"]
