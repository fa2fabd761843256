"""Which face embedder made a set of vectors: backend name, model file sha256 and vector size.

Why the sha256: vectors of two models (or of two versions of one model file) are not comparable, and
nothing in the numbers themselves says so: a library that mixed them would name strangers. A library is
tied to the embedder of its first faces and refuses any other with a clear error.
"""

from __future__ import annotations

from pathlib import Path

from .. import registry
from ..errors import ConfigError, InputError


def _wanted_model(backend: str, model: str) -> str:
    return model or registry.entry("face-embedder", backend).models[0]


def _keys(model: str) -> set[str]:
    """Names under which a model can appear in a run's list of models."""
    from .. import models

    keys = {model, Path(model).name, Path(model).stem}
    pending = registry.PENDING_MODELS.get(model)
    if pending:
        keys |= {pending, Path(pending).stem}
    try:
        spec = models.get_spec(model)
        keys |= {spec.name, spec.file, Path(spec.file).stem}
    except ConfigError:
        pass
    return {k for k in keys if k}


def identity(backend: str, model_name: str, sha256: str, dim: int | None, prior: float | None) -> dict:
    return {"backend": backend, "model": model_name, "sha256": sha256, "dim": int(dim) if dim else None,
            **({"same_person_distance": float(prior)} if prior else {})}


def of_run(meta: dict, where: str = "the run") -> dict:
    """The embedder recorded by a run (its extraction meta or manifest: config + models + spaces)."""
    config = meta.get("config") or {}
    backend = config.get("face_embedder")
    dim = (meta.get("spaces") or {}).get("face")
    if not backend or not dim:
        raise InputError(f"{where} does not record its face embedder; run it again with this facecluster")
    keys = _keys(_wanted_model(backend, config.get("face_embedder_model") or ""))
    for m in meta.get("models") or []:
        if m.get("name") in keys or Path(str(m.get("path", ""))).name in keys:
            return identity(backend, m.get("name"), m["sha256"], dim, meta.get("face_prior"))
    raise InputError(f"cannot tell which model file embedded the faces of {where} (none of its models "
                     f"matches {backend}); run it again with this facecluster")


def of_config(config) -> dict:
    """The embedder a run with `config` will use (resolves the model file and its sha256, loads nothing;
    the vector size is known once the model is loaded)."""
    model = registry.resolve_model(_wanted_model(config.face_embedder, config.face_embedder_model),
                                   config.models_dir or None)
    return identity(config.face_embedder, model.name, model.sha256, None, None)


def describe(e: dict) -> str:
    size = f"{e['dim']}-d, " if e.get("dim") else ""
    return f"{e['backend']} ({e['model']}, {size}model sha256 {e['sha256'][:12]})"


def same(a: dict, b: dict) -> bool:
    """Same backend and model file (and vector size, where both know it)."""
    dims = a.get("dim") and b.get("dim")
    return a["backend"] == b["backend"] and a["sha256"] == b["sha256"] and (not dims or a["dim"] == b["dim"])
