"""Profiles: named run settings shipped inside the package (facecluster/profiles/NAME.toml), so a
pip-installed facecluster has them. A profile is an ordinary config file; it may only name models that
a user can obtain from their publishers (official download or pip package), which
`facecluster models download --profile NAME` fetches and checks.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError

PROFILE_DIR = Path(__file__).with_name("profiles")


def names() -> list[str]:
    """The shipped profiles, by name."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def path(name: str) -> Path:
    """The TOML file of a shipped profile; a path to a TOML file is accepted as is."""
    shipped = PROFILE_DIR / f"{name}.toml"
    if shipped.is_file():
        return shipped
    given = Path(name).expanduser()
    if given.suffix == ".toml" and given.is_file():
        return given
    raise ConfigError(f"unknown profile {name!r}; choose one of: {', '.join(names())} (or a .toml file)")


def load(name: str):
    """The Config a profile describes."""
    from .config import build_config

    return build_config(path(name))


def required_models(name: str) -> list[str]:
    """Registry names of the models the profile's backends load."""
    from .registry import required_models as needed

    return needed(load(name))
