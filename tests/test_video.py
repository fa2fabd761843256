"""Video reading: sampling, shot numbering with cheaper decoding, resume by seeking, damaged files,
restarting timestamps and rotation metadata, on small generated videos (and one real photo)."""

from __future__ import annotations

import json
import logging

import av
import cv2
import numpy as np
import pytest

from facecluster.errors import InputError
from facecluster.video import VideoReader, decode_only, probe, sample_frames

from .conftest import MEDIA, VIDEOS, write_video

W, H = 96, 64


def _scene_frames(n: int, cut_every: int, seed: int = 0):
    """Smooth scenes with a moving square; a new scene (a cut) every `cut_every` frames."""
    rng = np.random.default_rng(seed)
    scenes = {}
    for i in range(n):
        s = i // cut_every
        if s not in scenes:
            low = rng.integers(0, 255, (4, 6, 3), np.uint8)
            scenes[s] = cv2.resize(low, (W, H), interpolation=cv2.INTER_LINEAR)
        img = scenes[s].copy()
        x = (i * 2) % (W - 16)
        img[20:36, x:x + 16] = 255
        yield img


def _noise_frames(n: int, seed: int = 0):
    """Frames that compress to about the same number of bytes each (so a byte offset maps to a time)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (H, W, 3), np.uint8)
    for i in range(n):
        img = np.roll(base, i, axis=1)
        img[:8] = (i * 3) % 255
        yield img


def _write(path, frames, fps=10, fmt=None, options=None, rotation=None):
    return write_video(path, frames, fps=fps, fmt=fmt, options=options, rotation=rotation)


def _read(path, fps=1.0, **kw):
    reader = VideoReader(path, fps, **kw)
    return [(f.index, round(f.time_s, 4), f.shot) for f in reader.frames()], reader


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """40 s at 25 fps, H.264 with B-frames, a cut every 83 frames (3.32 s, so cuts fall between samples)."""
    path = tmp_path_factory.mktemp("scenes") / "scenes.mp4"
    return _write(path, list(_scene_frames(1000, 83)), fps=25)


@pytest.fixture(scope="module")
def noise120(tmp_path_factory):
    """120 s at 10 fps, Matroska and MP4 with the index first (both can be cut short and still opened)."""
    folder = tmp_path_factory.mktemp("noise")
    frames = list(_noise_frames(1200))
    return {"mkv": _write(folder / "full.mkv", frames),
            "mp4": _write(folder / "full.mp4", frames, options={"movflags": "faststart"})}


# ---- sampling and cheaper decoding ---------------------------------------------------------------------------

def test_skipping_frames_between_samples_keeps_samples_and_cuts(scenes):
    every, all_reader = _read(scenes, 1.0, skip="none")
    cheap, reader = _read(scenes, 1.0)
    assert reader.stats.frames_decoded < 0.8 * reader.stats.packets  # frames were skipped...
    assert all_reader.stats.frames_decoded == all_reader.stats.packets == 1000
    assert cheap == every  # ...yet the same frames, times and shot numbers come out
    truth = [i // 83 for i in range(1000)]
    for (i0, _, s0), (i1, _, s1) in zip(cheap, cheap[1:]):
        assert (truth[i0] == truth[i1]) == (s0 == s1), (i0, i1)
    assert cheap[-1][2] == truth[cheap[-1][0]]


def test_cuts_are_found_during_fast_pans(tmp_path):
    """Pans of 2.5% of the width per frame across real photos, a cut every 83 frames: the plain frame
    difference missed 3-4 of these 5 cuts (more with frames skipped); allowing for the pan finds them all."""
    photos = [cv2.imread(str(p)) for p in sorted((MEDIA / "faces" / "faceapi_bbt").glob("bbt*.jpg"))]
    w, h, cut, speed = 160, 90, 83, 4
    cw = w + speed * cut + 8  # wide enough to pan across without wrapping
    canvases = [cv2.resize(img, (cw, int(cw * img.shape[0] / img.shape[1]) + h), interpolation=cv2.INTER_AREA)
                for img in photos]
    frames = []
    for i in range(500):
        j, big = i % cut, canvases[(i // cut) % len(canvases)]
        frames.append(big[j * speed // 3: j * speed // 3 + h, j * speed: j * speed + w].copy())
    path = _write(tmp_path / "pans.mp4", frames, fps=25)
    for skip in ("none", "nonref"):
        sampled, _ = _read(path, 1.0, skip=skip)
        found = [(a[0] // cut != b[0] // cut, a[2] != b[2]) for a, b in zip(sampled, sampled[1:])]
        assert [f for f in found if f[0]] == [(True, True)] * 5, skip
        assert not [f for f in found if f[1] and not f[0]], skip  # no cut inside a pan


def test_sample_frames_wrapper_matches_reader(scenes):
    assert [(f.index, round(f.time_s, 4), f.shot) for f in sample_frames(scenes, 2.0)] == _read(scenes, 2.0)[0]


def test_decode_only_counts_every_frame(scenes):
    d = decode_only(scenes)
    assert d["frames"] == 1000 and d["video_seconds"] == pytest.approx(40.0, abs=0.05) and d["seconds"] > 0


def test_max_seconds_stops_early_without_truncation_error(noise120):
    frames, reader = _read(noise120["mkv"], 1.0, max_seconds=5.0)
    assert [f[0] for f in frames] == [0, 10, 20, 30, 40]
    assert reader.stats.seconds_lost == 0


# ---- resume ----------------------------------------------------------------------------------------------------

def _interrupted(path, fps, after, **kw):
    reader = VideoReader(path, fps, **kw)
    frames = reader.frames()
    seen = []
    for f in frames:
        seen.append((f.index, round(f.time_s, 4), f.shot))
        if len(seen) == after:
            break
    frames.close()
    return seen, json.loads(json.dumps(reader.resume_point()))


@pytest.mark.parametrize("skip", ["nonref", "none"])
def test_resume_seeks_and_continues_exactly(scenes, skip):
    full, _ = _read(scenes, 2.0, skip=skip)
    seen, state = _interrupted(scenes, 2.0, 41, skip=skip)
    rest, reader = _read(scenes, 2.0, resume=state, skip=skip)
    assert seen + rest == full
    assert reader.stats.resumed == "seek"
    # it sought: only the group of pictures before the resume point is decoded again, not 20 s of video
    assert reader.stats.frames_discarded < 250
    assert reader.stats.packets < 1000 - seen[-1][0]  # packets before the resume point are not counted
    assert reader.totals()["frames_sampled"] == len(full) and abs(reader.totals()["packets"] - 1000) <= 8


def test_resume_point_of_an_earlier_frame(scenes):
    reader = VideoReader(scenes, 1.0)
    frames = list(reader.frames())
    state = reader.resume_point(after=frames[30].index)
    rest, _ = _read(scenes, 1.0, resume=state)
    assert [f[0] for f in rest] == [f.index for f in frames[31:]]
    with pytest.raises(KeyError):
        reader.resume_point(after=frames[30].index + 1)


def test_resume_needs_the_same_settings_and_file(scenes, tmp_path):
    _, state = _interrupted(scenes, 1.0, 5)
    with pytest.raises(ValueError, match="other settings"):
        VideoReader(scenes, 2.0, resume=state)
    other = tmp_path / "other.mp4"
    other.write_bytes(scenes.read_bytes() + b"\0" * 10)
    with pytest.raises(InputError, match="changed since"):
        VideoReader(other, 1.0, resume=state)


def test_resume_in_mpeg_ts_reads_packets_from_the_start(tmp_path):
    path = _write(tmp_path / "clip.ts", list(_scene_frames(500, 60)), fps=25, fmt="mpegts")
    full, _ = _read(path, 1.0)
    seen, state = _interrupted(path, 1.0, 12)
    rest, reader = _read(path, 1.0, resume=state)
    assert seen + rest == full
    assert reader.stats.resumed == "scan" and "jumps" in reader.stats.resume_note
    assert reader.stats.frames_discarded < 200  # decoded from the keyframe before the resume point only
    # MPEG-TS seeks land near, not before, a timestamp: forced to seek, each late landing is caught by the
    # check on the resume frame and the next plan (earlier seek, then scanning) still continues exactly
    forced, again = _read(path, 1.0, resume={**state, "seekable": True})
    assert seen + forced == full and again.stats.resumed in ("seek", "scan")


def test_resume_without_timestamps_decodes_from_the_start(tmp_path):
    path = _write(tmp_path / "raw.h264", list(_scene_frames(300, 60)), fps=25, fmt="h264")  # no packet pts
    full, _ = _read(path, 1.0)
    seen, state = _interrupted(path, 1.0, 6)
    rest, reader = _read(path, 1.0, resume=state)
    assert seen + rest == full and len(full) == 12
    assert reader.stats.resumed == "start" and reader.stats.resume_note == "packets carry no timestamps"


# ---- restarting timestamps ------------------------------------------------------------------------------------

def test_concatenated_ts_files_make_one_timeline(tmp_path):
    a = _write(tmp_path / "a.ts", list(_scene_frames(250, 1000, seed=1)), fps=25, fmt="mpegts")
    b = _write(tmp_path / "b.ts", list(_scene_frames(150, 1000, seed=2)), fps=25, fmt="mpegts")
    joined = tmp_path / "joined.ts"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    frames, reader = _read(joined, 1.0)
    times = [f[1] for f in frames]
    assert len(frames) == 16  # 10 s + 6 s, every second sampled once
    assert np.allclose(np.diff(times), 1.0, atol=0.05)
    assert frames[-1][0] == 375 and reader.stats.timestamp_jumps_fixed == 1
    assert frames[10][2] == frames[9][2] + 1  # the join is a cut
    seen, state = _interrupted(joined, 1.0, 12)  # resume after the restart: timeline continues
    rest, again = _read(joined, 1.0, resume=state)
    assert seen + rest == frames and again.stats.resumed == "scan"


# ---- damaged files --------------------------------------------------------------------------------------------

def _cut(path, fraction, out):
    data = path.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


@pytest.mark.parametrize("fmt", ["mkv", "mp4"])
def test_file_cut_at_92_percent_warns_with_the_seconds_lost(noise120, fmt, tmp_path, caplog):
    path = _cut(noise120[fmt], 0.92, tmp_path / f"cut.{fmt}")
    with caplog.at_level(logging.WARNING, logger="facecluster"):
        frames, reader = _read(path, 1.0)
    s = reader.stats
    decoded_to = frames[-1][1] + 1.0  # sampled every second
    assert 100 <= decoded_to <= 115
    assert s.ended_early_s == pytest.approx(120.0 - decoded_to, abs=1.0)
    assert s.seconds_lost == pytest.approx(s.ended_early_s, abs=0.5)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{s.seconds_lost:.1f} s of 120.0 s could not be decoded" in warning


@pytest.mark.parametrize("fmt", ["mkv", "mp4"])
def test_file_cut_at_75_percent_is_an_input_error(noise120, fmt, tmp_path, caplog):
    path = _cut(noise120[fmt], 0.75, tmp_path / f"cut.{fmt}")
    with pytest.raises(InputError, match=r"truncated: 3\d\.\d s of its 120\.0 s") as err:
        _read(path, 1.0)
    assert "\n" not in str(err.value)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # the error alone, no warning


@pytest.mark.parametrize("fmt", ["mkv", "mp4"])
def test_corrupt_bytes_in_the_middle_are_counted_and_decoding_goes_on(noise120, fmt, tmp_path):
    data = bytearray(noise120[fmt].read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4000] = np.random.default_rng(3).integers(0, 256, 4000, np.uint8).tobytes()
    path = tmp_path / f"corrupt.{fmt}"
    path.write_bytes(bytes(data))
    frames, reader = _read(path, 1.0)
    assert len(frames) == 120 and frames[-1][1] == pytest.approx(119.0, abs=0.15)  # the second half is read
    assert reader.stats.decode_errors >= 1 and reader.stats.first_error
    assert 0 < reader.stats.seconds_lost < 5


def test_nothing_decodable_is_an_input_error(tmp_path):
    path = tmp_path / "zero.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()
    with pytest.raises(InputError, match="no decodable video frames"):
        _read(path)


def test_ffmpeg_logging_is_left_as_it_was(noise120, tmp_path):
    import av.logging

    before = av.logging.get_level()
    _read(_cut(noise120["mkv"], 0.95, tmp_path / "cut.mkv"))
    assert av.logging.get_level() == before
    # two reads open at once that end in the other order (the first read's frames are left unfinished)
    first, second = VideoReader(noise120["mkv"], fps=1).frames(), VideoReader(noise120["mkv"], fps=1).frames()
    next(first), next(second)
    assert av.logging.get_level() != before or before == av.logging.ERROR
    list(second)
    first.close()  # used to fail restoring the level ("no attribute '_level'")
    assert av.logging.get_level() == before


# ---- rotation metadata ----------------------------------------------------------------------------------------

def _marker():
    img = np.zeros((48, 80, 3), np.uint8)
    img[:12, :20] = (0, 0, 255)  # red top-left
    img[-12:, -20:] = (255, 0, 0)  # blue bottom-right
    img[:12, -20:] = (0, 255, 0)  # green top-right
    return img


@pytest.mark.parametrize("ccw, hflip, display", [
    (-90, False, lambda m: cv2.rotate(m, cv2.ROTATE_90_CLOCKWISE)),
    (90, False, lambda m: cv2.rotate(m, cv2.ROTATE_90_COUNTERCLOCKWISE)),
    (180, False, lambda m: cv2.rotate(m, cv2.ROTATE_180)),
    (0, True, lambda m: cv2.flip(m, 1)),
    (-90, True, lambda m: cv2.flip(cv2.rotate(m, cv2.ROTATE_90_CLOCKWISE), 1)),
])
def test_display_matrix_is_applied(tmp_path, ccw, hflip, display):
    coded = _marker()
    path = _write(tmp_path / "rot.mp4", [coded] * 5, rotation=(ccw, hflip))
    expected = display(coded)
    info = probe(path)
    assert (info.height, info.width) == expected.shape[:2]
    [frame] = list(VideoReader(path, 1.0).frames())
    assert frame.image.shape == expected.shape
    assert np.abs(frame.image.astype(int) - expected.astype(int)).mean() < 8


def test_phone_video_faces_are_found_upright(tmp_path):
    from facecluster import registry
    from facecluster.registry import FaceDetectorOptions
    from facecluster.types import iou_matrix

    photo = cv2.imread(str(MEDIA / "faces" / "faceapi_bbt" / "bbt4.jpg"))
    photo = photo[: photo.shape[0] // 2 * 2, : photo.shape[1] // 2 * 2]
    coded = cv2.rotate(photo, cv2.ROTATE_90_COUNTERCLOCKWISE)  # stored sideways, "rotate=90" for display
    path = _write(tmp_path / "phone.mp4", [coded] * 5, fps=25, rotation=(-90,))
    detector = registry.create("face-detector", "yunet", FaceDetectorOptions())
    upright = detector.detect(photo)
    [frame] = list(VideoReader(path, 1.0).frames())
    found = detector.detect(frame.image)
    assert len(upright) == 6 and len(detector.detect(coded)) < len(upright)
    assert len(found) == len(upright)
    assert (iou_matrix(found.boxes, upright.boxes).max(axis=1) > 0.7).all()  # boxes in display coordinates


def test_real_clips_keep_their_sampling(shared_videos):
    frames, reader = _read(shared_videos / "short_hamilton_clip.mp4", 1.0)
    assert frames[0][1] == pytest.approx(0.852, abs=0.001) and len(frames) == 10
    assert reader.stats.seconds_lost == 0 and reader.stats.decode_errors == 0
    assert probe(VIDEOS / "short_hamilton_clip.mp4").rotation == 0


def _woven(shift: int) -> np.ndarray:
    """A 720x1280 picture of a still gradient and a white box that moved `shift` px between its two fields."""
    top = np.repeat(np.linspace(0, 255, 1280, dtype=np.uint8)[None, :, None], 720, 0).repeat(3, 2)
    bottom = top.copy()
    top[200:400, 300:500] = 255
    bottom[200:400, 300 + shift:500 + shift] = 255
    top[1::2] = bottom[1::2]
    return top


def test_deinterlace_repairs_combing_and_leaves_still_pictures_alone():
    """Combed (moving) parts are interpolated from the first field; a still picture, a gradient and a still
    horizontal edge come out unchanged, so static detail keeps its full vertical resolution."""
    from facecluster.video.deinterlace import comb_mask, deinterlace

    still = _woven(0)
    out, share = deinterlace(still)
    assert share == 0.0 and np.array_equal(out, still)
    moving = _woven(30)
    assert comb_mask(moving).sum() > 1000
    out, share = deinterlace(moving)
    assert 0 < share < 0.02 and comb_mask(out).sum() == 0
    assert np.array_equal(out[::2], moving[::2])  # the first field is kept as it is
    assert np.array_equal(out[:150], moving[:150]) and np.array_equal(out[450:], moving[450:])  # away from motion


def _interlaced_clip(path, frames: int = 50):
    """x264 interlaced (top field first): a bar moving 16 px between fields over a still gradient."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"x264-params": "interlaced=1:tff=1:crf=16"}
        for k in range(frames):
            top = np.repeat(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], 240, 0).repeat(3, 2)
            bottom = top.copy()
            top[60:180, 20 + 5 * k:60 + 5 * k] = 255
            bottom[60:180, 36 + 5 * k:76 + 5 * k] = 255
            top[1::2] = bottom[1::2]
            for packet in stream.encode(av.VideoFrame.from_ndarray(top, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("mode, repaired", [("auto", True), ("on", True), ("off", False)])
def test_interlaced_video_is_repaired_when_marked(tmp_path, mode, repaired):
    """A stream marked interlaced: 'auto' and 'on' repair every sampled frame (counted in the decode
    statistics), 'off' leaves the combing; a progressive stream is left alone by 'auto'."""
    from facecluster.video.deinterlace import comb_mask

    clip = _interlaced_clip(tmp_path / "i.mp4")
    reader = VideoReader(clip, fps=5, deinterlace=mode)
    frames = list(reader.frames())
    stats = reader.stats
    assert stats.frames_sampled == len(frames) == 10 and stats.interlaced_frames == 10
    assert stats.deinterlaced_frames == (10 if repaired else 0)
    combed = [comb_mask(f.image).mean() for f in frames]
    assert (max(combed) < 0.001) if repaired else (min(combed) > 0.005)
    progressive = write_video(tmp_path / "p.mp4", [np.asarray(f.image) for f in frames])
    auto, off = VideoReader(progressive, fps=5), VideoReader(progressive, fps=5, deinterlace="off")
    assert all(np.array_equal(a.image, b.image) for a, b in zip(auto.frames(), off.frames()))
    assert auto.stats.interlaced_frames == 0 and auto.stats.deinterlaced_frames == 0
    with pytest.raises(ValueError, match="deinterlace must be one of"):
        VideoReader(clip, fps=5, deinterlace="yes")


@pytest.mark.parametrize("sar, coded, shown", [((64, 45), (720, 576), (1024, 576)), ((8, 9), (720, 480), (720, 540)),
                                               ((4, 3), (1440, 1080), (1920, 1080))])
def test_anamorphic_pictures_get_square_pixels(tmp_path, sar, coded, shown):
    """A stream whose pixels are not square (PAL 16:9, NTSC 4:3, HDV) is stretched to square pixels, never
    shrunk, as players show it: a drawn square stays square, probe reports the shown size, the statistics
    the pixel aspect."""
    from fractions import Fraction

    w, h = coded
    picture = np.zeros((h, w, 3), np.uint8)
    side = h // 3  # a square of `side` shown pixels is side / aspect coded columns wide
    cols = round(side / (sar[0] / sar[1]))
    picture[h // 3:h // 3 + side, w // 2 - cols // 2:w // 2 - cols // 2 + cols] = 255
    path = tmp_path / "anamorphic.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.sample_aspect_ratio = Fraction(*sar)
        for _ in range(10):
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    info = probe(path)
    assert (info.width, info.height) == shown and info.pixel_aspect == f"{sar[0]}:{sar[1]}"
    reader = VideoReader(path, fps=5)
    frame = next(iter(reader.frames()))
    assert frame.image.shape[:2] == (shown[1], shown[0]) and reader.stats.pixel_aspect == info.pixel_aspect
    ys, xs = np.nonzero(frame.image[..., 1] > 128)
    assert abs((xs.max() - xs.min()) / (ys.max() - ys.min()) - 1) < 0.05  # the square is square again


def test_square_pixel_streams_are_left_as_they_are(shared_videos):
    """Within 1 % of square (faceapi_test_video.mp4 says 14720:14719) is square: nothing is resized."""
    info = probe(shared_videos / "faceapi_test_video.mp4")
    assert (info.width, info.height, info.pixel_aspect) == (820, 460, "")
