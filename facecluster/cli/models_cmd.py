"""`facecluster models list|download|verify`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .. import models as registry
from .. import profiles
from ..errors import ModelError


@click.group("models")
def models_group():
    """Model files: where they are, where they come from, fetch them, check them."""


def _profile_models(profile: str | None) -> list[str] | None:
    return profiles.required_models(profile) if profile else None


def _size(n: int | None) -> str:
    if not n:
        return "?"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _commercial(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "unclear"}[value]


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _row(spec, models_dir) -> dict:
    used, path = registry.find(spec, models_dir) or (None, None)
    row = spec.to_dict()
    row["found"] = str(path) if used is spec else None
    if used is not None and used is not spec:
        row["stand_in"] = {"name": used.name, "path": str(path)}
    row["get"] = None if used is not None else registry.how_to_get(spec)
    return row


@models_group.command("list")
@click.option("--models-dir", type=click.Path(file_okay=False), default=None, help="Extra folder to look in.")
@click.option("--profile", default=None, help=f"Only the models a profile needs ({', '.join(profiles.names())}).")
@click.option("--json", "as_json", is_flag=True, help="Every field (URLs, full sha256, licence) as JSON.")
def list_cmd(models_dir, profile, as_json):
    """Every known model: task, size, licence, commercial use, source, sha256 and where it was found (or
    the command that gets it)."""
    wanted = _profile_models(profile)
    specs = [registry.get_spec(n) for n in wanted] if wanted is not None else list(registry.REGISTRY.values())
    rows = [_row(spec, models_dir) for spec in specs]
    if as_json:
        click.echo(json.dumps({"cache_dir": str(registry.cache_dir()), "models": rows}, indent=2))
        return
    header = ("NAME", "TASK", "SIZE", "LICENCE", "COMMERCIAL", "SOURCE", "SHA256",
              "WHERE (OR HOW TO GET IT)")
    table = [header]
    for row in rows:
        where = row["found"] or (f"{row['stand_in']['name']} stands in: {row['stand_in']['path']}"
                                 if "stand_in" in row else row["get"])
        licence = _clip(row["license"].replace("LicenseRef-", ""), 24)
        table.append((row["name"], _clip(row["task"], 20), _size(row["size"]), licence,
                      _commercial(row["commercial_use"]), _clip(row["source"], 32),
                      row["sha256"][:12] if row["sha256"] else "unpinned", where))
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    for r in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    click.echo(f"\nModels are looked for in --models-dir, $FACECLUSTER_MODELS, then {registry.cache_dir()}. "
               f"`--json` gives URLs, full sha256 and licence notes.")


def _plan(names, profile, all_, allow_unpinned, models_dir, dest) -> tuple[list[str], list[str]]:
    """(models to download, lines for models already in place); every problem raised before any download."""
    wanted = list(names) + (_profile_models(profile) or [])
    if all_:
        wanted += [s.name for s in registry.REGISTRY.values()
                   if s.downloadable and (s.sha256 or allow_unpinned)]
    wanted = list(dict.fromkeys(registry.get_spec(n).name for n in wanted))
    if not wanted:
        raise click.UsageError("name at least one model, or pass --profile NAME or --all "
                               "(see `facecluster models list`)")
    todo, present, problems = [], [], []
    for name in wanted:
        spec = registry.get_spec(name)
        path, _ = registry.locate(spec, models_dir) if dest is None else (None, [])
        if path is not None:
            try:
                registry.verify(path, spec)
                present.append(f"{name}: already there: {path}" + ("" if spec.sha256 else " (unpinned)"))
                continue
            except ModelError:
                pass  # a damaged copy elsewhere: fetch a good one into the cache
        try:
            registry.check_downloadable(name, allow_unpinned)
            todo.append(name)
        except ModelError as exc:
            problems.append(str(exc))
    if problems:
        raise ModelError("nothing downloaded: " + " | ".join(problems))
    return todo, present


class _LazyBar:
    """A tqdm bar drawn once data flows: no empty bar for a download that never starts."""

    def __init__(self, label: str, quiet: bool):
        self.label, self.quiet, self.bar = label, quiet, None

    def update(self, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(desc=self.label, total=total, unit="B", unit_scale=True, disable=self.quiet, leave=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@models_group.command("download")
@click.argument("names", nargs=-1)
@click.option("--profile", default=None, help=f"Every model a profile needs ({', '.join(profiles.names())}).")
@click.option("--all", "all_", is_flag=True, help="Every model that has an official download (and a pinned sha256, "
                                                  "unless --allow-unpinned).")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to save into [default: the user cache, see `models list`].")
@click.option("--mirror", default=None, help="Base URL tried first as MIRROR/FILE (or $FACECLUSTER_MODEL_MIRROR).")
@click.option("--mirror-only", is_flag=True, help="Fetch from the mirror only, never from the official hosts.")
@click.option("--allow-unpinned", is_flag=True,
              help="Also install files the registry has no sha256 for (their sha256 is printed; check it).")
@click.option("--allow-host", "allow_hosts", multiple=True,
              help="Host a download may be redirected to (besides the same host and the official file hosts).")
@click.option("--timeout", type=click.FloatRange(1, 86400), default=600.0, show_default=True,
              help="Seconds allowed for each file as a whole.")
@click.option("--models-dir", type=click.Path(file_okay=False), default=None, help="Extra folder to look in first.")
@click.pass_context
def download_cmd(ctx, names, profile, all_, dest, mirror, mirror_only, allow_unpinned, allow_hosts, timeout,
                 models_dir):
    """Download models by name or by profile from their official sources, each verified by its sha256
    before it is installed. Models already found (with the right sha256) are not fetched again."""
    quiet = ctx.obj.get("quiet", False)
    todo, present = _plan(names, profile, all_, allow_unpinned, models_dir, dest)
    for line in present:
        if not quiet:
            click.echo(line)
    for name in todo:
        spec = registry.get_spec(name)
        bar = _LazyBar(spec.file, quiet)
        try:
            path = registry.download(name, dest, mirror=mirror, progress=bar.update, timeout=timeout,
                                     allow_unpinned=allow_unpinned, allow_hosts=tuple(allow_hosts),
                                     mirror_only=mirror_only)
        finally:
            bar.close()
        if not quiet:
            digest = registry.sha256_of(path)
            note = "sha256 verified" if spec.sha256 else f"UNPINNED sha256 {digest}: compare it with the publisher's"
            click.echo(f"{spec.name}: {path} ({note})")


@models_group.command("verify")
@click.argument("names", nargs=-1)
@click.option("--models-dir", type=click.Path(file_okay=False), default=None, help="Extra folder to look in.")
def verify_cmd(names, models_dir):
    """Check the sha256 of installed model files (all found ones by default). Exit 4 on any failure."""
    specs = [registry.get_spec(n) for n in names] or list(registry.REGISTRY.values())
    failed = []
    for spec in specs:
        path, _ = registry.locate(spec, models_dir)
        if path is None:
            if names:
                failed.append(spec.name)
                click.echo(f"{spec.name:<24} MISSING  {registry.how_to_get(spec)}")
            continue
        try:
            digest = registry.verify(path, spec)
            state = "ok" if spec.sha256 else "unpinned"
            click.echo(f"{spec.name:<24} {state:<8} {digest}  {path}")
        except ModelError:
            failed.append(spec.name)
            click.echo(f"{spec.name:<24} BAD      sha256 mismatch  {path}")
    if failed:
        raise ModelError(f"{len(failed)} model(s) failed verification: {', '.join(failed)}")


@models_group.command("export")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The ONNX file to write (an existing file is never replaced).")
@click.option("--preset", default="arcface", show_default=True,
              help="Preprocessing: facenet (160, (x-127.5)/128), edgeface (112, (x-127.5)/127.5), arcface "
                   "(112, (x-127.5)/128) or a spec 'size=112,mean=127.5,std=127.5,rgb'.")
@click.option("--opset", type=click.IntRange(13, 23), default=17, show_default=True, help="ONNX opset.")
@click.option("--atol", type=click.FloatRange(0, 1), default=1e-4, show_default=True,
              help="Largest difference from torch accepted (scaled by the output's size when above 1).")
def export_cmd(model, output, preset, opset, atol):
    """Export a torch face embedder (.pt: TorchScript or a whole pickled nn.Module) to ONNX once, with a
    dynamic batch, checked against torch with onnxruntime, so runs stay on onnxruntime. Needs the [torch]
    extra and the onnx package."""
    from ..export import export_onnx

    report = export_onnx(model, output, preset, opset=opset, atol=atol)
    click.echo(f"wrote {report.path} ({report.dim}-d, input {report.preprocess.size}x{report.preprocess.size}; "
               f"max |onnx - torch| = {report.max_difference:.2g} <= {report.tolerance:.2g})")
    backend = report.preprocess.onnx_backend
    if backend:
        click.echo(f"use it with: --face-embedder {backend} --face-embedder-model {report.path}")
    else:
        click.echo(f"no ONNX embedder of facecluster uses {report.preprocess.describe()}: run the .pt with "
                   f"--face-embedder torch --face-embedder-preprocess '{preset}'")


COMMANDS = [models_group]
