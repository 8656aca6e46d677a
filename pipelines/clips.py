"""Pure tensor functions for clips: temporal sampling, decoding, evaluation crops.

Every function works on one video or one clip (no batch axis) and is meant for `tf.data.map`.
Frames stay RGB pixel values in [0, 255], uint8 until resizing makes them float32. Training
clips are not cropped here: the models crop, flip and jitter them in training and normalise
inside, on the accelerator, so that the input pipeline only decodes and exported models serve
raw frames; see `kerasrrn.layers.ClipCrop`, `ClipColorJitter` and `FramePreprocessing`.
"""

import tensorflow as tf

from pipelines.sampling import SHORT_VIDEO_MODES, clip_span  # noqa: F401  (SHORT_VIDEO_MODES: wrap_indices' modes)


def wrap_indices(indices, num_frames, short_video="loop"):
    """Maps frame indices past the end of a short video back into it.

    Args:
        indices: int32 tensor of any shape, non-negative.
        num_frames: int32 scalar, the video's frame count.
        short_video: `"loop"` (index modulo `num_frames`) or `"repeat_last"`.
    """
    if short_video == "loop":
        return tf.math.floormod(indices, num_frames)
    return tf.minimum(indices, num_frames - 1)


def random_clip_indices(num_frames, clip_length, frame_step, short_video="loop", seed=None):
    """Indices of one training clip: `clip_length` frames every `frame_step` from a random start.

    Returns:
        int32 tensor `(clip_length,)`.
    """
    num_frames = tf.cast(num_frames, tf.int32)
    last_start = tf.maximum(num_frames - clip_span(clip_length, frame_step), 0)
    start = tf.random.uniform([], 0, last_start + 1, dtype=tf.int32, seed=seed)
    indices = start + tf.range(clip_length, dtype=tf.int32) * frame_step
    return wrap_indices(indices, num_frames, short_video)


def even_clip_indices(num_frames, clip_length, frame_step, num_clips, short_video="loop"):
    """Indices of `num_clips` evenly spaced clips covering the video (multi-clip testing).

    With one clip, it is the centre clip.

    Returns:
        int32 tensor `(num_clips, clip_length)`.
    """
    num_frames = tf.cast(num_frames, tf.int32)
    last_start = tf.cast(tf.maximum(num_frames - clip_span(clip_length, frame_step), 0), tf.float32)
    if num_clips == 1:
        starts = tf.round(last_start / 2)[None]
    else:
        starts = tf.round(tf.linspace(0.0, last_start, num_clips))
    starts = tf.cast(starts, tf.int32)
    indices = starts[:, None] + tf.range(clip_length, dtype=tf.int32)[None, :] * frame_step
    return wrap_indices(indices, num_frames, short_video)


def decode_frames(jpeg_frames, indices):
    """Decodes only the selected frames.

    Args:
        jpeg_frames: string tensor `(N,)`, one JPEG per stored frame.
        indices: int32 tensor `(T,)` into `jpeg_frames`.

    Returns:
        uint8 tensor `(T, H, W, 3)`.
    """
    selected = tf.gather(jpeg_frames, indices)
    return tf.map_fn(
        lambda jpeg: tf.io.decode_jpeg(jpeg, channels=3),
        selected,
        fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
    )


def resize_shorter_side(clip, size):
    """Resizes so that the shorter side is `size`, keeping the aspect ratio.

    Args:
        clip: tensor `(T, H, W, 3)`.

    Returns:
        float32 tensor `(T, H', W', 3)` with `min(H', W') == size`.
    """
    shape = tf.cast(tf.shape(clip)[1:3], tf.float32)
    new_shape = tf.cast(tf.round(shape * size / tf.reduce_min(shape)), tf.int32)
    return tf.image.resize(tf.cast(clip, tf.float32), tf.maximum(new_shape, size))


def center_crop(clip, size):
    """Resize the shorter side to `size`, then take the centre `size x size` crop.

    Returns:
        float32 tensor `(T, size, size, 3)`.
    """
    return _crop_at(resize_shorter_side(clip, size), size, 0.5)


def three_crops(clip, size):
    """Three `size x size` crops along the longer side (start, centre, end), after resizing the
    shorter side to `size` (the usual 3-crop testing).

    Returns:
        float32 tensor `(3, T, size, size, 3)`.
    """
    resized = resize_shorter_side(clip, size)
    return tf.stack([_crop_at(resized, size, position) for position in (0.0, 0.5, 1.0)])


def crop_views(frames, clip_length, size, three_crop=False):
    """The test views of already selected clip frames: one centre crop or three crops each.

    Args:
        frames: tensor `(C * clip_length, H, W, 3)`, the frames of `C` clips, clip after clip.

    Returns:
        float32 tensor `(V, clip_length, size, size, 3)`; `V = C`, or `3 * C` with
        `three_crop` (all clips' first crops, then all second crops, then all third).
    """
    crops = three_crops(frames, size) if three_crop else center_crop(frames, size)
    return tf.reshape(crops, [-1, clip_length, size, size, 3])


def _crop_at(clip, size, position):
    """Crops `size x size` at a relative `position` in [0, 1] along each longer axis."""
    height, width = tf.shape(clip)[1], tf.shape(clip)[2]
    top = tf.cast(tf.round(tf.cast(height - size, tf.float32) * position), tf.int32)
    left = tf.cast(tf.round(tf.cast(width - size, tf.float32) * position), tf.int32)
    return clip[:, top : top + size, left : left + size, :]
