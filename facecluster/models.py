"""Model registry: which file each model name means, where to get it and how to check it.

Resolution order for a name: explicit path -> `models_dir` option -> $FACECLUSTER_MODELS ->
user cache ($FACECLUSTER_CACHE or ~/.cache/facecluster/models) -> the pip package that ships it
(dlib models). Nothing is downloaded unless `download()` is called (`facecluster models download`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import ModelError, unknown_name

log = logging.getLogger("facecluster")
ZOO = "https://github.com/opencv/opencv_zoo/raw/main/models"
SUPERRES = {"FSRCNN": "Saafke/FSRCNN_Tensorflow/raw/master/models",
            "FSRCNN-small": "Saafke/FSRCNN_Tensorflow/raw/master/models",
            "ESPCN": "fannymonori/TF-ESPCN/raw/master/export", "LapSRN": "fannymonori/TF-LapSRN/raw/master/export"}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    file: str
    task: str
    preprocessing: str
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    license: str = ""
    package: str | None = None  # pip package that ships the file (offline builtin)


def _specs() -> list[ModelSpec]:
    dlib_pkg = "face_recognition_models"
    specs = [
        ModelSpec("dlib-resnet", "dlib_face_recognition_resnet_model_v1.dat", "face-embedding",
                  "dlib 5-point face chip 150x150 RGB (dlib.get_face_chip, padding 0.25)",
                  ("http://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2",),
                  "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30", "CC0 (dlib)", dlib_pkg),
        ModelSpec("dlib-5-landmarks", "shape_predictor_5_face_landmarks.dat", "face-landmarks",
                  "dlib shape predictor on a face rectangle, grayscale or RGB",
                  ("http://dlib.net/files/shape_predictor_5_face_landmarks.dat.bz2",),
                  "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888", "CC0 (dlib)", dlib_pkg),
        ModelSpec("yunet", "face_detection_yunet_2023mar.onnx", "face-detection",
                  "cv2.FaceDetectorYN, BGR any size; boxes + 5 landmarks + score",
                  (f"{ZOO}/face_detection_yunet/face_detection_yunet_2023mar.onnx",),
                  "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4", "MIT (opencv_zoo)"),
        ModelSpec("scrfd-500m", "scrfd_500m_bnkps.onnx", "face-detection",
                  "onnxruntime, RGB (x-127.5)/128, 640 letterbox; score/bbox/kps at strides 8/16/32",
                  ("https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_s.zip",),
                  "6c6ba7956684796d7d582bfa1ab95dfe01dd280159f6bff1e23c1bc32bcc8431",
                  "insightface: non-commercial research only"),
        ModelSpec("mobilefacenet-paddle", "MobileFaceNet_128d_paddle.onnx", "face-embedding",
                  "ArcFace 5-point similarity transform to 112x112, RGB (x-127.5)/128, NCHW",
                  (), "6ced4e0c36abba9dd24b48d725f7dbb94089f75b3d3445d3d67b85157cb64743", "research only (unconfirmed)"),
        ModelSpec("mobilefacenet-pytorch", "mobilefacenet_128d_pytorch.onnx", "face-embedding",
                  "ArcFace 5-point similarity transform to 112x112, RGB (x-127.5)/128, batch 1",
                  (), "f055d9c9a4d826d198c42666590fdefa0fdc1374a75ccb6306c3d1b1bf8f74c5", "unknown upstream"),
        ModelSpec("sface", "face_recognition_sface_2021dec.onnx", "face-embedding",
                  "ArcFace 5-point alignment 112x112, BGR/RGB as exported by opencv_zoo",
                  (f"{ZOO}/face_recognition_sface/face_recognition_sface_2021dec.onnx",), None, "Apache-2.0"),
        ModelSpec("w600k-r50", "w600k_r50.onnx", "face-embedding",
                  "ArcFace 5-point similarity transform to 112x112, RGB (x-127.5)/128; 512-d",
                  ("https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",), None,
                  "insightface: non-commercial research only"),
        ModelSpec("w600k-mbf", "w600k_mbf.onnx", "face-embedding",
                  "ArcFace 5-point similarity transform to 112x112, RGB (x-127.5)/128; 512-d",
                  ("https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_s.zip",), None,
                  "insightface: non-commercial research only"),
        ModelSpec("osnet-x0.25", "osnet_x0_25_msmt17.onnx", "person-reid",
                  "RGB/255 ImageNet mean/std, 256x128 (HxW), NCHW; 512-d", (),
                  "61b2604171ef9d58d21758626f83b35a253c3d7123976523a6e03068c3c95d7b",
                  "weights MIT (deep-person-reid), export AGPL (boxmot)"),
        ModelSpec("yolov8n-int8", "yolov8n_int8.onnx", "person-detection",
                  "RGB/255 letterbox 640 pad 114; output [1,84,N] cx,cy,w,h + 80 classes", (),
                  "83de8f0d2cd521e00ae2b138c340a03dece35b060b3898509bdc69afff417312", "AGPL-3.0 (Ultralytics)"),
        ModelSpec("yolov8n", "yolov8n.onnx", "person-detection",
                  "RGB/255 letterbox 640 pad 114; output [1,84,N]",
                  ("https://github.com/ultralytics/assets/releases/download/v8.3.0/yolov8n.pt",), None,
                  "AGPL-3.0 (Ultralytics)"),
        ModelSpec("yolox-nano", "yolox_nano.onnx", "person-detection",
                  "BGR 0-255, 416 top-left pad 114; output [1,N,85] raw grid (strides 8/16/32)",
                  ("https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx",),
                  "e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd", "Apache-2.0"),
        ModelSpec("mobilenetv2-int8", "mobilenetv2-12-int8.onnx", "image-embedding",
                  "RGB 224x224 ImageNet mean/std; pooled 1280-d feature tensor '472_quantized'",
                  ("https://github.com/onnx/models/raw/main/validated/vision/classification/mobilenet/model/"
                   "mobilenetv2-12-int8.onnx",),
                  "cc028fe6cae7bc11a4ff53cfc9b79c920e8be65ce33a904ec3e2a8f66d77f95f", "Apache-2.0"),
    ]
    superres = {
        "FSRCNN_x2": "366b33f0084c7b3f2bf6724f0a2c77bca94fcec9d7b6d72389d330073b380d5c",
        "FSRCNN_x3": "efd38655a815908c6c8954db6052f128e76a735f1de657894c477d0dc0b64481",
        "FSRCNN_x4": "5c68d18db561aed8ead4ffedf1b897ea615baaf60ebf6c35f8e641f8fa4a21bf",
        "FSRCNN-small_x2": "429e4793d049c1ae16ddbbc322fd11c3c08831c0c20137390b4d098976a2b0d9",
        "FSRCNN-small_x3": "58e72d0c4231b8e754180e787d7348f45ae6230ee3c5af7dc12b558467f593f7",
        "FSRCNN-small_x4": "92a9f57c28494813b4dc073b51a300cb909401454d77541bcdc96b4d55901d02",
        "ESPCN_x2": "59f77351e1d7c0057bf6fe088b4a8a07e42c468c8c8aebb674a6b4ea1823221d",
        "ESPCN_x3": "0e667db7a431d14c32568ed79bf21701a64df8b1d162e48ca1f8800affe2c2b3",
        "ESPCN_x4": "e403f06309229cf36009cd8fb0da032ba7643fae9f15cf94fe562e8edf8fef47",
        "LapSRN_x2": "f59c86e6835bbca646dbd81588f07820dfe3bd09e3702976ae2d90b5fc0f0b21",
        "LapSRN_x4": "d3e95c93cafae5ce5a8ed57ce9abf07f2de58da8c5d6d656b766774969835ee2",
        "LapSRN_x8": "a00211938b2b4c7d23691525a9267d9d0bbb345cdb9f38a7fc917414a5a1884f",
    }
    for stem, digest in superres.items():
        family = stem.split("_x")[0]
        specs.append(ModelSpec(stem.lower().replace("_", "-"), f"{stem}.pb", "super-resolution",
                               f"cv2.dnn_superres setModel('{family.split('-')[0].lower()}', {stem[-1]}), BGR",
                               (f"https://github.com/{SUPERRES[family]}/{stem}.pb",), digest, "Apache-2.0"))
    specs.append(ModelSpec("edsr-x4", "EDSR_x4.pb", "super-resolution", "cv2.dnn_superres setModel('edsr', 4)",
                           ("https://github.com/Saafke/EDSR_Tensorflow/raw/master/models/EDSR_x4.pb",), None,
                           "Apache-2.0"))
    return specs


REGISTRY: dict[str, ModelSpec] = {s.name: s for s in _specs()}
_BY_FILE = {s.file: s for s in REGISTRY.values()}
_HASH_CACHE: dict[tuple[str, int, float], str] = {}


def get_spec(name: str) -> ModelSpec:
    spec = REGISTRY.get(name) or _BY_FILE.get(name)
    if spec is None:
        raise unknown_name("model", name, REGISTRY)
    return spec


def cache_dir() -> Path:
    if os.environ.get("FACECLUSTER_CACHE"):
        return Path(os.environ["FACECLUSTER_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "facecluster" / "models"


def search_dirs(models_dir: str | os.PathLike | None = None) -> list[Path]:
    dirs = []
    if models_dir:
        dirs.append(Path(models_dir).expanduser())
    if os.environ.get("FACECLUSTER_MODELS"):
        dirs += [Path(p).expanduser() for p in os.environ["FACECLUSTER_MODELS"].split(os.pathsep) if p]
    dirs.append(cache_dir())
    return dirs


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def sha256_of(path: str | os.PathLike) -> str:
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime)
    if key not in _HASH_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _HASH_CACHE[key] = digest.hexdigest()
    return _HASH_CACHE[key]


def locate(spec: ModelSpec, models_dir=None) -> tuple[Path | None, list[str]]:
    """First existing candidate path for a spec, and every place that was looked at."""
    places = [d / spec.file for d in search_dirs(models_dir)]
    if spec.package:
        pkg_dir = _package_dir(spec.package)
        places.append(pkg_dir / spec.file if pkg_dir else Path(f"<pip package {spec.package}>") / spec.file)
    for place in places:
        if place.is_file():
            return place, [str(p) for p in places]
    return None, [str(p) for p in places]


def how_to_get(spec: ModelSpec) -> str:
    if spec.package:
        return f"install it with `pip install {spec.package.replace('_', '-')}`"
    if spec.urls:
        return f"run `facecluster models download {spec.name}` or set FACECLUSTER_MODELS to a folder holding it"
    return f"put {spec.file} in a folder and set FACECLUSTER_MODELS to it (no official download known)"


def verify(path: Path, spec: ModelSpec) -> str:
    digest = sha256_of(path)
    if spec.sha256 and digest != spec.sha256:
        raise ModelError(f"model file {path} fails its sha256 check ({digest[:12]}... != {spec.sha256[:12]}...): "
                         f"it is damaged or not the expected file; delete it and "
                         f"{how_to_get(spec).replace('run ', 'run ', 1)}")
    return digest


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: Path
    sha256: str

    def to_dict(self) -> dict:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256}


def resolve(name_or_path: str, models_dir=None) -> ResolvedModel:
    """Find a model by registry name, registry file name or path; check its sha256."""
    candidate = Path(name_or_path).expanduser()
    if name_or_path not in REGISTRY and (candidate.suffix or os.sep in name_or_path):
        if candidate.is_file():
            spec = _BY_FILE.get(candidate.name)
            digest = verify(candidate, spec) if spec else sha256_of(candidate)
            return ResolvedModel(spec.name if spec else candidate.stem, candidate, digest)
        if name_or_path not in _BY_FILE:
            raise ModelError(f"model file not found: {candidate}")
    spec = get_spec(name_or_path)
    path, places = locate(spec, models_dir)
    if path is None:
        raise ModelError(f"model {spec.name!r} ({spec.file}) not found; looked in: {', '.join(places)}; "
                         f"{how_to_get(spec)}")
    return ResolvedModel(spec.name, path, verify(path, spec))


def download(name: str, dest_dir: str | os.PathLike | None = None, mirror: str | None = None,
             progress: Callable[[int, int | None], None] | None = None, timeout: float = 60.0) -> Path:
    """Fetch a registry model into dest_dir (default: user cache), verified by sha256.

    `mirror` (or $FACECLUSTER_MODEL_MIRROR) is a base URL tried first as `<mirror>/<file>`.
    `progress(bytes_done, bytes_total_or_None)` is called as data arrives.
    """
    spec = get_spec(name)
    dest_dir = Path(dest_dir) if dest_dir else cache_dir()
    mirror = mirror or os.environ.get("FACECLUSTER_MODEL_MIRROR")
    urls = ([mirror.rstrip("/") + "/" + spec.file] if mirror else []) + [u for u in spec.urls
                                                                          if u.endswith(spec.file)]
    if not urls:
        raise ModelError(f"no direct download for {spec.name!r} ({spec.file}); {how_to_get(spec)}"
                         + (f"; it is inside {spec.urls[0]}" if spec.urls else ""))
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create model folder {dest_dir}: {exc.strerror}") from None
    target = dest_dir / spec.file
    errors = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.file}.", suffix=".part", dir=dest_dir)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                done = 0
                for block in iter(lambda: resp.read(1 << 16), b""):
                    out.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
            digest = sha256_of(tmp)
            if spec.sha256 and digest != spec.sha256:
                errors.append(f"{url}: sha256 {digest[:12]}... does not match {spec.sha256[:12]}...")
                continue
            if not spec.sha256:
                log.warning("%s has no pinned sha256 in the registry; downloaded file has sha256 %s "
                            "(check it against the publisher's)", spec.name, digest)
            os.replace(tmp, target)
            return target
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
        finally:
            tmp.unlink(missing_ok=True)
    raise ModelError(f"could not download {spec.name!r}: " + "; ".join(errors))
