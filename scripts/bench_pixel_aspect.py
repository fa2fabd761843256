#!/usr/bin/env python3
"""Anamorphic video (PAL/NTSC 16:9 SD, HDV 1440x1080): what squeezed faces cost and what square pixels win back.

    FACECLUSTER_MODELS=../shared/models python scripts/bench_pixel_aspect.py EPISODE.mp4 TRUTH.json \
        --out bench_results/pixel_aspect [--aspect 4:3]

A progressive synthetic episode (`facecluster synth`) is squeezed to 1/ASPECT of its width and written twice:
marked with its pixel aspect (what anamorphic broadcast files carry; facecluster stretches the pictures back
to square pixels) and unmarked (the same pixels read as square: what facecluster did before, with the truth
squeezed to match). The fast profile runs on both; each is scored against its truth. Chooses nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FACECLUSTER_MODELS", str(ROOT.parent / "shared" / "models"))

from facecluster import build_config, profiles, run  # noqa: E402
from facecluster.evaluate.harness import evaluate  # noqa: E402


def squeeze(src: Path, aspect: Fraction, marked: Path, unmarked: Path) -> int:
    """Write the squeezed episode with and without its pixel aspect; return the coded width."""
    import av
    import cv2

    with av.open(str(src)) as inp, av.open(str(marked), "w") as out_m, av.open(str(unmarked), "w") as out_u:
        stream = inp.streams.video[0]
        width = round(stream.width / aspect) // 2 * 2
        encoders = []
        for container, sar in ((out_m, aspect), (out_u, None)):
            enc = container.add_stream("libx264", rate=stream.average_rate or 25)
            enc.width, enc.height, enc.pix_fmt = width, stream.height, "yuv420p"
            enc.options = {"crf": "18", "preset": "veryfast"}
            if sar is not None:
                enc.codec_context.sample_aspect_ratio = sar
            encoders.append((container, enc))
        for frame in inp.decode(stream):
            image = cv2.resize(frame.to_ndarray(format="bgr24"), (width, stream.height), interpolation=cv2.INTER_AREA)
            for container, enc in encoders:
                for packet in enc.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                    container.mux(packet)
        for container, enc in encoders:
            for packet in enc.encode():
                container.mux(packet)
    return width


def squeezed_truth(truth: dict, sx: float) -> dict:
    out = json.loads(json.dumps(truth))
    out["video"]["width"] = round(out["video"]["width"] * sx)
    for frame in out["frames"]:
        for obj in frame["objects"]:
            x1, y1, x2, y2 = obj["box"]
            obj["box"] = [x1 * sx, y1, x2 * sx, y2]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("episode")
    ap.add_argument("truth")
    ap.add_argument("--out", default="bench_results/pixel_aspect")
    ap.add_argument("--aspect", default="4:3", help="pixel aspect to squeeze by (4:3 is HDV; 64:45 is PAL 16:9)")
    ap.add_argument("--profile", default="fast")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    aspect = Fraction(*map(int, args.aspect.split(":")))
    marked, unmarked = out / "marked.mp4", out / "unmarked.mp4"
    width = squeeze(Path(args.episode), aspect, marked, unmarked)
    truth = json.loads(Path(args.truth).read_text())
    (out / "truth-square.json").write_text(json.dumps(truth))
    (out / "truth-squeezed.json").write_text(json.dumps(squeezed_truth(truth, width / truth["video"]["width"])))
    print(f"coded {width}x{truth['video']['height']}, pixel aspect {args.aspect}")
    print("| input | det recall | BCubed F | people pred / true | x real time |")
    print("|---|---|---|---|---|")
    for label, video, truth_path in (("marked (stretched to square pixels)", marked, out / "truth-square.json"),
                                     ("unmarked (squeezed faces, as before)", unmarked, out / "truth-squeezed.json")):
        result = run(video, build_config(profiles.path(args.profile)), output_dir=out / "runs" / video.stem)
        faces = evaluate(result.output_dir, truth_path, write=False)["faces"]
        print(f"| {label} | {faces['detection']['recall']:.3f} | {faces['clustering']['bcubed']['f']:.3f} | "
              f"{len(result.people)} / {faces['people']['true']} | {result.manifest['speed_x_realtime']}x |")


if __name__ == "__main__":
    main()
