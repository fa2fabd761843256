#!/usr/bin/env python3
"""Interlaced input (broadcast 576i/1080i, tape transfers): what combing costs and what `deinterlace` wins back.

    FACECLUSTER_MODELS=../shared/models python scripts/bench_interlace.py --out bench_results/interlace

1. A 50 frames/s synthetic episode (`facecluster synth --fps 50`) is woven into a 25 frames/s interlaced
   one, as a broadcast camera makes it: each picture holds the top field of frame 2k and the bottom field
   of frame 2k+1 (1/50 s later), encoded with x264 as interlaced, top field first; its truth is frame 2k's.
   The same episode's even frames, encoded progressive, are the reference.
2. The fast profile runs on the progressive reference and on the interlaced file with `deinterlace` off and
   auto; each run is scored against the truth (face detection recall, BCubed F, people).
Chooses nothing: COMB_LEVEL (video/deinterlace.py) was set before this benchmark existed.
"""

from __future__ import annotations

import argparse
import json
from collections import deque
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FACECLUSTER_MODELS", str(ROOT.parent / "shared" / "models"))

from facecluster import build_config, profiles, run  # noqa: E402
from facecluster.evaluate.harness import evaluate  # noqa: E402
from facecluster.evaluate.synth import synthesize_episode  # noqa: E402
from facecluster.video.deinterlace import comb_mask  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"


def weave(src: Path, truth50: dict, out_interlaced: Path, out_progressive: Path, gap: int = 1) -> tuple[dict, float]:
    """Write the interlaced and the progressive 25 frames/s files; return their truth and the mean share of
    combed pixels in the woven pictures. `gap`: the bottom field comes from frame 2k + gap (1: as a camera
    makes it; more: faster motion, as in sport or a fast pan)."""
    import av

    combed = []
    with av.open(str(out_interlaced), "w") as ilc, av.open(str(out_progressive), "w") as prg:
        streams = []
        for container, params in ((ilc, "interlaced=1:tff=1:crf=20"), (prg, "crf=20")):
            s = container.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = truth50["video"]["width"], truth50["video"]["height"], "yuv420p"
            s.options = {"x264-params": params, "preset": "veryfast"}
            streams.append((container, s))
        for k, (first, later) in enumerate(_pairs(src, gap)):
            woven = first.copy()
            woven[1::2] = later[1::2]  # the bottom field, gap/50 s later
            if k % 25 == 0:
                combed.append(comb_mask(woven).mean())
            for (container, s), picture in zip(streams, (woven, first)):
                for packet in s.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")):
                    container.mux(packet)
        for container, s in streams:
            for packet in s.encode():
                container.mux(packet)
    truth = dict(truth50)
    truth["video"] = {**truth50["video"], "fps": 25, "frames": truth50["video"]["frames"] // 2}
    truth["frames"] = [{**f, "frame_index": f["frame_index"] // 2} for f in truth50["frames"]
                       if f["frame_index"] % 2 == 0]
    truth["shots"] = [{**s, "start_frame": s["start_frame"] // 2, "end_frame": s["end_frame"] // 2}
                      for s in truth50.get("shots", [])]
    return truth, float(np.mean(combed))


def _pairs(src: Path, gap: int):
    """(frame 2k, frame 2k + gap) of the 50 frames/s episode, holding only gap + 1 pictures."""
    import av

    window: deque = deque(maxlen=gap + 1)
    with av.open(str(src)) as inp:
        for k, frame in enumerate(inp.decode(video=0)):
            window.append(frame.to_ndarray(format="bgr24"))
            if len(window) == gap + 1 and (k - gap) % 2 == 0:
                yield window[0], window[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench_results/interlace")
    ap.add_argument("--faces", default="faceapi_bbt")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--profile", default="fast")
    ap.add_argument("--field-gap", type=int, default=1, help="frames of the 50 fps episode between the two fields")
    ap.add_argument("--level", type=int, default=None, help="comb level for the repair (-1: rebuild every line of "
                                                            "the second field); default: COMB_LEVEL")
    args = ap.parse_args()
    if args.level is not None:
        import functools

        from facecluster.video import decode, deinterlace

        decode.deinterlace = functools.partial(deinterlace.deinterlace, level=args.level)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    p50, t50 = out / "p50.mp4", out / "p50.json"
    if not p50.is_file():
        synthesize_episode(MEDIA / "faces" / args.faces, p50, t50, seconds=args.seconds, seed=args.seed, fps=50)
    interlaced, progressive, truth_path = out / "interlaced.mp4", out / "progressive.mp4", out / "truth25.json"
    truth, combed = weave(p50, json.loads(t50.read_text()), interlaced, progressive, args.field_gap)
    truth_path.write_text(json.dumps(truth))
    print(f"woven pictures: {100 * combed:.2f} % of pixels combed (mean of one picture a second)")
    rows = []
    for label, video, mode in (("progressive", progressive, "auto"), ("interlaced, deinterlace off", interlaced, "off"),
                               ("interlaced, deinterlace auto", interlaced, "auto")):
        config = build_config(profiles.path(args.profile), {"deinterlace": mode})
        result = run(video, config, output_dir=out / "runs" / f"{video.stem}-{mode}")
        faces = evaluate(result.output_dir, truth_path, write=False)["faces"]
        decode = result.manifest["decode"]
        rows.append((label, faces, len(result.people), decode.get("interlaced_frames"),
                     decode.get("deinterlaced_frames"), result.manifest["speed_x_realtime"]))
    print("| input | det recall | BCubed F | people pred / true | sampled frames marked interlaced / repaired "
          "| x real time |")
    print("|---|---|---|---|---|---|")
    for label, f, people, marked, repaired, speed in rows:
        print(f"| {label} | {f['detection']['recall']:.3f} | {f['clustering']['bcubed']['f']:.3f} | {people} / "
              f"{f['people']['true']} | {marked} / {repaired} | {speed}x |")


if __name__ == "__main__":
    main()
