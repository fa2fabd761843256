"""Decode speed and shot-cut accuracy of the ways VideoReader can decode between samples.

    .venv/bin/python scripts/bench_decode.py VIDEO [--truth TRUTH.json] [--fps 1] [--repeats 3]

Modes, each timed `--repeats` times in one process, interleaved, median reported:
  decode-only   every frame decoded, none converted (facecluster.video.decode_only: the decode limit)
  none          VideoReader decoding every frame (shot detector on every frame), samples converted
  nonref        the decoder skips non-reference frames away from sampling points (default)
  bidir         ... skips all B-frames away from sampling points
  nonkey        ... decodes keyframes only away from sampling points
Shot accuracy is measured on the sampled frames: for each pair of consecutive samples, is "a cut between
them" the same as in the truth (synthetic episodes' truth JSON) and as with every frame decoded?
The machine is shared: the load average is printed next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from facecluster.video import VideoReader, decode_only, probe

MODES = ("none", "nonref", "bidir", "nonkey")


def _read(video, fps, skip):
    reader = VideoReader(video, fps, skip=skip)
    started = time.perf_counter()
    frames = [(f.index, f.shot) for f in reader.frames()]
    return time.perf_counter() - started, frames, reader.stats


def _pairs(frames, shot_of):
    return [shot_of(a) != shot_of(b) for a, b in zip(frames, frames[1:])]


def _compare(found: list[bool], expected: list[bool]) -> dict:
    return {"cuts": sum(expected), "found": sum(f and e for f, e in zip(found, expected)),
            "missed": sum(e and not f for f, e in zip(found, expected)),
            "false": sum(f and not e for f, e in zip(found, expected))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video")
    ap.add_argument("--truth", help="synthetic episode truth JSON (frames[i].shot)")
    ap.add_argument("--fps", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    info = probe(args.video)
    truth = None
    if args.truth:
        truth = [f["shot"] for f in json.loads(open(args.truth).read())["frames"]]
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {m: [] for m in ("decode-only", *MODES)}
    results: dict[str, tuple] = {}
    video_seconds = None
    for _ in range(args.repeats):
        d = decode_only(args.video)
        times["decode-only"].append(d["seconds"])
        video_seconds = d["video_seconds"]
        results["decode-only"] = (d["frames"], None, None)
        for mode in MODES:
            seconds, frames, stats = _read(args.video, args.fps, mode)
            times[mode].append(seconds)
            results[mode] = (stats.frames_decoded, frames, stats)
    load_after = os.getloadavg()

    reference = results["none"][1]
    ref_pairs = _pairs(reference, lambda f: f[1])
    rows = []
    for mode, seconds in times.items():
        med = statistics.median(seconds)
        decoded, frames, _ = results[mode]
        row = {"mode": mode, "x_real_time": video_seconds / med, "seconds_median": med,
               "seconds": [round(s, 2) for s in seconds], "frames_decoded": decoded}
        if frames is not None:
            row["same_samples_as_none"] = [f[0] for f in frames] == [f[0] for f in reference]
            found = _pairs(frames, lambda f: f[1])
            row["vs_all_frames"] = _compare(found, ref_pairs)
            if truth is not None:
                row["vs_truth"] = _compare(found, _pairs(frames, lambda f: truth[f[0]]))
                row["shots"] = frames[-1][1] + 1
        rows.append(row)

    print(f"{args.video}: {info.width}x{info.height} {info.codec} {info.fps:.2f} fps, {video_seconds:.1f} s, "
          f"sampling {args.fps:g} fps; {args.repeats} runs per mode, interleaved, median")
    if truth is not None:
        print(f"truth: {max(truth) + 1} shots")
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f}, after {load_after[0]:.2f} "
          f"{load_after[1]:.2f} (2 cores)")
    print(f"{'mode':<12} {'x real time':>11} {'median s':>9} {'decoded':>8}  cuts between samples "
          f"(vs truth | vs every frame decoded)")
    for r in rows:
        cut = ""
        if "vs_truth" in r:
            t = r["vs_truth"]
            cut += f"truth {t['found']}/{t['cuts']} found, {t['missed']} missed, {t['false']} false | "
        if "vs_all_frames" in r:
            a = r["vs_all_frames"]
            cut += f"{a['found']}/{a['cuts']} found, {a['missed']} missed, {a['false']} false"
            cut += "" if r["same_samples_as_none"] else " (other frames sampled)"
        print(f"{r['mode']:<12} {r['x_real_time']:>11.1f} {r['seconds_median']:>9.2f} {r['frames_decoded']:>8}  {cut}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"video": args.video, "fps": args.fps, "load": [load_before, load_after], "rows": rows}, fh,
                      indent=1)


if __name__ == "__main__":
    main()
