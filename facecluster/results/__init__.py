"""Working with a finished OUTDIR without the video: re-group with new settings, correct the grouping
(kept in edits.json as unit constraints that survive re-grouping and re-runs), ask who a photo shows
(find) or where a sighting appears again (similar), write an annotated video. All on runfolder.RunFolder
and the grouping package; the HTML report is facecluster.report.

Modules: state (regroup + the result set every command commits), edits (the corrections log), edit_ops
(label/merge/split/...), recluster, search (find/similar), annotate.
"""

from .annotate import annotate
from .edit_ops import SPLIT_MODES, answer, assign, label, merge, not_person, split, undo
from .recluster import RECLUSTER_OPTIONS, recluster
from .search import find, similar

__all__ = ["annotate", "answer", "assign", "label", "merge", "not_person", "split", "undo", "SPLIT_MODES",
           "recluster", "RECLUSTER_OPTIONS", "find", "similar"]
