#!/usr/bin/env python3
"""Resume after SIGKILL (issue 10): a run killed halfway and started again finishes in at most 60% of a
fresh run's time, with the same result.

    FACECLUSTER_MODELS=../shared/models python scripts/bench_resume.py --out bench_results/resume

On a 2-minute 720p synthetic episode (or --video): a fresh `facecluster run` (time T); the same command
killed with SIGKILL at T/2 (--kill-at) and run again (time R); then R / T, and whether detections.csv and
people.csv of the resumed run are byte-identical to the fresh run's. The CPU seconds (user + system) of
each run are reported beside the wall times: on a shared machine they vary less.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("FACECLUSTER_MODELS", str(ROOT.parent / "shared" / "models"))
CLI = [sys.executable, "-m", "facecluster.cli"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(video: Path, outdir: Path, profile: str, kill_at: float | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one `facecluster run`."""
    started, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.Popen(CLI + ["-q", "run", str(video), "-o", str(outdir), "--profile", profile],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_at is not None:
        try:
            proc.wait(timeout=kill_at)
            raise SystemExit(f"the run finished before {kill_at:.1f} s; give a longer video or an earlier --kill-at")
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return time.perf_counter() - started, _children_cpu() - cpu
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"run failed: {err.decode()[-2000:]}")
    return time.perf_counter() - started, _children_cpu() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video")
    ap.add_argument("--profile", default="fast")
    ap.add_argument("--out", default="bench_results/resume")
    ap.add_argument("--kill-at", type=float, default=0.5, help="fraction of the fresh run's time")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    video = Path(args.video) if args.video else out / "episode.mp4"
    if not video.exists():
        from facecluster.evaluate.synth import synthesize_episode

        synthesize_episode(ROOT.parent / "shared" / "media" / "faces" / "faceapi_bbt", video, out / "truth.json",
                           seconds=120.0, seed=7)
    for name in ("fresh", "resumed"):
        shutil.rmtree(out / name, ignore_errors=True)
    fresh, fresh_cpu = timed_run(video, out / "fresh", args.profile)
    killed, killed_cpu = timed_run(video, out / "resumed", args.profile, kill_at=args.kill_at * fresh)
    state = sorted(p.name for p in (out / "resumed").iterdir()) if (out / "resumed").exists() else []
    resumed, resumed_cpu = timed_run(video, out / "resumed", args.profile)
    manifest = json.loads((out / "resumed" / "manifest.json").read_text())
    same = {name: filecmp.cmp(out / "fresh" / name, out / "resumed" / name, shallow=False)
            for name in ("detections.csv", "people.csv")}
    result = {"video": str(video), "profile": args.profile, "fresh_s": round(fresh, 1), "killed_after_s": round(killed, 1),
              "resumed_s": round(resumed, 1), "ratio": round(resumed / fresh, 3),
              "cpu_s": {"fresh": round(fresh_cpu, 1), "killed": round(killed_cpu, 1), "resumed": round(resumed_cpu, 1)},
              "cpu_ratio": round(resumed_cpu / fresh_cpu, 3),
              "frames_already_done": manifest.get("resumed_frames"), "identical": same,
              "folder_after_kill": state, "load_avg": os.getloadavg()}
    (out / "resume.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
