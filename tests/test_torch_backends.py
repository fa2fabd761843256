"""The torch backends of the [torch] extra on real photos: ultralytics body detection (bus.jpg 4 bodies),
facenet-pytorch MTCNN faces with landmarks in the project's order, a user's torch face embedder and its
one-time ONNX export (outputs equal to torch, usable by the ONNX embedders), and the one-line error
naming the install commands when a package is missing.

Skipped only when torch itself is not importable; CI installs torch, ultralytics and facenet-pytorch."""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from facecluster import registry
from facecluster.errors import ConfigError, DependencyError, ModelError, OutputError
from facecluster.registry import BodyDetectorOptions, FaceDetectorOptions, FaceEmbedderOptions
from facecluster.torch_extra import INSTALL

from .conftest import MEDIA, MODELS

torch = pytest.importorskip("torch", reason=f"the torch backends need the [torch] extra: {INSTALL}")

PHOTOS, BBT = MEDIA / "photos", MEDIA / "faces" / "faceapi_bbt"


def photo(path) -> np.ndarray:
    return cv2.imread(str(path))


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of two box sets."""
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod((rb - lt).clip(0), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


@pytest.fixture(scope="module", autouse=True)
def ultralytics_settings_elsewhere(tmp_path_factory):
    """Ultralytics writes a settings file when imported: keep it out of the home folder."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("ultralytics")))


def body_options(model: str, threshold: float = 0.25) -> BodyDetectorOptions:
    # 0.25 (Ultralytics' default) counts bus.jpg's 4th body, cut by the left edge (it scores 0.31)
    return BodyDetectorOptions(model=model, threshold=threshold, models_dir=str(MODELS), device="cpu")


@pytest.fixture(scope="module")
def ultralytics_onnx():
    return registry.create("body-detector", "ultralytics", body_options("yolov8n-int8"))


@pytest.fixture(scope="module")
def mtcnn():
    return registry.create("face-detector", "mtcnn", FaceDetectorOptions(threshold=0.6, device="cpu"))


@pytest.fixture(scope="module")
def yunet():
    return registry.create("face-detector", "yunet", FaceDetectorOptions(threshold=0.7, models_dir=str(MODELS)))


# ---- ultralytics --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, bodies", [("bus.jpg", 4), ("zidane.jpg", 2)])
def test_ultralytics_finds_the_bodies_the_onnx_backend_finds(ultralytics_onnx, name, bodies):
    image = photo(PHOTOS / name)
    found = ultralytics_onnx.detect(image)
    assert len(found) == bodies and found.landmarks is None
    h, w = image.shape[:2]
    assert (found.boxes >= 0).all() and (found.boxes[:, [0, 2]] <= w).all() and (found.boxes[:, [1, 3]] <= h).all()
    assert (found.heights > 300).all()
    # the same file through facecluster's own onnxruntime decoding gives the same boxes
    own = registry.create("body-detector", "yolo", body_options("yolov8n-int8")).detect(image)
    assert len(own) == bodies and (iou(found.boxes, own.boxes).max(axis=1) > 0.9).all()
    assert [m.name for m in ultralytics_onnx.models] == ["yolov8n-int8"]


def test_ultralytics_runs_a_pt_built_from_a_yaml_definition(tmp_path):
    from ultralytics import YOLO

    YOLO("yolov8n.yaml").save(tmp_path / "yolov8n-untrained.pt")  # .pt weights cannot be downloaded here
    pt = tmp_path / "yolov8n-untrained.pt"
    detector = registry.create("body-detector", "ultralytics", body_options(str(pt)))
    assert detector.person_class == 0  # 80 unnamed classes: COCO order
    assert detector.models[0].path == pt and len(detector.models[0].sha256) == 64
    image = photo(PHOTOS / "zidane.jpg")
    found = detector.detect(image)  # untrained: what it finds does not matter, only the shapes
    assert found.landmarks is None and found.boxes.shape == (len(found), 4)
    assert (found.boxes[:, [0, 2]] <= image.shape[1]).all()
    # the yolo backend hands .pt files to the ultralytics one
    assert registry.create("body-detector", "yolo", body_options(str(pt))).layout == "ultralytics"


def test_ultralytics_builds_a_shipped_definition_and_rejects_unknown_ones():
    detector = registry.create("body-detector", "ultralytics", body_options("yolov8n.yaml"))
    assert detector.models[0].name == "yolov8n.yaml" and detector.models[0].path.name == "yolov8.yaml"
    assert sum(p.numel() for p in detector.yolo.model.parameters()) < 4_000_000  # scale n, not the default
    with pytest.raises(ModelError, match="neither a file nor a model definition"):
        registry.create("body-detector", "ultralytics", body_options("no-such-model.yaml"))


def test_person_class_by_name_or_coco_order():
    from facecluster.detect.ultralytics_yolo import person_class

    assert person_class({0: "car", 1: "dog", 2: "person"}, "m.pt") == 2
    assert person_class({i: str(i) for i in range(80)}, "m.pt") == 0
    with pytest.raises(ModelError, match="no 'person' class"):
        person_class({0: "cat", 1: "dog"}, "pets.pt")


# ---- MTCNN ----------------------------------------------------------------------------------------------------
def _check_landmarks(dets):
    lm, boxes = dets.landmarks, dets.boxes
    assert lm is not None and lm.shape == (len(dets), 5, 2)
    inside = ((lm >= boxes[:, None, :2] - 2) & (lm <= boxes[:, None, 2:] + 2)).all()
    assert inside, "landmarks outside their face box"
    x, y = lm[..., 0], lm[..., 1]
    assert (x[:, 0] < x[:, 1]).all() and (x[:, 3] < x[:, 4]).all()  # image-left eye / mouth corner first
    assert (y[:, :2].max(1) < y[:, 2]).all() and (y[:, 2] < y[:, 3:].min(1)).all()  # eyes, nose, mouth


@pytest.mark.parametrize("path, at_least", [(PHOTOS / "zidane.jpg", 2), (BBT / "bbt1.jpg", 4)])
def test_mtcnn_finds_faces_with_landmarks_in_the_project_order(mtcnn, yunet, path, at_least):
    image = photo(path)
    found = mtcnn.detect(image)
    assert len(found) >= at_least
    _check_landmarks(found)
    # same order as YuNet's on the faces both find: nearer in that order than with eyes or mouth swapped
    ref = yunet.detect(image)
    overlap = iou(found.boxes, ref.boxes)
    pairs = [(i, int(overlap[i].argmax())) for i in range(len(found)) if overlap[i].max() > 0.4]
    assert len(pairs) >= 2
    for i, j in pairs:
        width = found.widths[i]
        mine, theirs = found.landmarks[i], ref.landmarks[j]
        same = np.linalg.norm(mine - theirs, axis=1).mean()
        swapped = np.linalg.norm(mine[[1, 0, 2, 4, 3]] - theirs, axis=1).mean()
        assert same < 0.15 * width and same < swapped


def test_mtcnn_on_a_downscaled_frame_maps_back_to_full_size(mtcnn):
    image = photo(PHOTOS / "zidane.jpg")
    small = registry.create("face-detector", "mtcnn", FaceDetectorOptions(threshold=0.9, max_side=640))
    full, half = mtcnn.detect(image), small.detect(image)
    assert len(half) >= 2
    assert (iou(half.boxes, full.boxes).max(axis=1) > 0.7).all()
    _check_landmarks(half)
    assert {m.name for m in mtcnn.models} == {"mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet"}


# ---- torch face embedders and the ONNX export ----------------------------------------------------------------
class SmallFaceNet(torch.nn.Module):
    """A small randomly initialised face-embedder-shaped network (no pretrained weights can be downloaded)."""

    def __init__(self, dim: int = 128):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), torch.nn.BatchNorm2d(16), torch.nn.PReLU(16),
            torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.BatchNorm2d(32), torch.nn.PReLU(32),
            torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(512, dim))

    def forward(self, x):
        return self.features(x)


@pytest.fixture(scope="module")
def zidane_faces(yunet):
    image = photo(PHOTOS / "zidane.jpg")
    return image, yunet.detect(image)


@pytest.mark.filterwarnings("ignore:`torch.jit.trace:FutureWarning")
def test_export_round_trip_torchscript_to_the_onnx_embedder(tmp_path, zidane_faces):
    torch.manual_seed(0)
    net = SmallFaceNet().eval()
    pt, onnx = tmp_path / "small.pt", tmp_path / "small.onnx"
    torch.jit.trace(net, torch.zeros(1, 3, 112, 112)).save(str(pt))
    from facecluster.cli.models_cmd import models_group

    result = CliRunner().invoke(models_group, ["export", str(pt), "-o", str(onnx), "--preset", "edgeface"])
    assert result.exit_code == 0, result.output
    assert onnx.is_file() and "--face-embedder edgeface" in result.output
    # the pipeline's ONNX embedder and the torch embedder give the same vectors for real faces
    image, dets = zidane_faces
    assert len(dets) == 2
    via_onnx = registry.create("face-embedder", "edgeface", FaceEmbedderOptions(model=str(onnx), flip=False))
    via_torch = registry.create("face-embedder", "torch", FaceEmbedderOptions(model=str(pt), preprocess="edgeface",
                                                                               flip=False))
    a, b = via_onnx.embed(image, dets), via_torch.embed(image, dets)
    assert a.shape == (2, 128) == b.shape and via_onnx.DIM == via_torch.DIM == 128
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5) and abs(float(a[0] @ a[1])) < 0.9999
    # batches of any size: several images' faces in one call
    chips = np.concatenate([via_onnx.chips(image, dets)] * 3)
    np.testing.assert_allclose(via_onnx.embed_chips(chips), via_torch.embed_chips(chips), atol=1e-4)
    # an existing file is never replaced
    before = onnx.read_bytes()
    again = CliRunner().invoke(models_group, ["export", str(pt), "-o", str(onnx), "--preset", "edgeface"])
    assert isinstance(again.exception, OutputError) and onnx.read_bytes() == before


def test_export_facenet_inception_resnet_pickled_module(tmp_path, zidane_faces):
    from facenet_pytorch import InceptionResnetV1

    from facecluster.export import export_onnx

    torch.manual_seed(0)
    pt, onnx = tmp_path / "facenet.pt", tmp_path / "facenet.onnx"
    torch.save(InceptionResnetV1(pretrained=None).eval(), pt)  # a whole pickled nn.Module
    report = export_onnx(pt, onnx, "facenet")
    assert report.dim == 512 and report.max_difference <= 1e-4 and report.preprocess.onnx_backend == "arcface"
    image, dets = zidane_faces
    via_onnx = registry.create("face-embedder", "arcface", FaceEmbedderOptions(model=str(onnx), flip=False))
    via_torch = registry.create("face-embedder", "torch", FaceEmbedderOptions(model=str(pt), preprocess="facenet",
                                                                               flip=False))
    assert via_onnx.CHIP_SIZE == via_torch.CHIP_SIZE == 160
    np.testing.assert_allclose(via_onnx.embed(image, dets), via_torch.embed(image, dets), atol=1e-4)


def test_state_dict_checkpoint_says_the_architecture_is_needed(tmp_path):
    pt = tmp_path / "weights_only.pt"
    torch.save(SmallFaceNet().state_dict(), pt)
    with pytest.raises(ModelError, match="only weights.*load_state_dict"):
        registry.create("face-embedder", "torch", FaceEmbedderOptions(model=str(pt)))
    (junk := tmp_path / "junk.pt").write_bytes(b"not a torch file at all")
    with pytest.raises(ModelError, match="not a torch model file"):
        registry.create("face-embedder", "torch", FaceEmbedderOptions(model=str(junk)))
    with pytest.raises(ConfigError, match="face_embedder_model"):
        registry.create("face-embedder", "torch", FaceEmbedderOptions())


def test_preprocessing_presets_and_specs():
    from facecluster.export import PRESETS, parse_preprocess

    assert parse_preprocess("") is PRESETS["arcface"] and parse_preprocess("FaceNet").size == 160
    assert parse_preprocess("size=112,mean=127.5,std=127.5,rgb") is PRESETS["edgeface"]
    custom = parse_preprocess("size=128,mean=123.7/116.3/103.5,std=58.4/57.1/57.4,bgr")
    assert (custom.size, custom.rgb, custom.onnx_backend) == (128, False, "")
    chip = np.full((1, 128, 128, 3), (10, 20, 30), np.uint8)  # BGR
    np.testing.assert_allclose(custom.blob(chip)[0, :, 0, 0], (np.array([10, 20, 30]) - custom.mean) / custom.std,
                               rtol=1e-6)
    for bad in ("size=big", "mean=1/2", "colour=red", "std=0"):
        with pytest.raises(ConfigError):
            parse_preprocess(bad)


# ---- missing packages --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, name, module", [("body-detector", "ultralytics", "ultralytics"),
                                                ("face-detector", "mtcnn", "facenet_pytorch")])
def test_a_missing_package_is_one_line_naming_the_install_commands(monkeypatch, kind, name, module):
    monkeypatch.setitem(sys.modules, module, None)  # import and find_spec both see it as absent
    with pytest.raises(DependencyError) as info:
        registry.create(kind, name, registry.OPTIONS[kind]())
    message = str(info.value)
    assert "\n" not in message and module in message
    assert "pip install --no-deps ultralytics==8.4.190 facenet-pytorch==2.6.0" in message
    assert "pip install torch torchvision" in message
    state = {s.name: s for s in registry.status(kind)}[name]
    assert not state.ready and state.fix == INSTALL


def test_the_constructors_name_the_commands_too(monkeypatch):
    """Past the registry (a module that imports but is broken, or code calling the class directly)."""
    from facecluster.detect.mtcnn import MtcnnDetector
    from facecluster.detect.ultralytics_yolo import UltralyticsBodyDetector

    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    monkeypatch.setitem(sys.modules, "ultralytics", None)
    for make, options in ((MtcnnDetector, FaceDetectorOptions()), (UltralyticsBodyDetector, BodyDetectorOptions())):
        with pytest.raises(DependencyError, match="--no-deps") as info:
            make(options)
        assert "opencv-contrib-python-headless" in str(info.value) and "\n" not in str(info.value)
