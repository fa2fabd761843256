#!/usr/bin/env python3
"""Pipeline throughput benchmark: video-seconds processed per wall-second, per stage, and peak RSS,
for the builtin and fast configs on a 720p clip of >= 2 minutes.

    FACECLUSTER_MODELS=../shared/models python scripts/bench_pipeline.py --out bench_results/pipeline

Without --video it synthesizes a 720p/25 fps episode from ../shared/media/faces (seeded) first.
Each config runs in its own process so peak RSS is that run's own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"builtin": (ROOT / "configs" / "default.toml", {}),
           "fast": (ROOT / "configs" / "fast.toml", {}),
           # the fast profile's face part alone (YuNet + MobileFaceNet), as issue 2 defined it
           "fast-faces": (ROOT / "configs" / "fast.toml", {"body_detector": "", "clothing_embedder": ""})}


def child(video: str, name: str, outdir: str) -> None:
    import facecluster

    path, overrides = CONFIGS[name]
    result = facecluster.run(video, facecluster.build_config(path, overrides), output_dir=outdir)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"manifest": result.manifest, "peak_rss_mb": round(peak_mb, 1)}))


def make_episode(folder: Path, seconds: float) -> Path:
    from facecluster.evaluate.synth import synthesize_episode

    video, truth = folder / "bench_episode.mp4", folder / "bench_episode.json"
    if not video.exists():
        synthesize_episode(ROOT.parent / "shared" / "media" / "faces" / "faceapi_bbt", video, truth,
                           seconds=seconds, seed=7, width=1280, height=720, fps=25)
    return video


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", help="720p clip to use (default: synthesize one)")
    ap.add_argument("--seconds", type=float, default=150.0, help="length of the synthesized clip")
    ap.add_argument("--configs", default="builtin,fast-faces,fast")
    ap.add_argument("--out", default="bench_results/pipeline", help="folder for results (JSON + outputs)")
    ap.add_argument("--child", nargs=3, metavar=("VIDEO", "CONFIG_NAME", "OUTDIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    video = Path(args.video) if args.video else make_episode(out, args.seconds)
    rows = {}
    for name in args.configs.split(","):
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            proc = subprocess.run([sys.executable, __file__, "--child", str(video), name,
                                   str(Path(tmp) / "out")], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.exit(f"{name} failed:\n{proc.stderr}")
        rows[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    print_table(rows)


def print_table(rows: dict) -> None:
    stages = ["decode", "detect", "embed", "person_detect", "clothing", "cluster", "total"]
    print(f"{'config':<11}" + "".join(f"{s:>14}" for s in stages) + f"{'peak RSS MB':>13}{'people':>8}{'faces':>7}")
    for name, row in rows.items():
        m = row["manifest"]
        seconds = m["input"]["duration_s"]
        speeds = [seconds / m["timings_s"][s] if m["timings_s"].get(s) else float("inf") for s in stages]
        print(f"{name:<11}" + "".join(f"{v:>13.1f}x" if v != float("inf") else f"{'-':>14}" for v in speeds)
              + f"{row['peak_rss_mb']:>13.0f}{m['counts']['people']:>8}{m['counts']['face_detections']:>7}")
    print("(video-seconds processed per wall-second of each stage; decoding runs in its own thread, overlapped "
          "with detection and embedding, so 'total' is more than the slowest stage alone; it includes model loading)")


if __name__ == "__main__":
    main()
