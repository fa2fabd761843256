"""Bad and unusual inputs: a clear InputError or a defined Score, never a traceback."""

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from facecluster.cli import main
from facecluster.errors import InputError
from facecluster.similarity import METHODS, Score, create
from facecluster.similarity.io import MAX_PIXELS, MAX_SIDE, as_image, list_images, load_image

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
BUS = SHARED / "media" / "photos" / "bus.jpg"
MODELS = str(SHARED / "models")


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height (no pixel data): tests the size guard without the memory."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("odd")
    bus = cv2.imread(str(BUS))
    small = cv2.resize(bus, (162, 216), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(d / "gray.png"), cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
    rgba = np.dstack([small, np.full(small.shape[:2], 255, np.uint8)])
    rgba[:20, :20, 3] = 0
    cv2.imwrite(str(d / "rgba.png"), rgba)
    cv2.imwrite(str(d / "deep16.png"), small.astype(np.uint16) * 257)
    cv2.imwrite(str(d / "one.png"), np.full((1, 1, 3), 200, np.uint8))
    cv2.imwrite(str(d / "big.png"), np.full((5000, 4000), 120, np.uint8))
    (d / "empty.jpg").write_bytes(b"")
    (d / "garbage.jpg").write_bytes(b"this is not a jpeg" * 20)
    (d / "truncated.jpg").write_bytes(BUS.read_bytes()[:300])
    png_header_only(d / "bomb.png", 40000, 40000)  # refused by PIL's own bomb check
    png_header_only(d / "huge.png", 13000, 13000)  # under PIL's limit, over ours
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(small[:, :, ::-1]).save(d / "rotated.jpg", exif=exif)
    return d


@pytest.mark.parametrize("name,message", [("empty.jpg", "empty"), ("garbage.jpg", "not a readable image"),
                                          ("truncated.jpg", "not a readable image"), ("bomb.png", "too large"),
                                          ("huge.png", "13000x13000 pixels, limit"),
                                          ("missing.jpg", "not found")])
def test_bad_files_raise_input_error(odd_files, name, message):
    with pytest.raises(InputError, match=message):
        load_image(odd_files / name)


def test_folder_is_not_an_image(odd_files):
    with pytest.raises(InputError, match="folder"):
        load_image(odd_files)


def test_odd_formats_become_bgr_uint8(odd_files):
    gray, rgba, deep = (load_image(odd_files / n) for n in ("gray.png", "rgba.png", "deep16.png"))
    for img in (gray, rgba, deep):
        assert img.dtype == np.uint8 and img.shape == (216, 162, 3)
    assert (gray[:, :, 0] == gray[:, :, 2]).all()
    assert (rgba[:20, :20] == 255).all()  # transparent -> white
    assert np.abs(deep.astype(int) - cv2.resize(cv2.imread(str(BUS)), (162, 216),
                                                interpolation=cv2.INTER_AREA)).max() <= 1
    assert load_image(odd_files / "one.png").shape == (1, 1, 3)
    assert max(load_image(odd_files / "big.png").shape[:2]) == MAX_SIDE
    assert MAX_PIXELS < 13000 * 13000
    assert load_image(odd_files / "rotated.jpg").shape == (162, 216, 3)  # EXIF orientation applied


def test_array_inputs():
    assert as_image(np.zeros((4, 5), np.float64)).shape == (4, 5, 3)
    assert as_image(np.ones((4, 5, 1), np.float32))[0, 0, 0] == 255
    assert as_image(np.full((2, 2, 3), np.nan)).max() == 0
    for bad in (np.zeros((0, 0, 3), np.uint8), np.zeros((5,), np.uint8), np.zeros((3, 3, 2), np.uint8)):
        with pytest.raises(InputError):
            as_image(bad)


ODD = ["gray.png", "rgba.png", "deep16.png", "one.png", "big.png"]
LOCAL = [m for m in METHODS if m not in ("face", "autoencoder")]


@pytest.mark.parametrize("method", LOCAL)
def test_every_method_gives_a_score_for_odd_images(odd_files, method):
    c = create(method, models_dir=MODELS)
    ref = c.encode(load_image(odd_files / "gray.png"))
    for name in ODD:
        score = c.compare(ref, c.encode(load_image(odd_files / name)))
        assert isinstance(score, Score) and 0.0 <= float(score) <= 1.0, (method, name, score)


def test_list_images_skips_cache_and_hidden(tmp_path):
    for rel in ("a.jpg", "sub/b.PNG", ".hidden/c.jpg", ".facecluster-cache/d.png", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a.jpg", "sub/b.PNG"]
    with pytest.raises(InputError, match="not a folder"):
        list_images(tmp_path / "a.jpg")


@pytest.mark.parametrize("name,code", [("garbage.jpg", 3), ("empty.jpg", 3), ("bomb.png", 3), ("missing.jpg", 3)])
def test_cli_bad_input_is_one_line_and_exit_code(odd_files, name, code):
    result = CliRunner().invoke(main, ["compare", str(odd_files / name), str(BUS), "-m", "phash"])
    assert result.exit_code == code
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    assert "facecluster: error:" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_odd_images_compare_all(odd_files):
    result = CliRunner().invoke(main, ["compare", str(odd_files / "one.png"), str(odd_files / "rgba.png"), "--all",
                                       "--models-dir", MODELS])
    assert result.exit_code == 0, result.output
    assert "orb-bf" in result.stdout and "too small" in result.stdout
