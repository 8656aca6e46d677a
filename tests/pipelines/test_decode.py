"""Tests for `pipelines.decode` on tiny PyAV-written videos."""

import fractions
import wave

import numpy as np
import pytest

from pipelines import decode
from tests.pipelines.video_fixtures import (
    HEIGHT,
    NUM_FRAMES,
    WIDTH,
    frame_colour,
    truncate,
    write_corner_video,
    write_cut_video,
    write_video,
    write_video_after_a_cover,
)


def assert_frames_are(frames, indices):
    """Each frame is flat and has the colour of the source frame at the same position."""
    expected = np.array([frame_colour(index) for index in indices], np.float32)
    mean_colours = frames.reshape(len(frames), -1, 3).mean(axis=1)
    np.testing.assert_allclose(mean_colours, expected, atol=6)


def test_read_video_returns_every_frame_in_order(tmp_path):
    frames = decode.read_video(write_video(tmp_path / "clip.avi"))
    assert frames.shape == (NUM_FRAMES, HEIGHT, WIDTH, 3) and frames.dtype == np.uint8
    assert_frames_are(frames, range(NUM_FRAMES))



# Containers and codecs users' videos come in (phones, cameras, editors, archives), beside the
# MPEG-4 AVI of UCF-101 and HMDB-51 the other tests use.
@pytest.mark.parametrize(
    "name, codec, pix_fmt, rate",
    [("phone.mp4", "libx264", "yuv420p", 25), ("camera.MP4", "libx264", "yuv444p", 25),
     ("ntsc.mp4", "libx264", "yuv420p", fractions.Fraction(30000, 1001)),
     ("hevc.mkv", "libx265", "yuv420p", 25), ("hdr.mkv", "libx265", "yuv420p10le", 25),
     ("web.webm", "libvpx-vp9", "yuv420p", 25), ("edit.mov", "prores", "yuv422p10le", 25),
     ("archive.mkv", "ffv1", "yuv420p", 25), ("motion jpeg é.avi", "mjpeg", "yuvj420p", 25)],
)
def test_common_containers_and_codecs_decode_every_frame(tmp_path, name, codec, pix_fmt, rate):
    path = write_video(tmp_path / name, codec=codec, pix_fmt=pix_fmt, rate=rate)
    frames = decode.read_video(path)
    assert frames.shape == (NUM_FRAMES, HEIGHT, WIDTH, 3) and frames.dtype == np.uint8
    assert_frames_are(frames, range(NUM_FRAMES))

@pytest.mark.parametrize("frame_step", [2, 3, 5, 12, 20])
def test_frame_step_keeps_every_kth_frame_from_the_first(tmp_path, frame_step):
    frames = decode.read_video(write_video(tmp_path / "clip.avi"), frame_step=frame_step)
    assert_frames_are(frames, range(0, NUM_FRAMES, frame_step))


@pytest.mark.parametrize("short_side, size", [(12, (12, 16)), (48, (48, 64)), (24, (24, 32))])
def test_short_side_resizes_keeping_the_aspect_ratio(tmp_path, short_side, size):
    frames = decode.read_video(write_video(tmp_path / "clip.avi"), short_side=short_side)
    assert frames.shape == (NUM_FRAMES, *size, 3)
    assert_frames_are(frames, range(NUM_FRAMES))


def test_portrait_video_resizes_its_width(tmp_path):
    path = write_video(tmp_path / "portrait.mp4", width=24, height=48)
    assert decode.read_video(path, short_side=12).shape == (NUM_FRAMES, 24, 12, 3)


def test_iter_frames_yields_what_read_video_stacks(tmp_path):
    path = write_video(tmp_path / "clip.avi")
    frames = list(decode.iter_frames(path, frame_step=4, short_side=12))
    np.testing.assert_array_equal(np.stack(frames), decode.read_video(path, 4, 12))


def test_select_frames_applies_step_and_size_to_an_array():
    video = np.empty((NUM_FRAMES, HEIGHT, WIDTH, 3), np.uint8)
    for index in range(NUM_FRAMES):
        video[index] = frame_colour(index)
    frames = decode.select_frames(video, frame_step=5, short_side=12)
    assert frames.shape == (3, 12, 16, 3)
    assert_frames_are(frames, [0, 5, 10])



def bright_corner(frame):
    """Which corner of a `write_corner_video` frame `(H, W, 3)` holds the white block."""
    height, width = frame.shape[0] // 2, frame.shape[1] // 2
    quarters = {
        "top-left": frame[:height, :width], "top-right": frame[:height, width:],
        "bottom-left": frame[height:, :width], "bottom-right": frame[height:, width:],
    }
    return max(quarters, key=lambda name: quarters[name].mean())


# The display matrix's angle turns the stored frame counter-clockwise for display, as FFmpeg
# defines it (`av_display_rotation_get`); a phone held upright writes -90.
@pytest.mark.parametrize(
    "display_rotation, corner, size",
    [(None, "top-left", (12, 16)), (0, "top-left", (12, 16)), (-90, "top-right", (16, 12)),
     (90, "bottom-left", (16, 12)), (180, "bottom-right", (12, 16))],
)
def test_frames_come_upright_as_the_display_matrix_says(tmp_path, display_rotation, corner, size):
    path = write_corner_video(tmp_path / "phone.mp4", display_rotation)
    frames = decode.read_video(path, short_side=12)
    assert frames.shape == (4, *size, 3) and frames.flags["C_CONTIGUOUS"]
    assert [bright_corner(frame) for frame in frames] == [corner] * 4
    np.testing.assert_array_equal(decode.read_frames_at(path, [1, 3], short_side=12), frames[[1, 3]])
    timed = [frame for _, _, frame in decode.iter_timed_frames(path, short_side=12)]
    np.testing.assert_array_equal(np.stack(timed), frames)


def test_a_rotated_video_holds_the_level_video_turned(tmp_path):
    level = decode.read_video(write_corner_video(tmp_path / "level.mp4"))
    turned = decode.read_video(write_corner_video(tmp_path / "turned.mp4", -90))
    np.testing.assert_array_equal(turned, np.rot90(level, -1, axes=(1, 2)))


def test_a_clip_cut_without_re_encoding_gives_the_frames_after_its_cut(tmp_path):
    path = write_cut_video(tmp_path / "cut.mp4", write_video(tmp_path / "whole.mp4", codec="libx264"), 5)
    frames = decode.read_video(path)
    assert len(frames) == decode.count_frames(path) == NUM_FRAMES - 5
    assert_frames_are(frames, range(5, NUM_FRAMES))



def test_the_footage_is_read_not_a_picture_stream_before_it(tmp_path):
    path = write_video_after_a_cover(tmp_path / "with_cover.mkv")
    frames = decode.read_video(path)
    assert len(frames) == decode.count_frames(path) == NUM_FRAMES
    assert_frames_are(frames, range(NUM_FRAMES))

def write_bytes(path, data):
    path.write_bytes(data)
    return path


def make_directory(path):
    path.mkdir()
    return path


def write_wav(path):
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\0\1" * 8000)
    return path


BAD_VIDEOS = {
    "empty": (lambda path: write_bytes(path, b""), "empty file"),
    "text": (lambda path: write_bytes(path, b"not a video\n" * 50), "not a video"),
    "missing": (lambda path: path, "cannot read the path"),
    "directory": (make_directory, "cannot read the path"),
    "truncated": (lambda path: truncate(write_video(path), 0.9), "truncated"),
    "audio only": (lambda path: write_wav(path.with_suffix(".wav")), "no video stream"),
}


@pytest.mark.parametrize("case", sorted(BAD_VIDEOS))
def test_bad_input_raises_one_line_naming_file_and_reason(tmp_path, case):
    make, reason = BAD_VIDEOS[case]
    path = make(tmp_path / "bad.avi")
    with pytest.raises(decode.VideoDecodeError) as raised:
        decode.read_video(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ") and reason in message and "\n" not in message
    assert raised.value.path == str(path) and reason in raised.value.reason


@pytest.mark.parametrize("frame_step, min_frames", [(1, NUM_FRAMES + 1), (4, 4)])
def test_fewer_frames_than_min_frames_is_an_error(tmp_path, frame_step, min_frames):
    path = write_video(tmp_path / "short.avi")
    with pytest.raises(decode.VideoDecodeError, match=f"too short: .* the {min_frames} needed"):
        decode.read_video(path, frame_step=frame_step, min_frames=min_frames)
    assert len(decode.read_video(path, frame_step=frame_step, min_frames=min_frames - 1)) > 0


@pytest.mark.parametrize("arguments", [{"frame_step": 0}, {"short_side": -1}])
def test_invalid_arguments_are_rejected(tmp_path, arguments):
    with pytest.raises(ValueError, match="Received"):
        decode.read_video(write_video(tmp_path / "clip.avi"), **arguments)
