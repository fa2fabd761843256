"""How times and counts read to people, the same in the CLI, the report and the review app."""

from __future__ import annotations


def fmt_time(seconds) -> str:
    """0:09.9, 12:03.0, 1:02:03.0"""
    seconds = max(float(seconds or 0.0), 0.0)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h)}:{int(m):02d}:{s:04.1f}" if h else f"{int(m)}:{s:04.1f}"


def plural(n, one: str, many: str | None = None) -> str:
    """"1 person", "2 people", "0 faces"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def noun(n, one: str, many: str | None = None) -> str:
    """The noun alone, for aligned columns: noun(1, "face") == "face"."""
    return one if n == 1 else (many or one + "s")
