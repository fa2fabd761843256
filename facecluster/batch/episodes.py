"""What a batch has to do: the episodes of the inputs, their OUTDIRs under ARCHIVE_DIR, and which are
already done.

An episode is done when its OUTDIR holds committed results of the same video content and the same
extraction settings and model files: the fingerprint `run` would compute now (pipeline.fingerprint of
video_identity, the extract options and the models' sha256) equals the one of the stored run, recomputed
from its manifest. Anything else (no folder, an interrupted run, other settings, a changed file) is run:
`run` resumes an interrupted episode from its checkpoint and re-applies the user's corrections.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from ..config import Config, build_config
from ..errors import FaceclusterError, InputError, OutputError

log = logging.getLogger(__name__)
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".gif", ".mpg", ".mpeg", ".ts", ".mts",
                  ".m2ts", ".wmv", ".flv", ".3gp", ".ogv", ".mxf"}


@dataclass
class Episode:
    name: str  # the OUTDIR's name under ARCHIVE_DIR
    video: Path
    outdir: Path
    status: str = "pending"  # pending | skipped | done | failed | interrupted
    reason: str = ""
    fingerprint: str = ""
    duration_s: float = 0.0
    result: dict | None = None
    manifest: dict | None = None  # the OUTDIR's committed manifest, as classify read it


def expand_inputs(inputs) -> list[Path]:
    """Files as given (a missing one fails alone, later); folders -> their video files, sorted."""
    out: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                log.warning("%s holds no video files (%s)", path, ", ".join(sorted(VIDEO_SUFFIXES)))
            out += found
        else:
            out.append(path)
    seen, unique = set(), []
    for p in out:
        key = str(p.resolve())
        if key not in seen:
            seen.add(key)
            unique.append(p)
    if not unique:
        raise InputError("no videos to process; give video files or folders holding them")
    return unique


def plan(videos: list[Path], archive: Path) -> list[Episode]:
    """One episode per video, its OUTDIR ARCHIVE_DIR/<file name without extension>; files of the same name
    in different folders get a short hash of their path appended."""
    stems: dict[str, int] = {}
    for v in videos:
        stems[v.stem] = stems.get(v.stem, 0) + 1
    out = []
    for v in videos:
        name = v.stem if stems[v.stem] == 1 else \
            f"{v.stem}-{hashlib.sha1(str(v.resolve()).encode()).hexdigest()[:8]}"
        out.append(Episode(name, v, archive / name))
    return out


def expected_models(config: Config) -> list[dict]:
    """The model files a run with `config` uses (name, path, sha256), as pipeline.run records them."""
    from ..extract import Backends

    backends = Backends.build(config)
    return backends.models(backends.frame_models())


def stored_fingerprint(manifest: dict) -> str | None:
    """The fingerprint of a committed run, from its manifest (input identity, config, models)."""
    from ..pipeline import fingerprint

    video = manifest.get("input") or {}
    if "sha256_head_tail" not in video or "bytes" not in video:
        return None
    try:
        config = build_config(base={k: v for k, v in (manifest.get("config") or {}).items()})
    except FaceclusterError:
        return None
    models = [m for m in manifest.get("models") or [] if isinstance(m, dict) and "sha256" in m]
    return fingerprint({"bytes": video["bytes"], "sha256_head_tail": video["sha256_head_tail"]}, config, models)


def read_manifest(outdir: Path) -> dict | None:
    """The committed manifest of an OUTDIR (an interrupted commit is finished first), or None."""
    from ..runfolder import RunFolder
    from ..runfolder.documents import check_manifest, read_json
    from ..runfolder.layout import MANIFEST

    rf = RunFolder(outdir)
    if rf.state() != "ours" or not (rf.path / MANIFEST).exists():
        return None
    try:
        with rf.reading():
            return check_manifest(rf.path / MANIFEST, read_json(rf.path / MANIFEST))
    except (InputError, OutputError) as exc:
        log.info("%s: %s; running it again", outdir, exc)
        return None


def classify(episode: Episode, models: list[dict], config: Config) -> None:
    """Set the episode's fingerprint and status: skipped (done before), failed (unreadable input, or its
    OUTDIR holds another video's results) or pending."""
    from ..pipeline import fingerprint, video_identity

    if not episode.video.is_file():
        episode.status, episode.reason = "failed", f"video not found: {episode.video}"
        return
    try:
        identity = video_identity(episode.video)
    except OSError as exc:
        episode.status, episode.reason = "failed", f"cannot read {episode.video} ({exc.strerror})"
        return
    episode.fingerprint = fingerprint(identity, config, models)
    manifest = episode.manifest = read_manifest(episode.outdir)
    if manifest is None:
        return
    stored = manifest.get("input") or {}
    if stored_fingerprint(manifest) == episode.fingerprint:
        episode.status, episode.reason = "skipped", "done before (same video content and settings)"
        episode.result = {"people": manifest.get("counts", {}).get("people"), "generation": manifest.get("generation")}
        return
    same_content = stored.get("sha256_head_tail") == identity["sha256_head_tail"]
    same_path = stored.get("path") == str(episode.video.resolve())
    if not same_content and not same_path:
        episode.status = "failed"
        episode.reason = (f"{episode.outdir} holds the results of another video ({stored.get('path')}); rename one "
                          f"of the videos or move that folder away (nothing was changed)")
        return
    episode.reason = "settings changed" if same_content else "video changed"
