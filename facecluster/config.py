"""Run settings: one table (the dataclass fields and their metadata) feeds the dataclass defaults,
the TOML config file keys and the CLI options. Precedence: CLI > config file > default."""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

log = logging.getLogger(__name__)


# Which commands an option applies to: "extract" options change what is detected, embedded and tracked
# (they need the video: `run` only); "group" options change how units become people (`run` and
# `recluster`); "output" options change what is written; "system" options change how, not what.
SCOPES = ("extract", "group", "output", "system")


def _opt(default, help: str, range=None, choices=None, cli=True, scope="extract"):
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    return field(default=default, metadata={"help": help, "range": range, "choices": choices, "cli": cli,
                                            "scope": scope})


@dataclass
class Config:
    # video sampling
    fps: float = _opt(1.0, "Frames sampled per second of video.", range=(0.01, 120.0))
    max_seconds: float = _opt(0.0, "Stop after this many seconds of video (0 = whole video).", range=(0.0, 1e7))
    shot_threshold: float = _opt(
        0.06, "Shot cuts: minimum mean luma change (0-1) between consecutive frames that starts a new shot "
              "(it must also be 3x the recent typical change).",
        range=(0.01, 1.0))
    deinterlace: str = _opt("auto", "Interlaced video (broadcast 576i/1080i, tape transfers): repair the combed, "
                                    "moving parts of sampled frames: 'auto' (frames the stream marks as interlaced), "
                                    "'on' (every frame) or 'off'.", choices=("auto", "on", "off"))
    # faces
    face_detector: str = _opt("dlib-hog", "Face detector backend (see `facecluster backends`).")
    face_detector_model: str = _opt("", "Detector model name or path (empty = the backend's default).")
    face_embedder: str = _opt("dlib", "Face embedder backend (see `facecluster backends`).")
    face_embedder_model: str = _opt("", "Embedder model name or path (empty = the backend's default).")
    face_embedder_preprocess: str = _opt("", "torch face embedder: preprocessing preset (facenet, edgeface, arcface "
                                             "[default]) or 'size=112,mean=127.5,std=127.5,rgb'.")
    embed_flip: str = _opt("auto", "Also embed the mirrored face and average: 'auto' (where it measurably helps the "
                                   "embedder: SFace, MobileFaceNet), 'on' or 'off' (it doubles embedding cost).",
                           choices=("auto", "on", "off"))
    detect_threshold: float = _opt(0.6, "Minimum face detector score (yunet/scrfd).", range=(0.0, 1.0))
    dlib_upsample: int = _opt(0, "dlib-hog: times to upsample the frame (finds smaller faces, ~4x slower each).",
                              range=(0, 3))
    detect_max_side: int = _opt(0, "Downscale frames so their long side is at most this before face detection "
                                   "(0 = full resolution).", range=(0, 10000))
    refine_landmarks: str = _opt("", "Re-find each face's 5 landmarks on a full-resolution window where the face is "
                                     "96 px: '' (off), 'scrfd' (best alignment, +3 ms a face; non-commercial "
                                     "weights) or 'yunet' (MIT, +10 ms a face). Helps small faces most.",
                                 choices=("", "scrfd", "yunet"))
    min_face_size: int = _opt(20, "Ignore faces smaller than this many pixels (shorter box side).", range=(0, 10000))
    # bodies (person boxes) and clothing
    body_detector: str = _opt("", "Body (person box) detector backend: '' (none) or 'yolo' (YOLOv8/YOLO11/YOLOX "
                                  "ONNX).")
    body_detector_model: str = _opt("", "Body detector model name or path (empty = yolox-nano).")
    body_threshold: float = _opt(0.4, "Minimum body detector confidence (0.25 also finds edge-cut people, "
                                      "but adds partial-body boxes).", range=(0.0, 1.0))
    body_nms: float = _opt(0.45, "Body detector NMS IoU threshold.", range=(0.0, 1.0))
    clothing_embedder: str = _opt("", "Clothing embedder: '' (none), 'hsv-hist' (builtin colour histogram) or "
                                      "'reid' (OSNet-style ONNX re-ID).")
    clothing_embedder_model: str = _opt("", "Clothing embedder model name or path (empty = the backend's default).")
    clothing_weight: float = _opt(0.5, "Weight of clothing vs face evidence when grouping faces (0 = faces only).",
                                  range=(0.0, 1.0), scope="group")
    clothing_veto: float = _opt(1.5, "Clothing is ignored for two faces whose distance is at least this many times "
                                     "the same-person distance (clothes may pull ambiguous faces together, never "
                                     "clearly different ones).", range=(0.0, 10.0), scope="group")
    clothing_window_s: float = _opt(0.0, "Only trust clothing between appearances this close in time "
                                         "(0 = the whole video; clothes rarely change within an episode).",
                                    range=(0.0, 1e7), scope="group")
    upscale: str = _opt("", "Super-resolution model for small faces before embedding, e.g. fsrcnn-x2, espcn-x3, "
                            "lapsrn-x4, edsr-x4 ('' = off).")
    upscale_min_face: int = _opt(40, "Upscale faces whose shorter side is below this many pixels.", range=(1, 10000))
    # tracking
    track_iou: float = _opt(0.2, "Minimum box IoU for linking a face to a track without embedding support.",
                            range=(0.0, 1.0))
    track_max_distance: float = _opt(0.0, "Maximum embedding cosine distance for linking a face to a track "
                                          "(0 = the embedder's same-person threshold).", range=(0.0, 2.0))
    # clustering
    min_cluster_size: int = _opt(2, "HDBSCAN min_cluster_size, counted in tracks.", range=(2, 10000),
                                 scope="group")
    min_samples: int = _opt(1, "HDBSCAN min_samples (higher = more conservative, more noise).",
                            range=(1, 10000), scope="group")
    cluster_distance: float = _opt(0.0, "Cosine distance under which two groups of tracks are the same person "
                                        "(0 = the embedder's calibrated default).", range=(0.0, 2.0), scope="group")
    calibrate_cut: bool = _opt(False, "Move the same-person distance within 0.85-1.15x the embedder's prior from "
                                      "this video's own faces that share a frame (an experiment: see BENCHMARKS.md).",
                               scope="group")
    reliable_face: float = _opt(0.0, "Faces smaller than this (px, shorter box side) embed too poorly to shape the "
                                     "people: their tracks join the nearest person afterwards or stay unassigned "
                                     "(0 = every face counts alike).", range=(0.0, 10000.0), scope="group")
    min_person_detections: int = _opt(2, "A track not joined to any person needs this many detections to count "
                                         "as a person of its own; shorter ones are noise (-1).", range=(1, 100000),
                                      scope="group")
    # outputs
    thumb_size: int = _opt(112, "Side of face thumbnails in pixels.", range=(16, 1024))
    max_thumbs_per_person: int = _opt(12, "Face thumbnails kept per person.", range=(1, 10000), scope="group")
    models_dir: str = _opt("", "Extra folder to look for model files in (before FACECLUSTER_MODELS).", scope="system")
    device: str = _opt("auto", "Where models run: 'cpu', 'cuda' (fails if no CUDA) or 'auto' (CUDA when onnxruntime-gpu "
                               "sees a GPU, else the CPU with one notice).", choices=("auto", "cpu", "cuda"),
                       scope="system")
    runtime: str = _opt("auto", "What runs the face and re-ID embedders on the CPU: 'openvino' (1.5-4x faster; `pip "
                                "install 'facecluster[openvino]'`), 'onnxruntime' (onnxruntime or OpenCV's dnn, "
                                "whichever measured faster for the model) or 'auto' (OpenVINO when installed). The "
                                "detectors always run on onnxruntime.",
                        choices=("auto", "openvino", "onnxruntime"), scope="system")
    precision: str = _opt("f32", "Number format of the OpenVINO runtime: 'bf16' embeds faces about 3x faster again on "
                                 "CPUs with bfloat16 units (Intel AMX/AVX-512 BF16; elsewhere it stays f32) but "
                                 "scored lower on the grouping benchmark (BENCHMARKS.md).",
                          choices=("f32", "bf16"), scope="system")
    workers: int = _opt(0, "Inference threads beside the decoder (0 = from the cores this process may use).",
                        range=(0, 256), scope="system")

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


def option_table(scopes: tuple[str, ...] | None = None) -> list[dataclasses.Field]:
    """The fields of Config in declaration order: name, default, metadata (help, range, choices, scope);
    only those of `scopes` when given."""
    return [f for f in dataclasses.fields(Config) if scopes is None or f.metadata["scope"] in scopes]


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


# old option names still read from config files and Python callers (face/body/person naming of 0.2)
RENAMED = {"person_detector": "body_detector", "person_detector_model": "body_detector_model",
           "person_threshold": "body_threshold", "person_nms": "body_nms"}


def _renamed(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if key == "embed_flip" and isinstance(value, bool):  # true/false of 0.1 config files
            value = "on" if value else "off"
        new = RENAMED.get(key)
        if new is not None:
            log.warning("config option %r is now called %r; please rename it", key, new)
            if new in values:
                continue
            key = new
        out[key] = value
    return out


def build_config(config_file: str | Path | None = None, overrides: dict[str, Any] | None = None,
                 base: dict[str, Any] | None = None) -> Config:
    """Defaults < base < config file < overrides (None values in overrides are ignored)."""
    values: dict[str, Any] = _renamed(dict(base or {}))
    if config_file:
        values.update(_renamed(read_config_file(config_file)))
    values.update(_renamed({k: v for k, v in (overrides or {}).items() if v is not None}))
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
