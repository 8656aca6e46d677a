"""Video decoding with PyAV (FFmpeg bindings): frames as uint8 RGB arrays `(H, W, 3)`.

Every frame is decoded (inter-frame codecs need them all), but only every `frame_step`-th one is
converted to RGB and resized, which is where most of the time goes. Resizing uses FFmpeg's
swscale (bilinear) so the shorter side becomes `short_side`, keeping the aspect ratio.

Frames come upright, as a player shows them: a video whose container carries a display rotation
(a phone's portrait video, stored landscape with "rotate 90") is turned by it, in quarter turns,
as the `ffmpeg` command does by default. Mirroring in the display matrix is not applied.

PyAV, not OpenCV: measured in `BENCHMARKS.md`.

Example:
>>> frames = read_video("v_ApplyEyeMakeup_g01_c01.avi", frame_step=2, short_side=128)
>>> frames.shape, frames.dtype
((82, 128, 170, 3), dtype('uint8'))
"""

import math
import os

import av
import numpy as np


class VideoDecodeError(Exception):
    """A video that could not be decoded; `str()` is one line naming the file and the reason.

    Attributes:
        path: str, the video file.
        reason: str, what went wrong, e.g. `empty file (0 bytes)`.
    """

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def resized_size(width, height, short_side):
    """`(width, height)` scaled so the shorter side is `short_side` (0 keeps the size)."""
    if short_side == 0 or min(width, height) == short_side:
        return width, height
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb(frame, short_side):
    """One `av.VideoFrame` as a uint8 RGB array `(H, W, 3)`, shorter side `short_side`, turned
    upright by the frame's display rotation (to the nearest quarter turn)."""
    width, height = resized_size(frame.width, frame.height, short_side)
    # One swscale thread: by default PyAV starts and joins a thread pool for every frame, which
    # halved the conversion speed and left the prepare workers waiting on each other.
    rgb = frame.to_ndarray(
        width=width, height=height, format="rgb24", interpolation="BILINEAR", threads=1
    )
    # `rotation` is the counter-clockwise angle the display matrix turns the frame by, and
    # `np.rot90` turns counter-clockwise: a phone's portrait video reads -90, a clockwise turn.
    quarter_turns = round(frame.rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


def _open(path):
    """Opens `path` (a file, a capture device `/dev/video*` or a URL FFmpeg reads), turning
    every way it can fail to open into a `VideoDecodeError`."""
    text = str(path)
    # A Video4Linux device has no container FFmpeg can probe: name its input format.
    options = {"format": "v4l2"} if text.startswith("/dev/video") else {}
    try:
        if os.path.isfile(text) and os.path.getsize(text) == 0:
            raise VideoDecodeError(path, "empty file (0 bytes)")
        return av.open(text, **options)
    except av.error.InvalidDataError as error:
        raise VideoDecodeError(path, f"not a video FFmpeg can read ({error.strerror})") from error
    except (OSError, av.error.FFmpegError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise VideoDecodeError(path, f"cannot read the path ({reason})") from error


def _decoded_frames(path):
    """Yields every decoded `av.VideoFrame` of a video file, checking it as it goes.

    A clip cut without re-encoding (`ffmpeg -ss ... -c copy`, a phone's trim) keeps the frames
    before its cut for the decoder's sake and an edit list that hides them: FFmpeg decodes them
    but does not return them, so they are neither yielded nor counted as missing.

    Raises:
        VideoDecodeError: for an empty, unreadable or non-video file, a file without a video
            stream, one whose frame size changes mid-stream (the frames would not stack), or
            one that ends before the frames its header announces (truncated).
    """
    with _open(path) as container:
        # FFmpeg's own choice among several video streams (as the `ffmpeg` command's): the
        # footage, not a cover picture or thumbnail track stored before it.
        stream = container.streams.best("video")
        if stream is None:
            raise VideoDecodeError(path, "no video stream")
        announced = stream.frames
        # Truncation is told by the packets, not the frames: an edit list hides frames the
        # file holds in full. The last packet of `demux` is an empty one that flushes.
        packets, decoded, size = 0, 0, None
        try:
            for packet in container.demux(stream):
                packets += packet.size > 0
                for frame in packet.decode():
                    size = size or (frame.width, frame.height)
                    if (frame.width, frame.height) != size:
                        raise VideoDecodeError(
                            path,
                            f"frame size changes mid-stream at frame {decoded} "
                            f"({size[0]}x{size[1]} -> {frame.width}x{frame.height})",
                        )
                    yield frame
                    decoded += 1
        except av.error.FFmpegError as error:
            raise VideoDecodeError(
                path, f"truncated or corrupt after {decoded} frames ({error.strerror})"
            ) from error
        if packets < announced:
            raise VideoDecodeError(
                path, f"truncated: holds {packets} of the {announced} frames its header announces"
            )
        if decoded == 0:
            raise VideoDecodeError(path, "the video stream holds no frames")


def _check_arguments(frame_step, short_side):
    if frame_step < 1 or short_side < 0:
        raise ValueError(
            f"Expected frame_step >= 1 and short_side >= 0. Received: frame_step={frame_step}, "
            f"short_side={short_side}"
        )


def iter_frames(path, frame_step=1, short_side=0):
    """Yields every `frame_step`-th frame of a video file, from the first one.

    Args:
        path: str or path-like, the video file.
        frame_step: int, default 1. Keep frames 0, k, 2k, ...
        short_side: int, default 0. Resize so the shorter side has this many pixels; 0 keeps.

    Yields:
        uint8 arrays `(H, W, 3)`, RGB.

    Raises:
        VideoDecodeError: as `_decoded_frames`.
    """
    _check_arguments(frame_step, short_side)
    for index, frame in enumerate(_decoded_frames(path)):
        if index % frame_step == 0:
            yield _to_rgb(frame, short_side)


def iter_timed_frames(source, frame_step=1, short_side=0):
    """`iter_frames` of a file, a capture device or a URL, with each frame's time.

    Yields:
        (index, seconds, frame): the decoded frame's index, its presentation time in seconds
        (NaN when the stream gives none) and the uint8 RGB array `(H, W, 3)`.

    Raises:
        VideoDecodeError: as `_decoded_frames`, also when the stream breaks mid-way.
    """
    _check_arguments(frame_step, short_side)
    for index, frame in enumerate(_decoded_frames(source)):
        if index % frame_step == 0:
            seconds = float("nan") if frame.time is None else float(frame.time)
            yield index, seconds, _to_rgb(frame, short_side)


def count_frames(path, frame_step=1):
    """How many frames `iter_frames(path, frame_step)` yields, without converting any to RGB."""
    _check_arguments(frame_step, 0)
    decoded = sum(1 for _ in _decoded_frames(path))
    return math.ceil(decoded / frame_step)


def read_frames_at(path, indices, frame_step=1, short_side=0):
    """Only the kept frames at `indices` (positions in `iter_frames`' output), in one array.

    Memory holds `len(indices)` frames, not the whole video: for `predict`, which needs
    `num_test_clips x clip_length` frames of a video that may hold thousands.

    Args:
        path, frame_step, short_side: as in `iter_frames`.
        indices: sorted, distinct ints in `[0, count_frames(path, frame_step))`.

    Returns:
        uint8 array `(len(indices), H, W, 3)`, RGB.
    """
    _check_arguments(frame_step, short_side)
    wanted = {index * frame_step for index in indices}
    frames = [
        _to_rgb(frame, short_side)
        for index, frame in enumerate(_decoded_frames(path))
        if index in wanted
    ]
    if len(frames) != len(wanted):
        raise VideoDecodeError(
            path, f"holds fewer frames than counted ({len(frames)} of {len(wanted)} wanted)"
        )
    return np.stack(frames)


def read_video(path, frame_step=1, short_side=0, min_frames=1):
    """Decodes a whole video file into one array.

    Args:
        path: str or path-like, the video file.
        frame_step: int, default 1. Keep every `frame_step`-th frame.
        short_side: int, default 0. Resize so the shorter side has this many pixels; 0 keeps.
        min_frames: int, default 1. Fewer kept frames raise `VideoDecodeError`.

    Returns:
        uint8 array `(N, H, W, 3)`, RGB, `N >= min_frames`.
    """
    frames = list(iter_frames(path, frame_step, short_side))
    return np.stack(require_frames(frames, min_frames, path, frame_step))


def select_frames(frames, frame_step=1, short_side=0, min_frames=1, name="<frames>"):
    """Applies `frame_step` and `short_side` to frames decoded elsewhere (e.g. TFDS).

    Args:
        frames: uint8 array `(N, H, W, 3)`.
        frame_step, short_side, min_frames: as in `read_video`.
        name: str, names the video in a `VideoDecodeError`.

    Returns:
        uint8 array `(ceil(N / frame_step), H', W', 3)`.
    """
    kept = [
        _to_rgb(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24"), short_side)
        for frame in frames[::frame_step]
    ]
    return np.stack(require_frames(kept, min_frames, name, frame_step))


def require_frames(frames, min_frames, path, frame_step):
    """`frames` unchanged, or a `VideoDecodeError` when there are fewer than `min_frames`."""
    if len(frames) < min_frames:
        raise VideoDecodeError(
            path,
            f"too short: {len(frames)} frames kept with frame_step={frame_step}, "
            f"fewer than the {min_frames} needed (--min-frames)",
        )
    return frames
