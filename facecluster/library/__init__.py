"""The people library: names learnt in one run, recognised in the next.

    from facecluster.library import Library
    with Library.open("people.fclib", create=True) as lib:
        lib.add_run("ep01.facecluster")                 # people named there -> face prototypes
    facecluster.run("ep02.mp4", config, "ep02.facecluster", library=Library.open("people.fclib", readonly=True))

Modules: store (the SQLite file, add/remove/merge), index (flat vector search, faiss or numpy),
prototypes (what is kept of a person), embedder (which model made the vectors; mixing is refused),
recognise (naming a run's people, sure/unsure bands), archive (archive-wide identities of unnamed people).
"""

from .recognise import Bands, annotate, bands, join_recognised, name_people, recognise
from .store import Library

__all__ = ["Bands", "Library", "annotate", "bands", "join_recognised", "name_people", "open_library", "recognise"]


def open_library(path, readonly: bool = True) -> Library:
    """The library at `path` for recognition (read-only: several batch workers read it at once)."""
    return path if isinstance(path, Library) else Library.open(path, readonly=readonly)
