"""Click options generated from the config table, plus a tqdm progress hook."""

from __future__ import annotations

import click

from ..config import option_table

_TYPES = {float: float, int: int, str: str, bool: bool}


def config_options(func=None, *, scopes: tuple[str, ...] | None = None):
    """Add one --option per config field of `scopes` (all by default), default None so only what the user
    typed overrides. Usable as @config_options or @config_options(scopes=("group",))."""
    if func is None:
        return lambda f: config_options(f, scopes=scopes)
    for f in reversed(option_table(scopes)):
        if not f.metadata.get("cli", True):
            continue
        meta = f.metadata
        help_text = meta["help"] + f" [default: {f.default!r}"
        if meta.get("range"):
            help_text += f"; range {meta['range'][0]}..{meta['range'][1]}"
        help_text += "]"
        kind = click.Choice(meta["choices"]) if meta.get("choices") else _backend_choice(f.name) or \
            _TYPES[type(f.default)]
        func = click.option("--" + f.name.replace("_", "-"), f.name, type=kind, default=None,
                            help=help_text)(func)
    return func


# options naming a backend: a wrong name fails while the command line is parsed, listing the valid ones
_BACKEND_OPTIONS = {"face_detector": "face-detector", "face_embedder": "face-embedder",
                    "body_detector": "body-detector", "clothing_embedder": "clothing-embedder"}


def _backend_choice(name: str):
    kind = _BACKEND_OPTIONS.get(name)
    if kind is None:
        return None
    from .. import registry

    optional = name in ("body_detector", "clothing_embedder")
    return click.Choice(([""] if optional else []) + registry.names(kind))


def overrides_from(kwargs: dict) -> dict:
    names = {f.name for f in option_table()}
    return {k: v for k, v in kwargs.items() if k in names and v is not None}


UNITS = {"frames": "frame", "annotate": "frame", "episodes": "episode"}  # what a step counts


class ProgressHook:
    """hook(step, completed=, total=) -> one tqdm bar per step; silent when disabled."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bars = {}

    def __call__(self, step, completed=None, total=None):
        if not self.enabled or completed is None:
            return
        from tqdm import tqdm

        bar = self.bars.get(step)
        if bar is None:
            bar = self.bars[step] = tqdm(total=total, desc=step, unit=UNITS.get(step, step), dynamic_ncols=True,
                                         leave=False)
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(completed - bar.n)

    def close(self):
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def library_note(person: dict) -> str:
    """' (library 0.83)' for a name a people library gave, " (maybe 'Ann', 0.52)" for its suggestion."""
    if person.get("library_similarity") is not None:
        return f" (library {person['library_similarity']:.2f})"
    if person.get("library_suggestion"):
        return f" (maybe {person['library_suggestion']['name']!r}, {person['library_suggestion']['similarity']:.2f})"
    return ""
