"""Ray: start a local cluster (or join one), one task per episode, progress with ETA, the summary.

Why at most `workers` tasks in flight: each task runs single-threaded (worker.py), so N tasks use N cores;
on a shared cluster the same cap keeps one batch from taking every node.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from ..config import Config
from ..errors import DependencyError, OutputError
from . import summary
from .episodes import Episode, classify, expand_inputs, expected_models, plan, read_manifest
from .worker import THREAD_VARIABLES, process_episode

log = logging.getLogger(__name__)
INSTALL = "pip install 'facecluster[ray]'  (or: pip install ray)"


def import_ray():
    try:
        import ray
    except ImportError:
        raise DependencyError(f"`facecluster batch` runs episodes on Ray, which is not installed; {INSTALL}") from None
    return ray


def default_workers() -> int:
    """One episode per core: each task runs single-threaded (worker.py)."""
    from ..extract.frame import available_cores

    return available_cores()


def _task_env() -> dict[str, str]:
    env = {name: "1" for name in THREAD_VARIABLES}
    if os.environ.get("FACECLUSTER_MODELS"):
        env["FACECLUSTER_MODELS"] = str(Path(os.environ["FACECLUSTER_MODELS"]).expanduser().resolve())
    return env


def _connect(ray, address: str | None, workers: int) -> bool:
    """Start or join Ray; True when this call started it (and must shut it down)."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # a local Ray's start-up notices are not the user's business; a cluster's warnings may be
    common = {"log_to_driver": False, "logging_level": logging.WARNING if address else logging.ERROR,
              "configure_logging": True}
    try:
        if address:
            ray.init(address=address, **common)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, object_store_memory=200 << 20, **common)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise OutputError(f"cannot start or reach {where} ({exc}); check --address (`ray status` on the head "
                          f"node shows it) or run without --address for a local Ray") from None
    return True


class _Progress:
    """Seconds of video done out of the batch's total (episodes differ in length), on stderr."""

    def __init__(self, episodes: list[Episode], enabled: bool):
        self.bar, self.done_s = None, 0.0
        if enabled and episodes:
            from tqdm import tqdm

            total = sum(max(e.duration_s, 1.0) for e in episodes)
            self.bar = tqdm(total=round(total), unit="s", desc="batch", dynamic_ncols=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} s of video "
                                       "[{elapsed}<{remaining}]{postfix}")

    def update(self, episode: Episode, counts: str) -> None:
        if self.bar is not None:
            # whole seconds of the running sum, so the bar ends exactly at its total (22.7 + 5.6 s is 28, not 29)
            self.done_s += max(episode.duration_s, 1.0)
            self.bar.update(round(self.done_s) - self.bar.n)
            self.bar.set_postfix_str(counts)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _duration(episode: Episode) -> None:
    """Probe the video (fails a bad file before any task is started)."""
    from ..errors import FaceclusterError
    from ..video import probe

    try:
        episode.duration_s = float(probe(episode.video).duration_s or 0.0)
    except FaceclusterError as exc:
        episode.status, episode.reason = "failed", str(exc)


def run_batch(inputs, archive, config: Config, address: str | None = None, workers: int = 0,
              library=None, progress: bool = True) -> dict:
    """Process every episode of `inputs` (files or folders) into ARCHIVE_DIR; returns the summary dict
    (also written to ARCHIVE_DIR/batch-summary.json and .csv)."""
    ray = import_ray()
    archive = Path(archive)
    _prepare_archive(archive)
    episodes = plan(expand_inputs(inputs), archive)
    library_path = None
    if library is not None:
        from ..library import Library
        from ..library.embedder import of_config

        library_path = str(Path(library).expanduser().resolve())
        with Library.open(library_path, readonly=True) as lib:
            lib.check_embedder(of_config(config), "this batch's config")
    models = expected_models(config)
    for e in episodes:
        classify(e, models, config)
        if e.status == "pending":
            _duration(e)
    if library_path:
        _name_done(episodes, library_path, progress)
    todo = [e for e in episodes if e.status == "pending"]
    workers = workers or default_workers()
    info = {"archive": str(archive.resolve()), "workers": workers, "address": address or "local",
            "library": library_path, "config": config.to_dict()}
    summary.write(archive, episodes, info)
    log.info("%d episode(s): %d already done, %d failed before starting, %d to run", len(episodes),
             sum(e.status == "skipped" for e in episodes), sum(e.status == "failed" for e in episodes), len(todo))
    if todo:
        _run_tasks(ray, todo, episodes, archive, config, models, library_path, address, workers, progress, info)
    return summary.write(archive, episodes, info)


def _name_done(episodes: list[Episode], library_path: str, progress: bool) -> None:
    """Episodes done before get the library's names again, without their video (`recluster --library`):
    a library that learnt people since the first batch names them in every episode. Seconds an episode;
    episodes this library named at its current revision are left as they are."""
    from ..errors import FaceclusterError
    from ..library import Library
    from ..results import recluster

    done = [e for e in episodes if e.status == "skipped"]
    if not done:
        return
    from tqdm import tqdm

    with Library.open(library_path, readonly=True) as lib:
        revision = lib.revision()
        stale = []
        for e in done:
            used = ((e.manifest or {}).get("grouping") or {}).get("library") or {}
            if used.get("revision") == revision and Path(str(used.get("path", ""))) == Path(library_path):
                e.reason = "done before (same video content and settings), named by this library as it is now"
                e.result = {**(e.result or {}), "named_by_library": used.get("named"),
                            "suggested_by_library": used.get("suggested")}
            else:
                stale.append(e)
        for e in tqdm(stale, desc="naming episodes done before", unit="episode", disable=not (progress and stale),
                      dynamic_ncols=True):
            try:
                people = recluster(e.outdir, library=lib)
            except FaceclusterError as exc:
                e.reason = f"done before; naming it from the library failed: {exc}"
                continue
            e.reason = "done before (same video content and settings); named from the library again"
            e.result = {**(e.result or {}), "people": len(people), "named": sum(bool(p.get("name")) for p in people),
                        "named_by_library": sum(p.get("name_source") == "library" for p in people),
                        "suggested_by_library": sum(bool(p.get("library_suggestion")) for p in people),
                        "generation": (read_manifest(e.outdir) or {}).get("generation")}


def _prepare_archive(archive: Path) -> None:
    from ..runfolder import RunFolder

    if RunFolder(archive).state() == "ours":
        raise OutputError(f"{archive} is the output folder of one run; give a folder for the archive (each "
                          f"episode gets a folder inside it)")
    if archive.exists() and not archive.is_dir():
        raise OutputError(f"{archive} is a file; give a folder for the archive")
    try:
        archive.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the archive folder {archive} ({exc.strerror}); choose another") from None


def _run_tasks(ray, todo, episodes, archive, config, models, library_path, address, workers, progress, info):
    started = _connect(ray, address, workers)
    remote = ray.remote(process_episode).options(num_cpus=1, max_retries=1,
                                                 runtime_env={"env_vars": _task_env()})
    expected = sorted({m["sha256"] for m in models})
    config_dict = config.to_dict()
    queue = list(todo)
    running: dict = {}
    bar = _Progress(todo, progress)
    finished = 0
    t0 = time.perf_counter()
    try:
        while queue or running:
            while queue and len(running) < workers:
                e = queue.pop(0)
                job = {"name": e.name, "video": str(e.video.resolve()), "outdir": str(e.outdir.resolve()),
                       "config": config_dict, "library": library_path, "models": expected}
                running[remote.remote(job)] = e
                e.status = "running"
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                e = running.pop(ref)
                try:
                    e.result = ray.get(ref)
                    e.status = e.result["status"]
                    e.reason = e.result.get("reason", "")
                except ray.exceptions.RayError as exc:  # the worker process died (memory, a crash)
                    e.status, e.reason = "failed", f"the worker running it died ({type(exc).__name__}: {exc})"
                finished += 1
                done = sum(x.status == "done" for x in todo)
                bar.update(e, f"{done} done, {sum(x.status == 'failed' for x in todo)} failed, "
                              f"{finished}/{len(todo)}")
                summary.write(archive, episodes, info)
    except KeyboardInterrupt:
        for ref, e in running.items():
            ray.cancel(ref, force=True)
            e.status, e.reason = "interrupted", "the batch was stopped; run it again to continue from its checkpoint"
        for e in queue:
            e.status, e.reason = "interrupted", "not started; run the batch again"
        summary.write(archive, episodes, info)
        raise
    finally:
        bar.close()
        if started:
            ray.shutdown()
    log.info("batch: %d episode(s) in %.1f s", len(todo), time.perf_counter() - t0)
