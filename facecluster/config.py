"""Run settings: one table (the dataclass fields and their metadata) feeds the dataclass defaults,
the TOML config file keys and the CLI options. Precedence: CLI > config file > default."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError


def _opt(default, help: str, range=None, choices=None, cli=True):
    return field(default=default, metadata={"help": help, "range": range, "choices": choices, "cli": cli})


@dataclass
class Config:
    # video sampling
    fps: float = _opt(1.0, "Frames sampled per second of video.", range=(0.01, 120.0))
    max_seconds: float = _opt(0.0, "Stop after this many seconds of video (0 = whole video).", range=(0.0, 1e7))
    shot_threshold: float = _opt(
        0.06, "Shot cuts: minimum mean luma change (0-1) between consecutive frames that starts a new shot "
              "(it must also be 3x the recent typical change).",
        range=(0.01, 1.0))
    # faces
    face_detector: str = _opt("dlib-hog", "Face detector backend (see `facecluster backends`).")
    face_detector_model: str = _opt("", "Detector model name or path (empty = the backend's default).")
    face_embedder: str = _opt("dlib", "Face embedder backend (see `facecluster backends`).")
    face_embedder_model: str = _opt("", "Embedder model name or path (empty = the backend's default).")
    embed_flip: bool = _opt(True, "Also embed the mirrored face and average (ONNX embedders; steadier, 2x cost).")
    detect_threshold: float = _opt(0.6, "Minimum face detector score (yunet/scrfd).", range=(0.0, 1.0))
    dlib_upsample: int = _opt(0, "dlib-hog: times to upsample the frame (finds smaller faces, ~4x slower each).",
                              range=(0, 3))
    detect_max_side: int = _opt(0, "Downscale frames so their long side is at most this before face detection "
                                   "(0 = full resolution).", range=(0, 10000))
    min_face_size: int = _opt(20, "Ignore faces smaller than this many pixels (shorter box side).", range=(0, 10000))
    # persons and clothing
    person_detector: str = _opt("", "Person detector backend: '' (none) or 'yolo' (YOLOv8/YOLO11/YOLOX ONNX).")
    person_detector_model: str = _opt("", "Person detector model name or path (empty = yolox-nano).")
    person_threshold: float = _opt(0.4, "Minimum person detector confidence (0.25 also finds edge-cut people, "
                                                      "but adds partial-body boxes).", range=(0.0, 1.0))
    person_nms: float = _opt(0.45, "Person detector NMS IoU threshold.", range=(0.0, 1.0))
    clothing_embedder: str = _opt("", "Clothing embedder: '' (none), 'hsv-hist' (builtin colour histogram) or "
                                      "'reid' (OSNet-style ONNX re-ID).")
    clothing_embedder_model: str = _opt("", "Clothing embedder model name or path (empty = the backend's default).")
    clothing_weight: float = _opt(0.5, "Weight of clothing vs face evidence when grouping faces (0 = faces only).",
                                  range=(0.0, 1.0))
    clothing_window_s: float = _opt(0.0, "Only trust clothing between appearances this close in time "
                                         "(0 = the whole video; clothes rarely change within an episode).",
                                    range=(0.0, 1e7))
    upscale: str = _opt("", "Super-resolution model for small faces before embedding, e.g. fsrcnn-x2, espcn-x3, "
                            "lapsrn-x4, edsr-x4 ('' = off).")
    upscale_min_face: int = _opt(40, "Upscale faces whose shorter side is below this many pixels.", range=(1, 10000))
    # tracking
    track_iou: float = _opt(0.2, "Minimum box IoU for linking a face to a track without embedding support.",
                            range=(0.0, 1.0))
    track_max_distance: float = _opt(0.0, "Maximum embedding cosine distance for linking a face to a track "
                                          "(0 = the embedder's same-person threshold).", range=(0.0, 2.0))
    # clustering
    min_cluster_size: int = _opt(2, "HDBSCAN min_cluster_size, counted in tracks.", range=(2, 10000))
    min_samples: int = _opt(1, "HDBSCAN min_samples (higher = more conservative, more noise).", range=(1, 10000))
    cluster_distance: float = _opt(0.0, "Cosine distance under which two groups of tracks are the same person "
                                        "(0 = the embedder's calibrated default).", range=(0.0, 2.0))
    min_person_detections: int = _opt(2, "A track not joined to any person needs this many detections to count "
                                         "as a person of its own; shorter ones are noise (-1).", range=(1, 100000))
    # outputs
    thumb_size: int = _opt(112, "Side of face thumbnails in pixels.", range=(16, 1024))
    max_thumbs_per_person: int = _opt(12, "Face thumbnails kept per person.", range=(1, 10000))
    models_dir: str = _opt("", "Extra folder to look for model files in (before FACECLUSTER_MODELS).")

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            expected = type(f.default)
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
                setattr(self, f.name, value)
            if not isinstance(value, expected) or isinstance(value, bool) != isinstance(f.default, bool):
                raise ConfigError(f"config option {f.name!r} must be {expected.__name__}, got {value!r}")
            lo_hi = f.metadata.get("range")
            if lo_hi and not (lo_hi[0] <= value <= lo_hi[1]):
                raise ConfigError(f"config option {f.name!r} = {value} is outside [{lo_hi[0]}, {lo_hi[1]}]")
            choices = f.metadata.get("choices")
            if choices and value not in choices:
                raise ConfigError(f"config option {f.name!r} = {value!r}; choose one of: {', '.join(choices)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "Config":
        return build_config(base=self.to_dict(), overrides=changes)


def option_table() -> list[dataclasses.Field]:
    """The fields of Config in declaration order: name, default, metadata (help, range, choices)."""
    return list(dataclasses.fields(Config))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file. Tables are flattened, so `[faces] face_detector = ...` also works."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def build_config(config_file: str | Path | None = None, overrides: dict[str, Any] | None = None,
                 base: dict[str, Any] | None = None) -> Config:
    """Defaults < base < config file < overrides (None values in overrides are ignored)."""
    values: dict[str, Any] = dict(base or {})
    if config_file:
        values.update(read_config_file(config_file))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = {f.name for f in option_table()}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown config option(s): {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    return Config(**values)


def to_toml(config: Config) -> str:
    """A TOML file with every option, its help as a comment, readable back by read_config_file."""
    lines = []
    for f in option_table():
        value = getattr(config, f.name)
        lines.append(f"# {f.metadata['help']}")
        if isinstance(value, str):
            lines.append(f'{f.name} = "{value}"')
        elif isinstance(value, bool):
            lines.append(f"{f.name} = {'true' if value else 'false'}")
        else:
            lines.append(f"{f.name} = {value}")
    return "\n".join(lines) + "\n"
