"""Spatial augmentation of whole clips inside the model: crop, resize and flip on the accelerator.

Resizing is written as two small matrix products per clip (rows, then columns) with bilinear
weights, so a crop of any size and position costs the same and needs no gather: the input
pipeline only decodes JPEGs and hands over uint8 frames at their stored size.
"""

import math

import keras
from keras import ops

from kerasrrn.choices import CROP_MODES


def bilinear_weights(starts, lengths, in_size, out_size):
    """Bilinear resampling weights of windows `[start, start + length)` of an axis to `out_size`
    samples, as `tf.image.resize` (bilinear, half-pixel centres, no antialiasing) resizes a
    cut-out window: output sample `i` reads position `start + (i + 0.5) * length / out_size - 0.5`,
    clamped into the window, from its two neighbouring pixels.

    Args:
        starts: float tensor `(B,)`, first pixel of each window (whole pixels).
        lengths: float tensor `(B,)`, window lengths in pixels, >= 1.
        in_size: int or int scalar tensor, pixels along the axis.
        out_size: int, samples to take.

    Returns:
        float32 tensor `(B, out_size, in_size)`; row `i` holds the weights of output sample `i`
        (at most two non-zero, summing to 1).
    """
    samples = ops.cast(ops.arange(out_size), "float32")[None, :]
    local = (samples + 0.5) * (lengths[:, None] / out_size) - 0.5
    positions = starts[:, None] + ops.clip(local, 0.0, lengths[:, None] - 1.0)
    pixels = ops.cast(ops.arange(in_size), "float32")
    return ops.relu(1.0 - ops.abs(positions[:, :, None] - pixels[None, None, :]))


def crop_and_resize(clips, boxes, size, flip=None):
    """Cuts one window out of every frame of each clip and resizes it to `size x size`.

    Args:
        clips: float32 tensor `(B, T, H, W, C)`.
        boxes: float32 tensor `(B, 4)`: `top, left, height, width` of each clip's window, whole
            pixels inside the frame.
        size: int, the output height and width `S`.
        flip: optional bool tensor `(B,)`: clips to mirror left-right.

    Returns:
        float32 tensor `(B, T, S, S, C)`, equal to `tf.image.resize` of each window.
    """
    shape = ops.shape(clips)
    rows = bilinear_weights(boxes[:, 0], boxes[:, 2], shape[2], size)
    columns = bilinear_weights(boxes[:, 1], boxes[:, 3], shape[3], size)
    if flip is not None:
        columns = ops.where(flip[:, None, None], ops.flip(columns, axis=1), columns)
    resized = ops.einsum("bih,bthwc->btiwc", rows, clips)
    return ops.einsum("btiwc,bjw->btijc", resized, columns)


def centre_boxes(height, width, batch):
    """The centred square of side `min(height, width)` in every frame, `(batch, 4)` float32."""
    height, width = ops.cast(height, "float32"), ops.cast(width, "float32")
    side = ops.minimum(height, width)
    box = ops.stack([ops.floor((height - side) / 2), ops.floor((width - side) / 2), side, side])
    return ops.tile(box[None, :], (batch, 1))


@keras.saving.register_keras_serializable(package="kerasrrn")
class ClipCrop(keras.layers.Layer):
    """Random crop (and flip) of each clip in training, centre crop at inference; one window
    per clip, the same for all of its frames; output `size x size`.

    Training, `mode="random_resized"`: a window covering an area fraction `U(min_scale, 1)` of
    the frame with aspect ratio `exp(U(log a, log b))` (relative to the frame's, both sides
    capped at the frame's), at a random whole-pixel position, resized bilinearly.
    `mode="random"`: a `size x size` window at a random position, taken without resizing (the
    C3D recipe); frames smaller than `size` give their largest square, upsampled. With `flip`,
    each clip is mirrored left-right with probability 1/2.

    Inference: frames of `size x size` pass unchanged (cast to the compute dtype); larger or
    non-square frames give the centred square of side `min(H, W)`, resized to `size`.

    Args:
        size: int, output height and width `S`.
        mode: str, default `"random_resized"`, one of `CROP_MODES`.
        min_scale: float in (0, 1], default 0.6. Smallest area fraction (`random_resized`).
        aspect_range: (a, b), default (3/4, 4/3). Aspect ratio range (`random_resized`).
        flip: bool, default False. Random horizontal flip in training.
        seed: int or None, the seed of the layer's random draws.

    Call arguments:
        inputs: tensor `(B, T, H, W, C)`, pixel values, any numeric dtype; `H` and `W` may
            differ from `S` and between calls.
        training: bool, whether to draw random windows.

    Returns:
        Tensor `(B, T, S, S, C)` in the layer's compute dtype (resampled in float32).
    """

    def __init__(self, size, mode="random_resized", min_scale=0.6, aspect_range=(3 / 4, 4 / 3), flip=False,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in CROP_MODES:
            raise ValueError(f"Expected mode in {CROP_MODES}. Received: mode={mode!r}")
        if not 0 < min_scale <= 1 or not 0 < aspect_range[0] <= aspect_range[1]:
            raise ValueError(
                "Expected 0 < min_scale <= 1 and 0 < aspect_range[0] <= aspect_range[1]. Received: "
                f"min_scale={min_scale}, aspect_range={aspect_range}"
            )
        self.size, self.mode, self.min_scale = int(size), mode, float(min_scale)
        self.aspect_range = tuple(float(value) for value in aspect_range)
        self.flip, self.seed = bool(flip), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training and tuple(inputs.shape[2:4]) == (self.size, self.size):
            return ops.cast(inputs, self.compute_dtype)
        clips = ops.cast(inputs, "float32")
        batch, _, height, width = ops.shape(clips)[:4]
        if training:
            boxes = self.random_boxes(batch, height, width)
            flip = self.random_uniform((batch,)) < 0.5 if self.flip else None
        else:
            boxes, flip = centre_boxes(height, width, batch), None
        return ops.cast(crop_and_resize(clips, boxes, self.size, flip), self.compute_dtype)

    def random_uniform(self, shape, low=0.0, high=1.0):
        return keras.random.uniform(shape, low, high, dtype="float32", seed=self.seed_generator)

    def random_boxes(self, batch, height, width):
        """Random windows `(batch, 4)` (top, left, height, width; whole pixels) of this mode."""
        height, width = ops.cast(height, "float32"), ops.cast(width, "float32")
        if self.mode == "random":
            box_height = box_width = ops.minimum(ops.minimum(height, width), float(self.size))
        else:
            scale = self.random_uniform((batch,), self.min_scale, 1.0)
            low, high = (math.log(value) for value in self.aspect_range)
            aspect = ops.exp(self.random_uniform((batch,), low, high))
            box_height = _whole_pixels(height * ops.minimum(ops.sqrt(scale / aspect), 1.0))
            box_width = _whole_pixels(width * ops.minimum(ops.sqrt(scale * aspect), 1.0))
        top = ops.floor(self.random_uniform((batch,)) * (height - box_height + 1.0))
        left = ops.floor(self.random_uniform((batch,)) * (width - box_width + 1.0))
        box_height, box_width = box_height + ops.zeros_like(top), box_width + ops.zeros_like(left)
        # A uniform draw of exactly 1.0 (float rounding) would start one pixel past the last start.
        return ops.stack([ops.minimum(top, height - box_height), ops.minimum(left, width - box_width),
                          box_height, box_width], axis=1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:2], self.size, self.size, input_shape[4])

    def get_config(self):
        return {
            **super().get_config(),
            "size": self.size,
            "mode": self.mode,
            "min_scale": self.min_scale,
            "aspect_range": self.aspect_range,
            "flip": self.flip,
            "seed": self.seed,
        }


def _whole_pixels(pixels):
    """`round(pixels)`, at least 1."""
    return ops.maximum(ops.round(pixels), 1.0)
