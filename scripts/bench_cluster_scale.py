#!/usr/bin/env python3
"""Clustering scale benchmark: time, peak RSS and quality of track clustering for 1k-100k synthetic
128-d track embeddings, dense path (cluster.cluster_tracks) vs scalable path (cluster_scale).

    python scripts/bench_cluster_scale.py --out bench_results/cluster_scale

Why synthetic: no labelled video has 100k tracks. The mixture is calibrated to what MobileFaceNet
(the fast config) gives on real faces: same-identity cosine distance median ~0.3, different-identity
median ~0.95, with heavy-tailed per-track noise (some tracks are blurred/turned faces), Zipf-like
identity sizes, 3 % of tracks from people seen once, and cannot-link pairs from simulated co-occurring
faces. Threshold = ArcFaceEmbedder.SAME_PERSON_DISTANCE. Each (path, size) runs in its own process;
"peak RSS" is the process's peak during clustering (VmHWM reset just before), "extra MB" that peak minus
the RSS before clustering (data made, libraries loaded).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM = 128
SAME_MEDIAN, DIFF_MEDIAN = 0.30, 0.95


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def make_mixture(n: int, seed: int = 0, sigma: float = 0.6, common: float = 0.3, tail: float = 0.6):
    """(embeddings, identity, track_sizes, cannot_link pairs). sigma / common set the same / different
    medians (calibrated with --calibrate to SAME_MEDIAN / DIFF_MEDIAN)."""
    rng = np.random.default_rng(seed)
    n_extra = int(0.03 * n)
    n_ids = max(10, n // 50)
    weights = rng.pareto(1.2, n_ids) + 1.0
    ident = np.r_[rng.choice(n_ids, n - n_extra, p=weights / weights.sum()), n_ids + np.arange(n_extra)]
    rng.shuffle(ident)
    shared = _unit(rng.normal(size=DIM))
    centers = _unit(common * shared + _unit(rng.normal(size=(n_ids + n_extra, DIM))))
    spread = sigma * rng.lognormal(0.0, tail, n) / np.sqrt(DIM)  # heavy tail: some poor tracks
    emb = _unit(centers[ident] + spread[:, None] * rng.normal(size=(n, DIM))).astype(np.float32)
    sizes = rng.geometric(0.25, n)
    # co-occurrence: half the tracks appear in "frames" of 2-4 faces of different people
    order = rng.permutation(n)[: n // 2]
    pairs = []
    start = 0
    while start < len(order):
        k = int(rng.integers(2, 5))
        members = order[start:start + k]
        start += k
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                if ident[members[a]] != ident[members[b]]:
                    pairs.append((members[a], members[b]))
    return emb, ident, sizes, np.array(pairs, np.int64).reshape(-1, 2)


def distance_medians(emb, ident, pairs: int = 200_000, seed: int = 1):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(emb), (2, pairs))
    d = 1.0 - (emb[a] * emb[b]).sum(1)
    same = (ident[a] == ident[b]) & (a != b)
    # pairs of one identity are rare at random: add pairs drawn inside identities
    order = np.argsort(ident, kind="stable")
    x, y = order[:-1], order[1:]
    inside = ident[x] == ident[y]
    ds = 1.0 - (emb[x[inside]] * emb[y[inside]]).sum(1)
    q = lambda v: [round(float(p), 3) for p in np.percentile(v, [5, 50, 95])]  # noqa: E731
    return {"same_p5_p50_p95": q(ds), "different_p5_p50_p95": q(d[~same])}


def _rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith(field))


def _reset_peak() -> None:
    """Reset the peak-RSS counter (VmHWM), so imports and data making do not count as clustering."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def make_units(emb, ident, sizes, pairs, seed: int = 0, faceless: float = 0.05, shared_outfits: float = 0.1):
    """facecluster Units from the mixture, with clothing: each identity wears its own outfit (a 32-d unit
    vector; `shared_outfits` of them wear another identity's, the suits-and-uniforms case), seen with
    noise; `faceless` of the units are bodies without a face (clothing only)."""
    from facecluster.grouping import Units

    rng = np.random.default_rng(seed + 1)
    n = len(emb)
    n_ids = int(ident.max()) + 1
    outfits = _unit(rng.normal(size=(n_ids, 32)))
    copy = rng.random(n_ids) < shared_outfits
    outfits[copy] = outfits[rng.integers(0, n_ids, copy.sum())]
    clothing = _unit(outfits[ident] + 0.33 * rng.normal(size=(n, 32)) / np.sqrt(32))  # same outfit: ~0.1 apart
    no_face = rng.random(n) < faceless
    face_count = np.where(no_face, 0.0, 1.0)
    first = rng.uniform(0, 3600, n)
    return Units(n, emb.astype(np.float64) * face_count[:, None], face_count, clothing, np.ones(n),
                 sizes.astype(np.float64), first, first + sizes, np.sort(pairs, axis=1), np.full(n, 100.0))


def child(path: str, n: int, seed: int) -> dict:
    from facecluster.embed.sface import SFaceEmbedder
    from facecluster.embed.clothing import HsvHistogramEmbedder
    from facecluster.evaluate.metrics import bcubed
    from facecluster.grouping import Fusion, GroupingOptions, group
    from sklearn.metrics import adjusted_rand_score

    emb, ident, sizes, pairs = make_mixture(n, seed)
    units = make_units(emb, ident, sizes, pairs, seed)
    fusion = Fusion(SFaceEmbedder.SAME_PERSON_DISTANCE, HsvHistogramEmbedder.SAME_PERSON_DISTANCE, 0.5, 1.25)
    options = GroupingOptions(fusion, backend=path)
    for dtype in (np.float32, np.float64):  # OpenBLAS allocates its buffers at the first product
        np.ones((512, 512), dtype) @ np.ones((512, 512), dtype)
    _reset_peak()
    before = _rss_mb()
    t = time.perf_counter()
    grouping = group(units, options)
    wall = time.perf_counter() - t
    labels = grouping.unit_person
    peak = _rss_mb("VmHWM")
    scored = np.where(labels >= 0, labels, -1 - np.arange(n))  # noise = singletons for ARI too
    la, lb = labels[pairs[:, 0]], labels[pairs[:, 1]]
    violated = int(((la == lb) & (la >= 0)).sum())
    faceless = units.face_count == 0
    joined = labels[faceless] >= 0
    right = np.array([(labels == labels[u]).any() and np.bincount(ident[(labels == labels[u]) & ~faceless],
                      minlength=ident.max() + 1).argmax() == ident[u] if labels[u] >= 0 and
                      ((labels == labels[u]) & ~faceless).any() else False for u in np.flatnonzero(faceless)])
    return {"path": path, "units": n, "seconds": round(wall, 2), "peak_rss_mb": round(peak),
            "extra_mb": round(peak - before), "ari": round(adjusted_rand_score(ident, scored), 4),
            "bcubed_f": round(bcubed(ident.tolist(), labels.tolist())["f"], 4),
            "people_predicted": int(len(set(labels[labels >= 0].tolist()))),
            "people_true": int(len(np.unique(ident))), "noise_units": int((labels < 0).sum()),
            "faceless": int(faceless.sum()), "faceless_joined": int(joined.sum()),
            "faceless_joined_right": int(right.sum()),
            "cannot_link_pairs": int(len(pairs)), "cannot_link_violated": violated}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,5000,10000,20000,100000")
    ap.add_argument("--dense-max", type=int, default=10000, help="largest size the dense path is run at "
                    "(it needs ~4 x 8 U^2 bytes: 13 GB at 20k on a 23 GB machine shared with others)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per run")
    ap.add_argument("--out", default="bench_results/cluster_scale")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), int(args.child[2]))))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    emb, ident, _, _ = make_mixture(20_000, args.seed)
    calibration = distance_medians(emb, ident)
    print(f"synthetic distances at 20000 tracks (target medians same {SAME_MEDIAN}, different "
          f"{DIFF_MEDIAN}): {calibration}", flush=True)
    rows = []
    for n in sizes:
        for path in ("dense", "scalable"):
            if path == "dense" and n > args.dense_max:
                rows.append({"path": path, "units": n, "skipped": f"> --dense-max {args.dense_max} "
                             f"(~{4 * 8 * n * n / 2**30:.0f} GB of T x T matrices)"})
                continue
            try:
                proc = subprocess.run([sys.executable, __file__, "--child", path, str(n), str(args.seed)],
                                      capture_output=True, text=True, timeout=args.timeout, check=False)
                row = (json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else
                       {"path": path, "units": n, "skipped": f"failed: {proc.stderr.strip()[-300:]}"})
            except subprocess.TimeoutExpired:
                row = {"path": path, "units": n, "skipped": f"over {args.timeout} s"}
            rows.append(row)
            print(json.dumps(row), flush=True)
    (out / "cluster_scale.json").write_text(json.dumps({"calibration": calibration, "rows": rows}, indent=2))
    print_table(rows)


def print_table(rows) -> None:
    print("| units | backend | time s | peak RSS MB | extra MB | ARI | BCubed F | people pred / true | noise units "
          "| faceless joined (right) / all | cannot-link violated |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "skipped" in r:
            print(f"| {r['units']} | {r['path']} | skipped: {r['skipped']} | | | | | | | | |")
            continue
        print(f"| {r['units']:,} | {r['path']} | {r['seconds']} | {r['peak_rss_mb']} | {r['extra_mb']} | {r['ari']} "
              f"| {r['bcubed_f']} | {r['people_predicted']} / {r['people_true']} | {r['noise_units']} "
              f"| {r['faceless_joined']} ({r['faceless_joined_right']}) / {r['faceless']} | {r['cannot_link_violated']} |")


if __name__ == "__main__":
    main()
