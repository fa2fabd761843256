"""Person detection, face<->person association, clothing regions and embedders, super-resolution.
Real models and photos from ../shared; the geometry tests need nothing."""

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from facecluster.config import Config
from facecluster.errors import ConfigError, DependencyError
from facecluster.persons import (associate_faces, clothing_boxes_from_faces, clothing_boxes_from_persons,
                                 faces_per_person)
from facecluster.types import Detections

SHARED = Path(__file__).resolve().parents[2] / "shared"
MODELS, PHOTOS = SHARED / "models", SHARED / "media" / "photos"


def make_config(**extra) -> Config:
    """Config pointing at the shared models, with extra settings."""
    # 0.25 (Ultralytics' default) also counts bus.jpg's edge-cut fourth person; the run default is 0.4
    return Config(models_dir=str(MODELS), **({"body_threshold": 0.25} | extra))


def options(kind: str, **extra):
    """The options a backend of `kind` gets from make_config(**extra)."""
    from facecluster.registry import options_for
    return options_for(kind, make_config(**extra))


def body_options(model: str, **extra):
    return options("body-detector", body_detector_model=model, **extra)


def photo(name: str) -> np.ndarray:
    return cv2.imread(str(PHOTOS / name))


@pytest.fixture(scope="module")
def detectors():
    from facecluster.detect.yolo import YoloPersonDetector
    # 0.25 (Ultralytics' own default) so bus.jpg's 4th person, cut by the left edge, counts: it scores
    # 0.26 (yolox-nano) / 0.31 (yolov8n-int8); the pipeline default 0.4 avoids partial-body doubles in video
    return {m: YoloPersonDetector(body_options(m, body_threshold=0.25)) for m in ("yolox-nano", "yolov8n-int8")}


@pytest.mark.parametrize("model", ["yolox-nano", "yolov8n-int8"])
@pytest.mark.parametrize("name, people", [("bus.jpg", 4), ("zidane.jpg", 2)])
def test_yolo_finds_the_people(detectors, model, name, people):
    image = photo(name)
    found = detectors[model].detect(image)
    assert len(found) == people and found.landmarks is None
    h, w = image.shape[:2]
    assert (found.boxes[:, [0, 2]] <= w).all() and (found.boxes[:, [1, 3]] <= h).all() and (found.boxes >= 0).all()
    assert (found.widths > 50).all() and (found.heights > 300).all()


def test_yolo_layout_auto_detection_and_threshold(detectors):
    assert (detectors["yolox-nano"].layout, detectors["yolox-nano"].decoded) == ("yolox", False)
    assert detectors["yolox-nano"].input_hw == (416, 416)
    assert (detectors["yolov8n-int8"].layout, detectors["yolov8n-int8"].input_hw) == ("v8", (640, 640))
    strict = type(detectors["yolox-nano"])(body_options("yolox-nano", body_threshold=0.4))
    found = strict.detect(photo("bus.jpg"))
    assert len(found) == 3 and (found.scores >= 0.4).all()


def test_yolox_export_with_decoded_boxes_gives_same_persons(detectors):
    """A YOLOX export made with decode_in_inference holds pixels; it must be recognised and not re-decoded."""
    from facecluster.detect.yolo import yolox_grid
    raw = detectors["yolox-nano"]

    class DecodedSession:
        def run(self, names, feeds):
            out = raw.session.run(names, feeds)[0].copy()
            grid, stride = yolox_grid(*raw.input_hw)
            out[0, :, :2] = (out[0, :, :2] + grid) * stride
            out[0, :, 2:4] = np.exp(out[0, :, 2:4]) * stride
            return [out]

    decoded = type(raw).__new__(type(raw))
    decoded.__dict__.update(raw.__dict__, session=DecodedSession())
    decoded.layout, decoded.decoded = decoded._detect_layout()
    assert (decoded.layout, decoded.decoded) == ("yolox", True)
    image = photo("bus.jpg")
    np.testing.assert_allclose(decoded.detect(image).boxes, raw.detect(image).boxes, atol=0.5)


@pytest.mark.skipif(importlib.util.find_spec("ultralytics") is not None, reason="ultralytics is installed")
def test_pt_model_without_ultralytics_says_what_to_install(tmp_path):
    from facecluster.detect.yolo import YoloPersonDetector
    (pt := tmp_path / "yolov8n.pt").write_bytes(b"not really a model")
    with pytest.raises(DependencyError, match="pip install ultralytics") as info:
        YoloPersonDetector(body_options(str(pt)))
    assert "opencv-contrib-python-headless" in str(info.value)


def test_associate_faces_prefers_the_better_box_and_rejects_outsiders():
    persons = np.array([[100, 100, 200, 400],    # face 0 sits at its top centre
                        [60, 80, 260, 300],      # overlaps: face 0 is inside but off-centre and lower
                        [400, 100, 500, 400]])
    faces = np.array([[130, 110, 170, 160],      # person 0
                      [600, 50, 640, 100],       # outside every box
                      [430, 330, 470, 380]])     # inside person 2 but at its feet: not a face of it
    assert associate_faces(faces, persons).tolist() == [0, -1, -1]
    # two faces competing for one box: one-to-one, the better placed (higher, more central) wins
    assert associate_faces([[140, 150, 165, 180], [130, 110, 170, 160]], persons[:1]).tolist() == [-1, 0]
    assert associate_faces(np.zeros((0, 4)), persons).shape == (0,)
    assert associate_faces(faces, np.zeros((0, 4))).tolist() == [-1, -1, -1]


def test_clothing_boxes_inside_image_and_below_face():
    shape = (480, 640, 3)
    persons = np.array([[100, 20, 300, 470], [400, 0, 640, 480]], np.float32)
    faces = np.array([[150, 30, 230, 120]], np.float32)
    per_person = faces_per_person(faces, associate_faces(faces, persons), len(persons))   # row 1: NaN
    boxes, valid = clothing_boxes_from_persons(per_person, persons, shape)
    assert valid.all() and boxes[0, 1] >= faces[0, 3] and persons[0, 0] <= boxes[0, 0] < boxes[0, 2] <= 300
    assert boxes[1, 1] > persons[1, 1] and boxes[1, 3] < persons[1, 3]          # upper-middle, no face
    assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= 640).all() and (boxes[:, [1, 3]] <= 480).all()
    assert clothing_boxes_from_persons(None, persons, shape)[1].all()
    faces = np.array([[300, 100, 340, 150], [300, 440, 340, 480], [-30, 100, 0, 140]], np.float32)
    boxes, valid = clothing_boxes_from_faces(faces, shape)
    assert valid.tolist() == [True, False, False]                     # chin at the bottom edge / off-image
    assert boxes[0, 1] >= faces[0, 3] + 20 and boxes[0, 3] - boxes[0, 1] == pytest.approx(100)
    assert (boxes >= 0).all() and (boxes[:, [1, 3]] <= 480).all()


@pytest.fixture(scope="module")
def bus_persons(detectors):
    image = photo("bus.jpg")
    return image, detectors["yolox-nano"].detect(image)


def _cos_dist(a, b):
    return 1.0 - float(a @ b)


def test_hsv_histogram_shifted_crop_closer_than_other_colours(bus_persons):
    from facecluster.embed.clothing import HsvHistogramEmbedder
    image, persons = bus_persons
    torso = clothing_boxes_from_persons(None, persons.boxes, image.shape)[0]
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + 60) % 180                       # same pattern, other colours
    emb = HsvHistogramEmbedder(options("clothing-embedder"))
    boxes = np.vstack([torso[:1], torso[:1] + [6, 6, 6, 6], [[0, 0, 2, 50]], [[900, 0, 1000, 50]]])
    e = emb.embed(image, Detections(boxes, np.ones(len(boxes))))
    assert e.shape == (4, emb.DIM) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e[:2], axis=1), 1) and not e[2:].any()   # degenerate/outside -> zeros
    other = emb.embed(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR), Detections(torso[:1], [1.0]))[0]
    assert _cos_dist(e[0], e[1]) < 0.1 < _cos_dist(e[0], other)


def test_reid_crop_closer_to_its_flipped_and_shifted_self_than_to_others(bus_persons):
    from facecluster.embed.clothing import ReidEmbedder
    image, persons = bus_persons
    reid = ReidEmbedder(options("clothing-embedder"))
    e = reid.embed(image, persons)
    assert e.shape == (len(persons), 512) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-4)
    w = image.shape[1]
    flipped_boxes = persons.boxes[:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [w, 0, w, 0]
    flipped = reid.embed(np.ascontiguousarray(image[:, ::-1]), Detections(flipped_boxes, persons.scores))
    shifted = reid.embed(image, Detections(persons.boxes + [4, 8, 4, 8], persons.scores))
    for i in range(len(persons)):
        to_others = min(_cos_dist(e[i], e[j]) for j in range(len(persons)) if j != i)
        assert max(_cos_dist(e[i], flipped[i]), _cos_dist(e[i], shifted[i])) < to_others
    assert not reid.embed(image, Detections([[5, 5, 5, 90]], [1.0])).any()


def test_superres_scales_and_maps_landmarks_back():
    from facecluster.enhance.superres import Upscaler
    image = photo("zidane.jpg")
    up = Upscaler(options("upscaler", upscale="espcn-x3"))
    assert up.upscale(image[:50, :40]).shape == (150, 120, 3)
    landmarks = np.array([[[110, 60], [122, 60], [116, 67], [111, 73], [121, 73]]], np.float32)
    faces = Detections([[100, 50, 130, 85], [300, 100, 400, 220]], [0.9, 0.8],
                       np.concatenate([landmarks, landmarks + 200]))
    result = up.upscale_faces(image, faces, min_side=40)
    assert [r.index for r in result] == [0]                                    # the big face is left alone
    face, back = result[0], result[0].to_image(result[0].detections)
    assert face.offset == (82, 32) and face.scale == 3                          # 17.5 px margin
    assert face.image.shape[:2] == ((103 - 32) * 3, (148 - 82) * 3)
    np.testing.assert_allclose(back.boxes, faces.boxes[:1], atol=1e-3)
    np.testing.assert_allclose(back.landmarks, faces.landmarks[:1], atol=1e-3)
    # the mapped box shows the same pixels as the original box
    bx1, by1, bx2, by2 = face.detections.boxes[0].round().astype(int)
    shrunk = cv2.resize(face.image[by1:by2, bx1:bx2], (30, 35), interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk.astype(int) - image[50:85, 100:130]).mean() < 8


def test_superres_unknown_name_lists_valid_ones():
    from facecluster.enhance.superres import Upscaler, parse_model_name
    with pytest.raises(ConfigError, match="espcn-x2") as info:
        Upscaler(options("upscaler", upscale="superduper-x2"))
    assert "lapsrn-x8" in str(info.value) and "fsrcnn" in str(info.value)
    with pytest.raises(ConfigError):
        parse_model_name("lapsrn", default_scale=3)                            # LapSRN has no x3
    assert parse_model_name("espcn", default_scale=4) == ("espcn-x4", "espcn", 4)
    assert parse_model_name("FSRCNN-small_x3.pb") == ("FSRCNN-small_x3.pb", "fsrcnn", 3)
    assert parse_model_name("/models/EDSR_x2.pb")[1:] == ("edsr", 2)
