"""`recluster`: group the stored units again with new grouping options, in seconds, without the video.

Detection, embedding, tracking and the making of units (the slow part) are stored in facecluster.sqlite;
only units -> people is redone, through the same flow `run` uses, with the user's corrections. Options
that change what was extracted (fps, detectors...) need the video and are refused with a pointer to `run`.
recluster reads nothing but the stored extraction and the edits log, so it also rebuilds every exported
file (people.json, detections.csv, people.csv, report.html, manifest.json) when one was damaged or edited.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from ..config import build_config
from ..errors import ConfigError
from ..runfolder import RunFolder
from .state import GROUP_OPTIONS, effective_config, regroup, result_set

log = logging.getLogger(__name__)
RECLUSTER_OPTIONS = GROUP_OPTIONS


def check_overrides(overrides: dict | None) -> dict:
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    build_config(overrides=overrides)  # unknown names / bad values -> ConfigError listing valid ones
    refused = sorted(set(overrides) - set(RECLUSTER_OPTIONS))
    if refused:
        raise ConfigError(f"{', '.join(refused)} change(s) what was detected or tracked, which needs the video; "
                          f"use `facecluster run` for that. recluster accepts: {', '.join(RECLUSTER_OPTIONS)}")
    return overrides


def recluster(folder, overrides: dict | None = None, library=None) -> list[dict]:
    """Re-group OUTDIR with `overrides` on top of the grouping options last used, re-apply the edits log,
    rewrite every result file; returns the new people. `library`: a people library (a path or an open
    facecluster.library.Library) to name the people it recognises, as `run --library` does (an episode
    processed before the library knew anyone is named without its video); None: the library the last
    grouping used, if its file is still there, so a new cut keeps the library's names; False: none."""
    overrides = check_overrides(overrides)
    rf = RunFolder(folder)
    started = time.perf_counter()
    with rf.writing(), contextlib.ExitStack() as opened:
        stored = rf.load(grouping=False)
        changed = rf.changed_exports(stored.manifest)
        if changed:
            log.info("rewriting %s, changed since facecluster wrote them", ", ".join(changed))
        config = effective_config(stored.extraction, stored.manifest, overrides)
        library = _library(folder, stored, library, opened)
        regrouped = regroup(stored.extraction, config, stored.edits, library=library)
        took = round(time.perf_counter() - started, 3)
        action = {"op": "recluster", "overrides": overrides, "corrections": len(stored.edits), "seconds": took,
                  **({"library": str(library.path)} if library is not None else {})}
        results = result_set(stored.extraction, config, regrouped, stored.manifest, rf.path, None, action=action)
        rf.commit(results)
    log.info("recluster %s: %d people in %.2f s", folder, len(results.people), time.perf_counter() - started)
    return results.people


def _library(folder, stored, library, opened: contextlib.ExitStack):
    """The open library to name people with, or None (see recluster's `library`). The one the last grouping
    used is only taken when it still fits this run; otherwise a warning says why its names go."""
    from ..errors import FaceclusterError
    from ..library import Library
    from ..library.embedder import of_run

    if library is False:
        return None
    if library is not None:
        return library if hasattr(library, "vectors") else opened.enter_context(Library.open(library, readonly=True))
    used = ((stored.manifest or {}).get("grouping") or {}).get("library") or {}
    if not used.get("path"):
        return None
    path = Path(used["path"])
    try:
        if not path.is_file():
            raise FileNotFoundError
        found = opened.enter_context(Library.open(path, readonly=True))
        found.check_embedder(of_run(stored.extraction.meta, str(folder)), str(folder))
    except (FileNotFoundError, FaceclusterError) as exc:
        why = "it is not there any more" if isinstance(exc, FileNotFoundError) else str(exc)
        log.warning("%s was named by the people library %s, but %s; its names are not given again (name "
                    "people with --library FILE)", folder, path, why)
        return None
    log.info("naming people from the library %s, as the last grouping did (--no-library: without it)", path)
    return found
