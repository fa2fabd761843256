"""`facecluster compare`, `facecluster search` and `facecluster autoencoder train` (still-image similarity)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..errors import FaceclusterError
from ..similarity.base import _ALL, create

DEFAULT_METHODS = ("ahash16", "hist-chisqr", "orb-bf", "ssim", "cnn")  # one per family (see BENCHMARKS.md)
METHOD_HELP = "Similarity method: " + ", ".join(_ALL) + "."


def _options(models_dir, ae_model) -> dict:
    return {k: v for k, v in {"models_dir": models_dir, "ae_model": ae_model}.items() if v}


def _table(headers, rows) -> str:
    widths = [max(len(str(x)) for x in [h] + [r[i] for r in rows]) for i, h in enumerate(headers)]
    fmt = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _common(f):
    f = click.option("--ae-model", type=click.Path(dir_okay=False),
                     help="Trained autoencoder (from `facecluster autoencoder train`), for -m autoencoder.")(f)
    f = click.option("--models-dir", help="Extra folder holding model files (cnn/face methods).")(f)
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


@click.command("compare")
@click.argument("image_a", type=click.Path())
@click.argument("image_b", type=click.Path())
@click.option("-m", "--method", "methods", multiple=True,
              help=METHOD_HELP + f" Repeatable. Default: {', '.join(DEFAULT_METHODS)}.")
@click.option("--all", "all_methods", is_flag=True, help="Every available method (unavailable ones say why).")
@_common
def compare(image_a, image_b, methods, all_methods, as_json, models_dir, ae_model):
    """Score how similar two images are (0 = unrelated, 1 = same), per method, with the reason."""
    from ..similarity.io import load_image

    a, b = load_image(image_a), load_image(image_b)
    names = list(_ALL) if all_methods else list(dict.fromkeys(methods or DEFAULT_METHODS))
    opts, rows = _options(models_dir, ae_model), []
    for name in names:
        t0 = time.perf_counter()
        try:
            comparator = create(name, **opts)
            score = comparator.compare(comparator.encode(a), comparator.encode(b))
        except FaceclusterError as exc:
            if not (all_methods or (not methods and name == "cnn")):
                raise
            rows.append({"method": name, "score": None, "reason": f"unavailable: {exc}", "ms": None})
            continue
        rows.append({"method": name, "score": round(float(score), 4), "reason": score.reason,
                     "ms": round((time.perf_counter() - t0) * 1000, 1)})
    if as_json:
        click.echo(json.dumps({"a": image_a, "b": image_b, "results": rows}, indent=2))
        return
    click.echo(_table(["method", "score", "ms", "reason"],
                      [[r["method"], "-" if r["score"] is None else f"{r['score']:.4f}",
                        "-" if r["ms"] is None else f"{r['ms']:.0f}", r["reason"]] for r in rows]))


@click.command("search")
@click.argument("query", type=click.Path())
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("-m", "--method", default="cnn", show_default=True,
              help=METHOD_HELP + " Use ahash16 for fast near-duplicate search, face for the same person.")
@click.option("-k", "--top", default=10, show_default=True, type=click.IntRange(1), help="Results to show.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the encoding cache.")
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="Where to keep encodings (default: FOLDER/.facecluster-cache, or the user cache).")
@_common
@click.pass_context
def search(ctx, query, folder, method, top, no_cache, cache_dir, as_json, models_dir, ae_model):
    """Find the images under FOLDER most similar to QUERY. Encodings are cached and reused while files are
    unchanged (path, size, mtime)."""
    from ..similarity.io import load_image
    from ..similarity.search import search as run_search

    query_image = load_image(query)
    comparator = create(method, **_options(models_dir, ae_model))
    quiet = bool((ctx.find_root().obj or {}).get("quiet"))
    hits, stats = run_search(comparator, query_image, folder, top=top, use_cache=not no_cache,
                             cache_dir=cache_dir, progress=not quiet and not as_json)
    root = Path(folder)
    rel = [Path(h.path).relative_to(root).as_posix() if Path(h.path).is_relative_to(root) else h.path
           for h in hits]
    if as_json:
        click.echo(json.dumps({"query": query, "folder": folder, "method": method,
                               "results": [{"rank": i + 1, "path": h.path, "score": round(h.score, 6),
                                            "reason": h.reason} for i, h in enumerate(hits)],
                               "stats": {k: v for k, v in vars(stats).items()}}, indent=2))
        return
    click.echo(_table(["rank", "score", "path", "reason"],
                      [[i + 1, f"{h.score:.4f}", r, h.reason] for i, (h, r) in enumerate(zip(hits, rel))]))
    if not quiet:
        click.echo(f"{stats.files} images ({stats.encoded} encoded, {stats.reused} from cache, {stats.failed} "
                   f"without encoding); encoding {stats.encode_s:.2f} s, search {stats.search_s * 1000:.1f} ms",
                   err=True)


@click.group("autoencoder")
def autoencoder():
    """Train the small convolutional autoencoder used by `-m autoencoder` (needs torch)."""


@autoencoder.command("train")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Model file to write (.pt).")
@click.option("--epochs", default=40, show_default=True, type=click.IntRange(1, 10000),
              help="Passes over the images.")
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(1, 4096))
@click.option("--latent", default=64, show_default=True, type=click.IntRange(2, 4096), help="Latent size.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.pass_context
def train(ctx, folder, output, epochs, batch_size, latent, seed):
    """Train on every image under FOLDER and save the model to OUTPUT."""
    from ..similarity.autoencoder import train as run_train

    quiet = bool((ctx.find_root().obj or {}).get("quiet"))

    def progress(epoch, total, loss):
        if not quiet:
            click.echo(f"epoch {epoch}/{total}  loss {loss:.5f}", err=True)

    summary = run_train(folder, output, epochs=epochs, batch_size=batch_size, latent=latent, seed=seed,
                        progress=progress)
    click.echo(f"saved {summary['output']} ({summary['images']} images, {summary['skipped']} skipped, "
               f"{summary['epochs']} epochs, final loss {summary['loss']:.5f})")


COMMANDS = [compare, search, autoencoder]
