#!/usr/bin/env python3
"""Archives: vector index choice, library search time, recognition across episodes, batch throughput.

    FACECLUSTER_MODELS=../shared/models python scripts/bench_archive.py index       # faiss / sqlite-vec / numpy
    FACECLUSTER_MODELS=../shared/models python scripts/bench_archive.py search      # Library, 100k faces
    FACECLUSTER_MODELS=../shared/models python scripts/bench_archive.py calibrate   # choose the bands
    FACECLUSTER_MODELS=../shared/models python scripts/bench_archive.py archive     # library cluster's cut
    FACECLUSTER_MODELS=../shared/models python scripts/bench_archive.py recognition # score them elsewhere
    FACECLUSTER_MODELS=../shared/models python scripts/bench_archive.py batch       # episodes/hour, 1 and 2 workers

Recognition: two synthetic episodes that share identities; each shared identity's photos are split in
two halves, one per episode, so the second episode never shows a photo the library learnt from. Episode 1
has the shared identities plus some of its own; episode 2 the shared ones plus strangers the library never
saw. People of episode 1 are named from its truth JSON (as a user would, via `label`), the run is added to
a library, episode 2 is run with that library. `calibrate` works on face sets that `recognition` never
scores (glint_celebs22, yywbxgl_video_faces), prints every person's best library matches and chooses the
sure band from the impostor scores (see sure_band); `recognition` scores the shipped bands on faceapi_bbt
and face_recognition_examples (use seeds never used before: the numbers in BENCHMARKS.md are seeds 5-8).
`archive` measures `library cluster`'s cut on the calibration episodes.
Timings print the 1-minute load average beside them (the machine is shared).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
FACES = MEDIA / "faces"
OUT = ROOT / "bench_results" / "archive"


def profile_config(profile: str):
    """A shipped profile by name, or a TOML config file."""
    from facecluster import profiles

    return profiles.load(profile)


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


# ---- index ---------------------------------------------------------------------------------------------
INDEX_CODE = r'''
import json, sys, time
import numpy as np
kind, n, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
def unit(x): return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
centres = unit(rng.standard_normal((n // 10, dim)))
data = unit(centres[rng.integers(0, len(centres), n)] + 0.6 * unit(rng.standard_normal((n, dim))) / np.sqrt(1))
queries = unit(data[rng.integers(0, n, 200)] + 0.3 * unit(rng.standard_normal((200, dim))))
def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024
import gc; gc.collect()
rss0 = rss_mb()
k = 10
t = time.perf_counter()
if kind == "numpy":
    from facecluster.library.index import NumpyIndex
    index = NumpyIndex(dim); index.add(data)
    search = lambda q: index.search(q, k)[1]
elif kind == "faiss-flat":
    import faiss; faiss.omp_set_num_threads(1)
    index = faiss.IndexFlatIP(dim); index.add(data)
    search = lambda q: index.search(q, k)[1]
elif kind == "faiss-sq8":
    import faiss; faiss.omp_set_num_threads(1)
    index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    index.train(data); index.add(data)
    search = lambda q: index.search(q, k)[1]
elif kind == "faiss-hnsw":
    import faiss; faiss.omp_set_num_threads(1)
    index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT); index.hnsw.efSearch = 64; index.add(data)
    search = lambda q: index.search(q, k)[1]
elif kind == "sqlite-vec":
    import apsw, sqlite_vec
    con = apsw.Connection(":memory:"); con.enable_load_extension(True); con.load_extension(sqlite_vec.loadable_path())
    con.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{dim}] distance_metric=cosine)")
    con.execute("BEGIN")
    con.executemany("INSERT INTO v(rowid, embedding) VALUES (?, ?)", ((i, data[i].tobytes()) for i in range(n)))
    con.execute("COMMIT")
    def search(q):
        return np.array([[r[0] for r in con.execute(
            "SELECT rowid FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance", (x.tobytes(), k))] for x in q])
add_s = time.perf_counter() - t
gc.collect()
rss1 = rss_mb()
exact = np.argsort(-(queries @ data.T), axis=1)[:, :k]
search(queries[:3])
times = []
found = []
for q in queries:
    t = time.perf_counter(); found.append(search(q[None])[0]); times.append(time.perf_counter() - t)
recall = np.mean([len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(found, exact)])
t = time.perf_counter(); search(queries[:64]); batch = (time.perf_counter() - t) / 64
print(json.dumps({"index": kind, "n": n, "dim": dim, "add_s": add_s, "search_ms_median": 1e3 * float(np.median(times)),
                  "search_ms_p95": 1e3 * float(np.percentile(times, 95)), "batch64_ms_per_query": 1e3 * batch,
                  "recall_at_10": float(recall), "memory_mb": rss1 - rss0}))
'''


def bench_index(args) -> list[dict]:
    rows = []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for dim in args.dims:
        for kind in args.kinds:
            out = subprocess.run([sys.executable, "-c", INDEX_CODE, kind, str(args.n), str(dim)], capture_output=True,
                                 text=True, env=env, cwd=ROOT)
            if out.returncode:
                print(f"{kind} {dim}: failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1]) | {"load": os.getloadavg()[0]}
            rows.append(row)
            print(f"{kind:11s} dim {dim:4d}: add {row['add_s']:7.2f} s  search {row['search_ms_median']:7.2f} ms "
                  f"(p95 {row['search_ms_p95']:.2f})  batch {row['batch64_ms_per_query']:.2f} ms/q  recall@10 "
                  f"{row['recall_at_10']:.3f}  +{row['memory_mb']:.0f} MB  ({load()})", flush=True)
    return rows


def bench_search(args) -> list[dict]:
    """The Library itself: N prototypes (10 per person) in the SQLite file; open + first search (loads the
    vectors, builds the index), then one face at a time through Library.best_people, with faiss and with
    the numpy fallback."""
    import facecluster.library.store as store
    from facecluster.library import Library
    from facecluster.library.index import make_index

    rows = []
    for dim in args.dims:
        rng = np.random.default_rng(1)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "big.fclib"
            lib = Library.open(path, create=True)
            people = args.n // 10
            e = {"backend": "arcface", "model": "bench", "sha256": "0" * 64, "dim": dim, "same_person_distance": 0.64}
            t = time.perf_counter()
            centres = rng.standard_normal((people, dim)).astype(np.float32)
            with lib._write():
                lib._bind(e, "bench")
                for p in range(people):
                    v = centres[p] + 0.5 * rng.standard_normal((10, dim)).astype(np.float32)
                    lib._insert(f"person {p:06d}", v / np.linalg.norm(v, axis=1, keepdims=True), None, None, None)
            fill = time.perf_counter() - t
            lib.close()
            size = path.stat().st_size / 1e6
            queries = centres[rng.integers(0, people, 200)] + 0.5 * rng.standard_normal((200, dim)).astype(np.float32)
            queries /= np.linalg.norm(queries, axis=1, keepdims=True)
            for kind in ("auto", "numpy"):
                store.make_index = (lambda d, k=kind: make_index(d, k))
                t = time.perf_counter()
                lib = Library.open(path, readonly=True)
                lib.best_people(queries[:1])
                first = time.perf_counter() - t
                times, answers = [], []
                for q in queries:
                    t = time.perf_counter()
                    answers.append(lib.best_people(q[None], k=3)[0])
                    times.append(time.perf_counter() - t)
                index = type(lib.index()).NAME
                lib.close()
                row = {"faces": args.n, "people": people, "dim": dim, "index": index, "fill_s": fill,
                       "file_mb": size, "open_and_first_search_s": first,
                       "search_ms_median": 1e3 * float(np.median(times)),
                       "search_ms_p95": 1e3 * float(np.percentile(times, 95)), "load": os.getloadavg()[0],
                       "answers": [[int(a[0][0]), round(a[0][1], 5)] for a in answers]}
                rows.append(row)
                print(f"Library ({index}) of {args.n} faces / {people} people, {dim}-d: one face "
                      f"{row['search_ms_median']:.2f} ms median (p95 {row['search_ms_p95']:.2f}); open + first "
                      f"search {first:.2f} s; file {size:.0f} MB ({load()})", flush=True)
            store.make_index = make_index
    for dim in args.dims:
        a, b = [r["answers"] for r in rows if r["dim"] == dim]
        print(f"{dim}-d: faiss and numpy agree on the best person for {sum(x == y for x, y in zip(a, b))}/{len(a)} "
              f"faces")
    return rows


# ---- recognition ---------------------------------------------------------------------------------------
# face set -> splits: (identities shared by both episodes, only in episode 1, only in episode 2 = strangers)
CALIBRATION = {"glint_celebs22": [7, 3, 3], "yywbxgl_video_faces": [5, 2, 2]}
REPORT = {"faceapi_bbt": [4, 2, 2], "face_recognition_examples": [3, 1, 2]}
RISK, LIBRARY_PEOPLE = 0.01, 1000  # the sure band: a stranger is named with probability <= RISK in a library this big


def split_faces(src: Path, dst: Path, counts, seed: int) -> tuple[Path, Path, dict]:
    """Two faces folders (identity_labels.csv + links): shared identities with their photos split in
    halves, then identities of one episode only."""
    from facecluster.evaluate.photos import read_labels

    photos = defaultdict(list)
    for rel, identity in read_labels(src):
        photos[identity].append(rel)
    usable = sorted(i for i, p in photos.items() if len(p) >= 2)
    rng = np.random.default_rng(seed)
    order = [usable[i] for i in rng.permutation(len(usable))]
    n_shared, n_one, n_two = counts
    shared, one = order[:n_shared], order[n_shared:n_shared + n_one]
    two = order[n_shared + n_one:n_shared + n_one + n_two]
    two += [i for i in sorted(photos) if i not in usable][:max(0, n_two - len(two))]
    sides = {"a": {}, "b": {}}
    for identity in shared:
        files = sorted(photos[identity])
        sides["a"][identity], sides["b"][identity] = files[0::2], files[1::2]
    for identity in one:
        sides["a"][identity] = photos[identity]
    for identity in two:
        sides["b"][identity] = photos[identity]
    out = []
    for side, table in sides.items():
        folder = dst / f"faces_{side}"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "identity_labels.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["file", "identity"])
            for number, (identity, files) in enumerate(sorted(table.items())):
                for k, rel in enumerate(files):
                    link = folder / f"{number:02d}_{k:03d}{Path(rel).suffix}"
                    if not link.exists():
                        link.symlink_to(src / rel)
                    writer.writerow([link.name, identity])
        out.append(folder)
    return out[0], out[1], {"shared": shared, "only_first": one, "strangers": two}


def episode_pair(face_set: str, counts, seed: int, work: Path, seconds: float, config, every: bool = True):
    """Make, run and label the two episodes; returns (library path, outdir 2, truth 2, split)."""
    import facecluster
    from facecluster.evaluate.synth import synthesize_episode
    from facecluster.library import Library
    from facecluster.library.truth import label_from_truth

    folder = work / f"{face_set}_{seed}"
    faces_a, faces_b, split = split_faces(FACES / face_set, folder, counts, seed)
    (folder / "split.json").write_text(json.dumps(split, indent=2) + "\n")
    runs = []
    for k, faces in enumerate((faces_a, faces_b)):
        video, truth = folder / f"ep{k + 1}.mp4", folder / f"ep{k + 1}.json"
        if not video.exists():
            synthesize_episode(faces, video, truth, seconds=seconds, seed=seed * 10 + k, identities=None)
        runs.append((video, truth, folder / f"ep{k + 1}.facecluster"))
    (v1, t1, o1), (v2, t2, o2) = runs
    lib_path = folder / "people.fclib"
    if not (o1 / "manifest.json").exists():
        facecluster.run(v1, config, output_dir=o1)
    lib_path.unlink(missing_ok=True)
    label_from_truth(o1, t1, every=every)
    with Library.open(lib_path, create=True) as lib:
        lib.add_run(o1)
    if not (o2 / "manifest.json").exists():
        facecluster.run(v2, config, output_dir=o2)
    return lib_path, o2, t2, split


# prototypes compared: library run means and track means ("all"), run means only ("person"); the query is each
# person's mean face, or with "all+query-tracks" also their track means (the best pair counts)
SCOPES = ("all", "person", "all+query-tracks")


def match_rows(lib_path: Path, outdir: Path, truth: Path, split: dict) -> list[dict]:
    """Per person of episode 2: truth identity, whether the library knows it, and per prototype scope the
    best two library matches and the similarity to every other library person (impostor scores)."""
    from facecluster.library import Library
    from facecluster.library.prototypes import of_person, person_means
    from facecluster.library.truth import person_identities
    from facecluster.runfolder import RunFolder

    who = person_identities(outdir, truth)
    rf = RunFolder(outdir)
    with rf.reading():
        stored = rf.load()
    scored = {}
    with Library.open(lib_path, readonly=True) as lib:
        pids, means, faces = person_means(stored.extraction, stored.unit_person())
        known = {p["name"] for p in lib.people()}
        prior = lib.same_person_distance
        for scope in SCOPES:
            owners, matrix, names = lib.vectors(scope.split("+")[0])
            sims = means @ matrix.T  # every library person's best prototype, exactly
            if scope.endswith("+query-tracks"):
                sims = np.stack([(of_person(stored.extraction, stored.unit_person(), p)[0] @ matrix.T).max(0)
                                 for p in pids.tolist()]) if len(pids) else sims
            ids = sorted(set(owners.tolist()))
            per_person = np.stack([sims[:, owners == i].max(1) for i in ids], 1)
            scored[scope] = ([sorted(zip(ids, row.tolist()), key=lambda kv: -kv[1]) for row in per_person], names)
    rows = []
    for k, (pid, n) in enumerate(zip(pids.tolist(), faces.tolist())):
        info = who.get(pid, {"identity": None, "purity": 0.0, "faces": 0, "clear": False})
        row = {"person": pid, "faces": n, "identity": info["identity"], "purity": info["purity"],
               "clear": info["clear"], "known": info["identity"] in known,
               "stranger": info["identity"] in split["strangers"], "prior": prior, "scopes": {}}
        for scope, (everyone, names) in scored.items():
            row["scopes"][scope] = {
                "candidates": [(names[c], round(v, 4)) for c, v in everyone[k][:2]],
                # similarity to every library person who is not this person (open-set impostor scores)
                "impostors": [round(v, 4) for c, v in everyone[k] if names[c] != info["identity"]]}
        rows.append(row)
    return rows


def run_pairs(sets: dict, args, config, work: Path) -> list[dict]:
    rows = []
    for face_set, counts in sets.items():
        for seed in args.seeds:
            t = time.perf_counter()
            lib_path, o2, t2, split = episode_pair(face_set, counts, seed, work, args.seconds, config,
                                                   every=args.label == "every")
            pair_rows = match_rows(lib_path, o2, t2, split)
            for r in pair_rows:
                r.update(set=face_set, seed=seed)
            rows += pair_rows
            print(f"{face_set} seed {seed}: {len(pair_rows)} people in episode 2 "
                  f"({time.perf_counter() - t:.0f} s)", flush=True)
    return rows


def outcome(rows: list[dict], sure_factor: float, min_faces: int, scope: str) -> dict:
    """What the shipped rule (recognise.recognise: greedy one-to-one, sure band) would name."""
    used: set = set()
    flat = sorted(((c[1], k, c[0]) for k, r in enumerate(rows) for c in r["scopes"][scope]["candidates"][:1]),
                  reverse=True)
    named = {}
    for sim, k, name in flat:
        r = rows[k]
        key = (r["set"], r["seed"])
        if sim >= 1 - sure_factor * r["prior"] and r["faces"] >= min_faces and (key, name) not in used:
            used.add((key, name))
            named[k] = name
    correct = sum(rows[k]["identity"] == name for k, name in named.items())
    clear_known = [k for k, r in enumerate(rows) if r["clear"] and r["known"]]
    hit = sum(named.get(k) == rows[k]["identity"] for k in clear_known)
    strangers_named = sum(1 for k in named if rows[k]["stranger"])
    given = len(named)
    # per identity: a library person seen clearly in episode 2 counts once, recalled when one of its people
    # got its name (a person the grouping split in two can only give the name once per run)
    identities = {(rows[k]["set"], rows[k]["seed"], rows[k]["identity"]) for k in clear_known}
    recalled = {(rows[k]["set"], rows[k]["seed"], rows[k]["identity"]) for k in clear_known
                if named.get(k) == rows[k]["identity"]}
    return {"scope": scope, "sure_factor": sure_factor, "named": given, "correct": correct,
            "precision": correct / given if given else 1.0,
            "recall_clear": hit / len(clear_known) if clear_known else 1.0, "clear_known": len(clear_known),
            "recall_identities": len(recalled) / len(identities) if identities else 1.0,
            "identities": len(identities), "strangers_named": strangers_named,
            "strangers": sum(r["stranger"] for r in rows)}


def sure_band(rows: list[dict], scope: str) -> dict:
    """Open set: a stranger is compared with every person of the library, so the sure band must sit above
    what the best of many impostor scores reaches. Per face set (impostor scores differ between sets: a
    homogeneous cast looks more alike), a normal fit to every (person, other library person) similarity;
    the band: what a stranger exceeds with probability RISK against LIBRARY_PEOPLE people, and never below
    the highest impostor score seen; the most demanding set decides."""
    from scipy.stats import norm

    z = float(norm.isf(RISK / LIBRARY_PEOPLE))
    per_set = {}
    for face_set in sorted({r["set"] for r in rows}):
        imp = np.array([v for r in rows if r["set"] == face_set for v in r["scopes"][scope]["impostors"]])
        mu, sd = float(imp.mean()), float(imp.std())
        per_set[face_set] = {"n": len(imp), "mean": mu, "sd": sd, "max": float(imp.max()),
                             "band": max(mu + z * sd, float(imp.max()))}
    similarity = max(v["band"] for v in per_set.values())
    prior = rows[0]["prior"]
    factor = float(np.floor((1.0 - similarity) / prior / 0.025) * 0.025)  # on the grid, the stricter side
    return {"scope": scope, "z": z, "per_set": per_set, "sure_similarity": similarity, "sure_factor": factor}


def calibrate(args) -> dict:
    import facecluster
    from facecluster.library.recognise import MIN_FACES

    config = profile_config(args.profile)
    work = Path(args.work) / "calibrate"
    rows = run_pairs(CALIBRATION, args, config, work)
    grid = [round(f, 3) for f in np.arange(0.30, 1.201, 0.025)]
    result = {"rows": rows, "risk": RISK, "library_people": LIBRARY_PEOPLE, "scopes": {}}
    for scope in SCOPES:
        table = [outcome(rows, f, MIN_FACES, scope) for f in grid]
        print(f"prototypes: {scope}\n  sure factor  named correct precision recall(ids) recall(people) strangers")
        for t in table:
            print(f"    {t['sure_factor']:.3f}     {t['named']:4d}  {t['correct']:4d}    {t['precision']:.3f}     "
                  f"{t['recall_identities']:.3f}      {t['recall_clear']:.3f}        {t['strangers_named']}/"
                  f"{t['strangers']}")
        band = sure_band(rows, scope)
        at = outcome(rows, band["sure_factor"], MIN_FACES, scope)
        for face_set, v in band["per_set"].items():
            print(f"  {face_set}: impostor similarities n {v['n']}, mean {v['mean']:.3f}, sd {v['sd']:.3f}, max "
                  f"{v['max']:.3f} -> band {v['band']:.3f}")
        print(f"  P(stranger named) <= {RISK} against {LIBRARY_PEOPLE} people -> sure similarity "
              f"{band['sure_similarity']:.3f} -> SURE_FACTOR {band['sure_factor']:.3f}; on the calibration sets: "
              f"precision {at['precision']:.3f}, recall {at['recall_identities']:.3f} (identities) / "
              f"{at['recall_clear']:.3f} (people), strangers named {at['strangers_named']}/{at['strangers']}")
        result["scopes"][scope] = {"table": table, "band": band, "at_band": at}
    result["end_to_end"] = library_run(args, config, work)
    print(f"end to end with the shipped bands (`recluster --library` on episode 2): {result['end_to_end']}")
    best = max(SCOPES, key=lambda sc: (result["scopes"][sc]["at_band"]["recall_identities"], sc == "all"))
    result["chosen"] = {"scope": best, "sure_factor": result["scopes"][best]["band"]["sure_factor"]}
    print(f"chosen: SCOPE = {best!r}, SURE_FACTOR = {result['chosen']['sure_factor']:.3f} (the scope with the higher "
          f"recall at its own band)")
    return result


def recognition(args) -> dict:
    import facecluster
    from facecluster.library.recognise import MIN_FACES, SCOPE, SURE_FACTOR, UNSURE_FACTOR

    config = profile_config(args.profile)
    work = Path(args.work) / "recognition"
    rows = run_pairs(REPORT, args, config, work)
    total = outcome(rows, SURE_FACTOR, MIN_FACES, SCOPE)
    per_set = {s: outcome([r for r in rows if r["set"] == s], SURE_FACTOR, MIN_FACES, SCOPE) for s in REPORT}
    # the shipped rule, end to end: every episode 2 run again with the library, names read from people.json
    end_to_end = library_run(args, config, work)
    print(f"scope {SCOPE!r}, sure factor {SURE_FACTOR} (unsure {UNSURE_FACTOR}), min faces {MIN_FACES}:")
    for s, o in per_set.items():
        print(f"  {s}: named {o['named']}, precision {o['precision']:.3f}, recall of clearly seen library people: "
              f"{o['recall_identities']:.3f} of {o['identities']} identities, {o['recall_clear']:.3f} of "
              f"{o['clear_known']} people; strangers named {o['strangers_named']}/{o['strangers']}")
    print(f"  all: precision {total['precision']:.3f}, recall {total['recall_identities']:.3f} (identities) / "
          f"{total['recall_clear']:.3f} (people), strangers named {total['strangers_named']}/{total['strangers']}")
    print(f"  end to end (as shipped, with joins: `recluster --library` on episode 2): {end_to_end}")
    return {"rows": rows, "scope": SCOPE, "sure_factor": SURE_FACTOR, "unsure_factor": UNSURE_FACTOR,
            "all": total, "per_set": per_set, "end_to_end": end_to_end}


def library_run(args, config, work: Path) -> dict:
    """Every episode 2 named by its library as shipped (`recluster --library` on a copy of the run without
    it: the same regroup as `run --library`, with the joins of split people), scored from people.json; per
    face set and over all."""
    import shutil

    from facecluster.library import Library
    from facecluster.library.truth import person_identities
    from facecluster.results import recluster

    counts: dict[str, Counter] = defaultdict(Counter)
    identities, recalled = defaultdict(set), defaultdict(set)
    for face_set in REPORT if work.name == "recognition" else CALIBRATION:
        for seed in args.seeds:
            c = counts[face_set]
            folder = work / f"{face_set}_{seed}"
            out = folder / "ep2_library.facecluster"
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(folder / "ep2.facecluster", out)
            people = recluster(out, library=folder / "people.fclib")
            c["joined"] += len(json.loads((out / "people.json").read_text())["grouping"]["library"]["joined"])
            who = person_identities(out, folder / "ep2.json")
            strangers = set(json.loads((folder / "split.json").read_text())["strangers"])
            with Library.open(folder / "people.fclib", readonly=True) as lib:
                known = {p["name"] for p in lib.people()}
            for p in people:
                info = who.get(p["id"], {})
                identity = info.get("identity")
                c["suggested"] += bool(p.get("library_suggestion"))
                c["suggested_right"] += (p.get("library_suggestion") or {}).get("name", "") == identity
                by_library = p.get("name_source") == "library"
                if by_library:
                    c["named"] += 1
                    c["correct"] += identity == p["name"]
                    c["strangers_named"] += identity in strangers
                if info.get("clear") and identity in known:
                    c["clear_known"] += 1
                    identities[face_set].add((seed, identity))
                    if by_library and p["name"] == identity:
                        c["clear_hit"] += 1
                        recalled[face_set].add((seed, identity))

    def score(c: Counter, ids: int, hit: int) -> dict:
        return {**{k: c[k] for k in ("named", "correct", "strangers_named", "suggested", "suggested_right", "joined",
                                     "clear_known")},
                "precision": c["correct"] / c["named"] if c["named"] else 1.0,
                "recall_identities": hit / ids if ids else 1.0, "identities": ids,
                "recall_clear": c["clear_hit"] / c["clear_known"] if c["clear_known"] else 1.0}

    out = {s: score(c, len(identities[s]), len(recalled[s])) for s, c in counts.items()}
    out["all"] = score(sum(counts.values(), Counter()), sum(map(len, identities.values())),
                       sum(map(len, recalled.values())))
    return out


def bench_archive_cut(args) -> list[dict]:
    """`library cluster` on the calibration episodes (run `calibrate` first): both episodes of every pair,
    names removed, clustered across the archive at several cuts; an identity is mixed when its people are
    not all one truth identity."""
    import shutil
    from collections import Counter

    from facecluster.library.archive import cluster_archive
    from facecluster.library.truth import person_identities
    from facecluster.results import recluster

    rows = []
    for face_set in CALIBRATION:
        root = Path(args.work) / "archive_cut" / face_set
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        truth = {}
        for seed in args.seeds:
            pair = Path(args.work) / "calibrate" / f"{face_set}_{seed}"
            for e in (1, 2):
                name = f"s{seed}e{e}"
                shutil.copytree(pair / f"ep{e}.facecluster", root / name)
                (root / name / "edits.json").unlink(missing_ok=True)
                recluster(root / name)  # the same people, nobody named
                truth[name] = person_identities(root / name, pair / f"ep{e}.json")
        for factor in (1.0, 0.9, 0.8, 0.75, 0.7, 0.65, 0.6):
            doc = cluster_archive(root, distance=factor * 0.64)
            wrong = mixed = members = 0
            for ident in doc["identities"]:
                ids = [truth[m["episode"]].get(m["person_id"], {}).get("identity") for m in ident["members"]]
                members += len(ids)
                wrong += len(ids) - Counter(ids).most_common(1)[0][1]
                mixed += len(set(ids)) > 1
            row = {"set": face_set, "factor": factor, "identities": len(doc["identities"]), "mixed": mixed,
                   "wrong_members": wrong, "members": members, "people": doc["people_considered"]}
            rows.append(row)
            print(f"{face_set} cut {factor:.2f} x: {row['identities']} identities, {mixed} mixed ({wrong} people of "
                  f"someone else), {members} of {row['people']} unnamed people in an identity", flush=True)
    return rows


# ---- batch throughput ----------------------------------------------------------------------------------
def bench_batch(args) -> list[dict]:
    import facecluster
    from facecluster.batch import run_batch
    from facecluster.evaluate.synth import synthesize_episode

    config = profile_config(args.profile)
    work = Path(args.work) / "batch"
    work.mkdir(parents=True, exist_ok=True)
    videos = []
    for k in range(args.episodes):
        video = work / f"episode{k + 1:02d}.mp4"
        if not video.exists():
            synthesize_episode(FACES / "yywbxgl_video_faces", video, work / f"episode{k + 1:02d}.json",
                               seconds=args.seconds, seed=100 + k, identities=None)
        videos.append(video)
    rows = []
    for workers in args.workers:
        archive = work / f"archive_{workers}"
        import shutil

        shutil.rmtree(archive, ignore_errors=True)
        before = os.getloadavg()[0]
        t = time.perf_counter()
        summary = run_batch(videos, archive, config, workers=workers, progress=False)
        wall = time.perf_counter() - t
        done = sum(r["status"] == "done" for r in summary["episodes"])
        row = {"workers": workers, "episodes": done, "seconds_of_video_each": args.seconds, "wall_s": wall,
               "episodes_per_hour": 3600 * done / wall, "load_before": before, "load_after": os.getloadavg()[0]}
        rows.append(row)
        print(f"{workers} worker(s): {done} episodes of {args.seconds:.0f} s in {wall:.1f} s -> "
              f"{row['episodes_per_hour']:.0f} episodes/hour (load {before:.2f} before, "
              f"{row['load_after']:.2f} after)", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["index", "search", "calibrate", "archive", "recognition", "batch", "all"])
    ap.add_argument("--n", type=int, default=100_000, help="stored faces for index/search")
    ap.add_argument("--dims", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--kinds", nargs="+", default=["numpy", "faiss-flat", "faiss-sq8", "faiss-hnsw", "sqlite-vec"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each synthetic episode")
    ap.add_argument("--episodes", type=int, default=4, help="episodes for the batch benchmark")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--profile", default="fast", help="a shipped profile (facecluster/profiles) or a TOML file")
    ap.add_argument("--work", default=str(OUT / "work"), help="where episodes and runs are kept (reused)")
    ap.add_argument("--label", choices=["every", "largest"], default="every",
                    help="episode 1: name every clearly seen person of an identity (as a user naming the cast "
                         "does), or only the largest (the first measurement)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    parts = ["index", "search", "calibrate", "archive", "recognition", "batch"] if args.part == "all" else [args.part]
    for part in parts:
        result = {"index": bench_index, "search": bench_search, "calibrate": calibrate, "archive": bench_archive_cut,
                  "recognition": recognition, "batch": bench_batch}[part](args)
        (OUT / f"{part}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"-> {OUT / f'{part}.json'}")


if __name__ == "__main__":
    main()
