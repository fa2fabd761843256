"""Errors users can act on. Each message says what went wrong and what to do next.

The CLI turns these into one line on stderr and the exit code below; anything else is a bug.
"""


class FaceclusterError(Exception):
    """Base class; `exit_code` is what the CLI exits with."""

    exit_code = 1


class ConfigError(FaceclusterError):
    """An option, config file or backend name is invalid."""

    exit_code = 2


class InputError(FaceclusterError):
    """The input video or image is missing, unreadable, corrupt or empty."""

    exit_code = 3


class ModelError(FaceclusterError):
    """A model file is missing, fails its checksum or cannot be loaded."""

    exit_code = 4


class OutputError(FaceclusterError):
    """The output directory cannot be written or is not a facecluster output."""

    exit_code = 5


class DependencyError(FaceclusterError):
    """An optional package needed for the requested feature is not installed."""

    exit_code = 6


def unknown_name(kind: str, name: str, valid) -> ConfigError:
    """Error for an unknown backend/model/method name, listing the valid ones."""
    choices = ", ".join(sorted(valid)) or "(none installed)"
    return ConfigError(f"unknown {kind} {name!r}; choose one of: {choices}")
