"""Benchmark every still-image similarity method: retrieval quality and speed.

    FACECLUSTER_MODELS=../shared/models python scripts/bench_similarity.py RESULTS_DIR [--methods M ...]

Sets: the identity-labelled face sets (../shared/media/faces/*/identity_labels.csv; relevant = same
identity) and a near-duplicate set made from shared photos (each source + 6 edits: resize 0.5, JPEG q25,
crop 80%, horizontal flip, rotation 10 deg, brightness +40; relevant = same source). Every image queries all
others of its set. P@1, P@5 (relevant in the top 5, divided by min(5, number relevant)), mAP; "dup hit@1"
per edit = the edited image's top-1 is from its source group. Speed: encode ms per image (mean over all
images), compare us per pair (compare() on 300 random pairs), rank ms = one vectorised query against 1,000
encodings (compare_many; loop methods extrapolated). Loop-only methods (keypoints, shape) score each unordered
pair once. The autoencoder is trained (unsupervised) on all benchmark images, as `autoencoder train DIR`
then `search ... DIR` would. Writes RESULTS_DIR/similarity_bench.json and .md.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from facecluster.errors import FaceclusterError
from facecluster.similarity.base import _ALL, Comparator, NoEncoding, create
from facecluster.similarity.io import load_image

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
EDITS = {
    "resize": lambda im: cv2.resize(im, (im.shape[1] // 2, im.shape[0] // 2), interpolation=cv2.INTER_AREA),
    "jpeg": lambda im: cv2.imdecode(cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 25])[1], cv2.IMREAD_COLOR),
    "crop": lambda im: im[im.shape[0] // 20:im.shape[0] * 17 // 20, im.shape[1] // 10:im.shape[1] * 9 // 10],
    "flip": lambda im: np.ascontiguousarray(im[:, ::-1]),
    "rotate": lambda im: cv2.warpAffine(im, cv2.getRotationMatrix2D((im.shape[1] / 2, im.shape[0] / 2), 10, 1.0),
                                        (im.shape[1], im.shape[0]), borderMode=cv2.BORDER_REFLECT),
    "bright": lambda im: cv2.convertScaleAbs(im, alpha=1.0, beta=40),
}


def face_sets() -> dict:
    sets = {}
    for labels in sorted((SHARED / "media" / "faces").glob("*/identity_labels.csv")):
        rows = list(csv.DictReader(labels.open()))
        sets[f"faces/{labels.parent.name}"] = ([load_image(labels.parent / r["file"]) for r in rows],
                                               [r["identity"] for r in rows], [""] * len(rows))
    return sets


def near_duplicates() -> tuple:
    bbt = SHARED / "media" / "faces" / "faceapi_bbt"
    sources = sorted((SHARED / "media" / "photos").glob("*.jpg")) + sorted(bbt.glob("*.jpg"))
    images, labels, edits = [], [], []
    for src in sources:
        img = load_image(src)
        for edit, fn in [("original", lambda im: im)] + list(EDITS.items()):
            images.append(fn(img))
            labels.append(src.stem)
            edits.append(edit)
    return images, labels, edits


def retrieval(sim: np.ndarray, labels: list, edits: list) -> dict:
    labels = np.asarray(labels)
    p1, p5, aps, hits = [], [], [], {}
    for q in range(len(labels)):
        others = np.delete(np.arange(len(labels)), q)
        order = others[np.lexsort((others, -sim[q, others]))]
        rel = labels[order] == labels[q]
        if not rel.any():
            continue
        p1.append(float(rel[0]))
        p5.append(rel[:5].sum() / min(5, rel.sum()))
        aps.append(float((np.cumsum(rel) / np.arange(1, len(rel) + 1))[rel].mean()))
        if edits[q] and edits[q] != "original":
            hits.setdefault(edits[q], []).append(float(rel[0]))
    out = {"P@1": np.mean(p1), "P@5": np.mean(p5), "mAP": np.mean(aps), "queries": len(aps)}
    out.update({f"hit@1 {k}": float(np.mean(v)) for k, v in hits.items()})
    return {k: round(float(v), 4) for k, v in out.items()}


def similarity_matrix(comp, encs: list) -> tuple[np.ndarray, float]:
    n = len(encs)
    sim = np.zeros((n, n))
    valid = [i for i, e in enumerate(encs) if not isinstance(e, NoEncoding)]
    stacked = comp.stack([encs[i] for i in valid])
    loop_only = type(comp).compare_many is Comparator.compare_many
    t0 = time.perf_counter()
    for a, i in enumerate(valid):
        if loop_only:
            for j in valid[a + 1:]:
                sim[i, j] = sim[j, i] = float(comp.compare(encs[i], encs[j]))
            sim[i, i] = 1.0
        else:
            sim[i, valid] = comp.compare_many(encs[i], stacked)
    elapsed = time.perf_counter() - t0
    per_query_s = elapsed / max(1, len(valid)) * (2 if loop_only else 1)  # loops scored each pair once
    return sim, per_query_s * 1000 / max(1, len(valid)) * 1000  # ms for one query against 1,000 encodings


def bench_method(name: str, sets: dict, options: dict, rng) -> dict:
    comp = create(name, **options)
    row, encode_s, n_img, compare_us, rank_ms = {"method": name}, 0.0, 0, [], []
    for set_name, (images, labels, edits) in sets.items():
        t0 = time.perf_counter()
        encs = comp.encode_batch(images) if hasattr(comp, "encode_batch") else [comp.encode(im) for im in images]
        encode_s += time.perf_counter() - t0
        n_img += len(images)
        sim, ms = similarity_matrix(comp, encs)
        rank_ms.append(ms)
        row[set_name] = retrieval(sim, labels, edits)
        row[set_name]["no_encoding"] = sum(isinstance(e, NoEncoding) for e in encs)
        pairs = rng.integers(0, len(encs), size=(300 // len(sets), 2))
        t0 = time.perf_counter()
        for i, j in pairs:
            comp.compare(encs[i], encs[j])
        compare_us.append((time.perf_counter() - t0) / len(pairs) * 1e6)
    return {**row, "encode_ms": round(encode_s / n_img * 1000, 2), "rank_1k_ms": round(float(np.mean(rank_ms)), 2),
            "compare_us": round(float(np.mean(compare_us)), 1)}


def train_autoencoder(sets: dict, epochs: int, workdir: Path) -> str:
    from facecluster.similarity.autoencoder import train

    folder = workdir / "ae_train"
    folder.mkdir()
    for s, (images, _, _) in enumerate(sets.values()):
        for i, im in enumerate(images):
            cv2.imwrite(str(folder / f"{s}_{i:04d}.png"), im)
    return train(folder, workdir / "ae.pt", epochs=epochs)["output"]


def table(rows: list, set_names: list) -> str:
    names = {"face_recognition_examples": "fr-examples", "faceapi_bbt": "bbt", "yywbxgl_video_faces": "yywbxgl",
             "near-duplicates": "near-dup"}
    short = {s: names.get(s.split("/")[-1], s.split("/")[-1]) for s in set_names}
    head = ["method"] + [f"{short[s]} {m}" for s in set_names for m in ("P@1", "mAP")] + \
        ["encode ms", "compare us", "rank 1k ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | " + " | ".join(["n/a"] * (len(head) - 1)) + " |")
            continue
        cells = [f"{r[s][m]:.3f}" for s in set_names for m in ("P@1", "mAP")]
        lines.append("| " + " | ".join([r["method"]] + cells + [f"{r['encode_ms']:.1f}", f"{r['compare_us']:.0f}",
                                                                 f"{r['rank_1k_ms']:.1f}"]) + " |")
    return "\n".join(lines)


def dup_table(rows: list) -> str:
    edits = list(EDITS)
    lines = ["| method | " + " | ".join(edits) + " |", "|" + "---|" * (len(edits) + 1)]
    for r in rows:
        if "error" not in r:
            lines.append(f"| {r['method']} | " + " | ".join(f"{r['near-duplicates'][f'hit@1 {e}']:.2f}"
                                                         for e in edits) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results_dir", type=Path)
    ap.add_argument("--methods", nargs="*", default=list(_ALL))
    ap.add_argument("--models-dir", default=str(SHARED / "models"))
    ap.add_argument("--ae-epochs", type=int, default=40)
    args = ap.parse_args(argv)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    sets = {**face_sets(), "near-duplicates": near_duplicates()}
    print("sets: " + ", ".join(f"{k} ({len(v[0])} images)" for k, v in sets.items()), file=sys.stderr)
    rng, rows, options = np.random.default_rng(0), [], {"models_dir": args.models_dir}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.methods:
            t0 = time.perf_counter()
            try:
                if name == "autoencoder":
                    options["ae_model"] = train_autoencoder(sets, args.ae_epochs, Path(tmp))
                rows.append(bench_method(name, sets, options, rng))
            except FaceclusterError as exc:
                rows.append({"method": name, "error": str(exc)})
            print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    md = table(rows, list(sets)) + "\n\nNear-duplicate hit@1 per edit:\n\n" + dup_table(rows)
    missing = [f"- {r['method']}: {r['error']}" for r in rows if "error" in r]
    missing += [f"- {r['method']}: no encoding for " + ", ".join(f"{r[s]['no_encoding']}/{len(sets[s][0])} of {s}"
                                                               for s in sets if r[s]["no_encoding"])
                for r in rows if "error" not in r and any(r[s]["no_encoding"] for s in sets)]
    md += ("\n\nNot measured / not encoded:\n" + "\n".join(missing)) if missing else ""
    sizes = {k: len(v[0]) for k, v in sets.items()}
    (args.results_dir / "similarity_bench.json").write_text(json.dumps({"sets": sizes, "rows": rows}, indent=2))
    (args.results_dir / "similarity_bench.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
