#!/usr/bin/env python3
"""Throughput against the decode limit (issue 11): for the same file, in one run of this script,
decode-only speed, each profile's speed, their ratio, per-stage times and peak RSS.

    FACECLUSTER_MODELS=../shared/models python scripts/bench_pipeline.py --out bench_results/pipeline
    FACECLUSTER_MODELS=../shared/models python scripts/bench_pipeline.py --out bench_results/hour --hour
    FACECLUSTER_MODELS=../shared/models python scripts/bench_pipeline.py --out bench_results/uhd --uhd \
        --profiles fast-fullres,fast

Without --video it synthesizes a 2-minute 720p/25 fps H.264 episode (seeded). --hour builds a 1-hour
episode by re-muxing a 90 s synthetic episode 40 times (packets copied, timestamps shifted; the truth JSON
shifted the same way) and reports wall time, peak RSS, people found and BCubed F against that truth.
Each measurement runs in its own process, so peak RSS is that run's own; decode-only runs right before
each profile so a noisy machine hits both alike. A profile name may end in @RUNTIME[:PRECISION]
(fast@onnxruntime, fast@openvino:bf16) to run it on that runtime instead of the default ("auto": OpenVINO
when installed, in f32).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("FACECLUSTER_MODELS", str(ROOT.parent / "shared" / "models"))
PROFILES = {"builtin": ("builtin", {}),
            "fast-faces": ("fast", {"body_detector": "", "clothing_embedder": ""}),
            "fast": ("fast", {}),
            "fast-bodies": ("fast-bodies", {}),
            "fast-fullres": ("fast", {"detect_max_side": 0})}  # detection at full resolution (before: 4K)


def child(video: str, name: str, outdir: str) -> None:
    import facecluster
    from facecluster import profiles

    if name == "decode":
        from facecluster.video import decode_only

        t = time.perf_counter()
        info = decode_only(video)
        info["wall_s"] = time.perf_counter() - t
        result = {"decode": info}
    else:
        base, _, runtime = name.partition("@")  # fast@onnxruntime, fast@openvino:bf16: on that runtime
        runtime, _, precision = runtime.partition(":")
        profile, overrides = PROFILES[base] if base in PROFILES else (base, {})
        overrides = {**overrides, **({"runtime": runtime} if runtime else {}),
                     **({"precision": precision} if precision else {})}
        config = facecluster.build_config(profiles.path(profile), overrides)
        t = time.perf_counter()
        run = facecluster.run(video, config, output_dir=outdir)
        result = {"manifest": run.manifest, "wall_s": time.perf_counter() - t}
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    # helper processes (builtin's dlib helpers): the largest one's peak, once they have ended
    result["helper_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    print(json.dumps(result))


def measure(video: Path, name: str, out: Path) -> dict:
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        proc = subprocess.run([sys.executable, __file__, "--child", str(video), name, str(Path(tmp) / "out")],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        if name != "decode" and (out / "truth.json").is_file():
            from facecluster.evaluate.harness import evaluate

            row["eval"] = evaluate(Path(tmp) / "out", out / "truth.json", write=False)["faces"]
    return row


def make_episode(out: Path, seconds: float, seed: int = 7) -> Path:
    from facecluster.evaluate.synth import synthesize_episode

    video, truth = out / "episode.mp4", out / "truth.json"
    if not video.exists():
        synthesize_episode(ROOT.parent / "shared" / "media" / "faces" / "faceapi_bbt", video, truth,
                           seconds=seconds, seed=seed)
    return video


def make_hour(out: Path, repeats: int = 40) -> Path:
    """A long episode from a 90 s one: its packets copied `repeats` times with shifted timestamps."""
    import av

    (out / "base").mkdir(parents=True, exist_ok=True)
    base = make_episode(out / "base", 90.0)
    long_video, long_truth = out / "episode.mp4", out / "truth.json"
    if long_video.exists():
        return long_video
    truth = json.loads((out / "base" / "truth.json").read_text())
    with av.open(str(base)) as src:
        stream = src.streams.video[0]
        packets = [p for p in src.demux(stream) if p.dts is not None]
        span = max(p.pts + (p.duration or 0) for p in packets) - min(p.pts for p in packets)
        with av.open(str(long_video), "w") as dst:
            ostream = dst.add_stream_from_template(stream)
            for k in range(repeats):
                for p in packets:
                    p.pts += span if k else 0
                    p.dts += span if k else 0
                    p.stream = ostream
                    dst.mux(p)
    n = len(truth["frames"])
    frames = []
    for k in range(repeats):
        for f in truth["frames"]:
            frames.append({**f, "frame_index": f["frame_index"] + k * n, "time_s": f["time_s"] + k * n / truth["video"]["fps"]})
    truth["frames"] = frames
    truth["video"] = {**truth["video"], "frames": n * repeats, "seconds": truth["video"]["seconds"] * repeats,
                      "path": str(long_video)}
    long_truth.write_text(json.dumps(truth))
    return long_video


def make_uhd(out: Path, seconds: float = 60.0) -> Path:
    """3840x2160 from the first `seconds` of the 2-minute 720p episode (each frame upscaled 3x, x264
    ultrafast crf 26; truth boxes scaled the same)."""
    import av
    import cv2

    base = make_episode(out / "base", 120.0)
    video, truth_path = out / "episode.mp4", out / "truth.json"
    if video.exists():
        return video
    truth = json.loads((out / "base" / "truth.json").read_text())
    fps = truth["video"]["fps"]
    n = int(round(seconds * fps))
    with av.open(str(base)) as src, av.open(str(video), "w") as dst:
        stream = dst.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 3840, 2160, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "26"}
        for k, frame in enumerate(src.decode(video=0)):
            if k >= n:
                break
            big = cv2.resize(frame.to_ndarray(format="bgr24"), (3840, 2160), interpolation=cv2.INTER_CUBIC)
            for packet in stream.encode(av.VideoFrame.from_ndarray(big, format="bgr24")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    truth["video"] = {**truth["video"], "width": 3840, "height": 2160, "frames": n, "seconds": n / fps,
                      "path": str(video)}
    truth["frames"] = [f for f in truth["frames"] if f["frame_index"] < n]
    for f in truth["frames"]:
        for o in f["objects"]:
            o["box"] = [c * 3 for c in o["box"]]
    truth["shots"] = [sh for sh in truth["shots"] if sh["start_frame"] < n]
    truth_path.write_text(json.dumps(truth))
    return video


STAGES = ("decode", "detect", "align", "embed", "body_detect", "clothing_crop", "clothing", "thumbs", "track",
          "checkpoint", "group", "wait")


def rss(row: dict) -> str:
    helper = row.get("helper_peak_rss_mb") or 0
    return f"{row['peak_rss_mb']:.0f}" + (f" + helpers of {helper:.0f} each" if helper > 1 else "")


def table(rows: dict) -> str:
    dec = rows["decode"]["decode"]
    seconds = dec["video_seconds"]
    lines = [f"video: {seconds:.0f} s; decode only (every frame, no conversion), measured right before each "
             f"profile: " + ", ".join(f"{r['decode_x']:.1f}x" for n, r in rows.items() if n != "decode"), "",
             "| profile | x real time | decode only x | ratio to decode | wall s | peak RSS MB | people | BCubed F | det recall | "
             + " | ".join(STAGES) + " |", "|---" * (9 + len(STAGES)) + "|"]
    for name, row in rows.items():
        if name == "decode":
            continue
        m = row["manifest"]
        x = seconds / row["wall_s"]
        decode_x = row["decode_x"]
        ev = row.get("eval") or {}
        f = ev.get("clustering", {}).get("bcubed", {}).get("f")
        rec = ev.get("detection", {}).get("recall")
        t = m["timings_s"]
        lines.append(f"| {name} | {x:.1f}x | {decode_x:.1f}x | **{x / decode_x:.2f}** | {row['wall_s']:.0f} | {rss(row)} | "
                     f"{m['counts']['people']} | {'-' if f is None else f'{f:.3f}'} | "
                     f"{'-' if rec is None else f'{rec:.3f}'} | "
                     + " | ".join(f"{t[s]:.1f}" if s in t else "-" for s in STAGES) + " |")
    lines.append("(stage columns: seconds of work in each stage, summed over threads; decoding and the frame "
                 "workers overlap the main thread, so they add up to more than the wall time)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", help="clip to use (default: synthesize a 2-minute 720p episode)")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--hour", action="store_true", help="the 1-hour episode (40 x a 90 s episode)")
    ap.add_argument("--uhd", action="store_true", help="60 s of the 2-minute episode upscaled to 3840x2160 "
                                                       "(e.g. --profiles fast-fullres,fast)")
    ap.add_argument("--profiles", default="builtin,fast-faces,fast,fast-bodies")
    ap.add_argument("--out", default="bench_results/pipeline")
    ap.add_argument("--child", nargs=3, metavar=("VIDEO", "NAME", "OUTDIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    video = Path(args.video) if args.video else make_hour(out) if args.hour else make_uhd(out) if args.uhd else \
        make_episode(out, args.seconds)
    rows = {}
    for name in args.profiles.split(","):
        rows["decode"] = measure(video, "decode", out)  # right before each profile: same machine state
        rows[name] = measure(video, name, out)
        rows[name]["decode_x"] = rows["decode"]["decode"]["video_seconds"] / rows["decode"]["decode"]["wall_s"]
        print(f"{name}: {rows[name]['wall_s']:.0f} s", file=sys.stderr, flush=True)
    rows["load_avg"] = os.getloadavg()
    (out / "results.json").write_text(json.dumps(rows, indent=2, default=str))
    print(table({k: v for k, v in rows.items() if k != "load_avg"}))
    print(f"load average at the end: {rows['load_avg']}")


if __name__ == "__main__":
    main()
