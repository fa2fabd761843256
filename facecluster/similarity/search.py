"""Folder search: encode every image once (cached on disk), then score a query against all of them at once.

Cache: DIR/.facecluster-cache/<encoding key>.npz, or when DIR is not writable <user cache>/../similarity/
<hash of DIR>/ (user cache: see models.cache_dir). An entry is reused while the file's relative path, size
and mtime (ns) are unchanged. Plain .npz (JSON index + arrays, loaded with allow_pickle=False); unreadable
images are cached as failures with their reason; an interrupted encoding keeps what it finished.
Scoring uses the comparator's vectorised compare_many (packed-bit Hamming, cosine matrix product, numpy
histogram formulas, batched SSIM); keypoint and shape methods fall back to a loop over pairs.
Ranking: score descending, ties broken by path order, so results are deterministic.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import InputError
from .base import Comparator, NoEncoding
from .io import list_images, load_image

log = logging.getLogger("facecluster")
CACHE_DIRNAME = ".facecluster-cache"
BATCH = 32


class Hit(NamedTuple):
    path: str
    score: float
    reason: str = ""


@dataclass
class SearchStats:
    """files found; encoded now; reused from the cache; failed = without an encoding (unreadable, no face...)."""
    files: int = 0
    encoded: int = 0
    reused: int = 0
    failed: int = 0
    encode_s: float = 0.0  # listing + cache + encoding
    search_s: float = 0.0  # ranking only (the query is encoded before)
    cache_file: str = ""
    notes: list = field(default_factory=list)


def default_cache_dir(folder: Path) -> Path:
    local = folder / CACHE_DIRNAME
    if os.access(folder, os.W_OK) and (not local.exists() or os.access(local, os.W_OK)):
        return local
    from ..models import cache_dir

    return cache_dir().parent / "similarity" / hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:16]


def _pack(entries: dict) -> dict:
    arrays, index = {}, []
    for i, (rel, (size, mtime, enc)) in enumerate(entries.items()):
        item = {"path": rel, "size": size, "mtime": mtime}
        if isinstance(enc, NoEncoding):
            item["reason"] = enc.reason
        else:
            parts = enc if isinstance(enc, tuple) else (enc,)
            item["parts"], item["tuple"] = len(parts), isinstance(enc, tuple)
            arrays.update({f"a{i}_{j}": np.asarray(p) for j, p in enumerate(parts)})
        index.append(item)
    arrays["index"] = np.array(json.dumps(index))
    return arrays


def load_cache(path: Path) -> dict:
    """relative path -> (size, mtime_ns, encoding); {} when missing or unreadable (it is rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            entries = {}
            for i, item in enumerate(json.loads(str(data["index"]))):
                if "reason" in item:
                    enc = NoEncoding(item["reason"])
                else:
                    parts = tuple(data[f"a{i}_{j}"] for j in range(item["parts"]))
                    enc = parts if item["tuple"] else parts[0]
                entries[item["path"]] = (item["size"], item["mtime"], enc)
            return entries
    except FileNotFoundError:
        return {}
    except Exception as exc:  # damaged cache: start again
        log.warning("ignoring unreadable encoding cache %s: %s", path, exc)
        return {}


def save_cache(path: Path, entries: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz.part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **_pack(entries))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _encode_files(comparator: Comparator, paths: list[Path]) -> list:
    """Encodings (or NoEncoding for unreadable files) for paths, batched where the comparator can."""
    images, out = [], [None] * len(paths)
    for i, p in enumerate(paths):
        try:
            images.append((i, load_image(p)))
        except InputError as exc:
            out[i] = NoEncoding(str(exc))
    batch_fn = getattr(comparator, "encode_batch", None)
    step = BATCH if batch_fn else 1
    for start in range(0, len(images), step):
        chunk = images[start:start + step]
        encs = batch_fn([im for _, im in chunk]) if batch_fn else [comparator.encode(chunk[0][1])]
        for (i, _), enc in zip(chunk, encs):
            out[i] = enc
    return out


def encode_folder(comparator: Comparator, folder, use_cache: bool = True, cache_dir=None,
                  progress: bool = False, stats: SearchStats | None = None) -> tuple[list[Path], list]:
    """All image paths under folder and their encodings, reusing and updating the on-disk cache."""
    folder = Path(folder)
    stats = stats or SearchStats()
    t0 = time.perf_counter()
    paths = list_images(folder)
    cache_file = Path(cache_dir or default_cache_dir(folder)) / f"{comparator.cache_key()}.npz"
    cached = load_cache(cache_file) if use_cache else {}
    entries, todo, present = {}, [], []
    for p in paths:
        try:
            st, rel = p.stat(), p.relative_to(folder).as_posix()
        except OSError:  # vanished since listing
            continue
        present.append(p)
        hit = cached.get(rel)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            entries[rel] = hit
        else:
            entries[rel] = (st.st_size, st.st_mtime_ns, None)
            todo.append(p)
    bar = None
    if progress and len(todo) > 50:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"encoding ({comparator.NAME})", unit="img", leave=False)
    try:
        for chunk in [todo[i:i + BATCH * 4] for i in range(0, len(todo), BATCH * 4)]:
            for p, enc in zip(chunk, _encode_files(comparator, chunk)):
                rel = p.relative_to(folder).as_posix()
                entries[rel] = (*entries[rel][:2], enc)
            if bar:
                bar.update(len(chunk))
    finally:  # also on Ctrl-C, so an interrupted encoding resumes where it stopped
        if bar:
            bar.close()
        try:
            if use_cache and (todo or set(cached) != set(entries)):
                save_cache(cache_file, {k: v for k, v in entries.items() if v[2] is not None})
        except OSError as exc:
            stats.notes.append(f"could not write cache {cache_file}: {exc.strerror or exc}")
            log.warning(stats.notes[-1])
    paths, encodings = present, [entries[p.relative_to(folder).as_posix()][2] for p in present]
    stats.files, stats.encoded, stats.reused = len(paths), len(todo), len(paths) - len(todo)
    stats.failed = sum(isinstance(e, NoEncoding) for e in encodings)
    stats.encode_s, stats.cache_file = time.perf_counter() - t0, str(cache_file) if use_cache else ""
    return paths, encodings


def rank(comparator: Comparator, query_encoding, encodings: list, top: int) -> list[tuple[int, float, str]]:
    """(index, score, reason) of the `top` best encodings for a query; vectorised where possible."""
    n = len(encodings)
    if isinstance(query_encoding, NoEncoding):
        return [(i, 0.0, f"query: {query_encoding.reason}") for i in range(min(top, n))]
    scores, reasons = np.zeros(n), [e.reason if isinstance(e, NoEncoding) else "" for e in encodings]
    valid = [i for i, e in enumerate(encodings) if not isinstance(e, NoEncoding)]
    if valid:
        scores[valid] = comparator.compare_many(query_encoding, comparator.stack([encodings[i] for i in valid]))
    order = np.lexsort((np.arange(n), -scores))[:top]
    return [(int(i), float(scores[i]), reasons[i]) for i in order]


def search(comparator: Comparator, query, folder, top: int = 10, use_cache: bool = True, cache_dir=None,
           progress: bool = False) -> tuple[list[Hit], SearchStats]:
    """The `top` images under folder most similar to query (a path or an image array)."""
    stats = SearchStats()
    paths, encodings = encode_folder(comparator, folder, use_cache, cache_dir, progress, stats)
    query_encoding = comparator.encode(query)
    t0 = time.perf_counter()
    ranked = rank(comparator, query_encoding, encodings, max(0, top))
    stats.search_s = time.perf_counter() - t0
    return [Hit(str(paths[i]), s, r) for i, s, r in ranked], stats
