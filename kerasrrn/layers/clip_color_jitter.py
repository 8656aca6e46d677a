"""Colour augmentation of whole clips inside the model, so that it runs on the accelerator."""

import keras
from keras import ops


def adjust_clips(clips, shift, factor):
    """Brightness and contrast of each clip: `(clips - mean) * factor + mean + shift`, clipped to
    [0, 255], where `mean` is the clip's mean over frames, pixels and channels.

    Args:
        clips: float tensor `(B, T, H, W, C)`, pixel values in [0, 255].
        shift: tensor broadcastable to `(B, 1, 1, 1, 1)`, added to every pixel of a clip.
        factor: tensor broadcastable to `(B, 1, 1, 1, 1)`, the contrast factor of a clip.

    Returns:
        Tensor `(B, T, H, W, C)` of the dtype of `clips`.
    """
    mean = ops.mean(clips, axis=(1, 2, 3, 4), keepdims=True)
    # One multiply and one add over the clips; the per-clip terms are tiny.
    return ops.clip(clips * factor + (mean * (1.0 - factor) + shift), 0.0, 255.0)


@keras.saving.register_keras_serializable(package="kerasrrn")
class ClipColorJitter(keras.layers.Layer):
    """Random brightness and contrast, drawn once per clip and applied to all of its frames.

    In training, each clip gets a shift `U(-brightness, brightness) * 255` and a contrast factor
    `U(1 - contrast, 1 + contrast)` (`adjust_clips`); at inference the clips pass unchanged
    (cast to the compute dtype). Keeping the input pipeline free of this float arithmetic lets
    it hand over uint8 clips: on a CPU the jitter cost as much as decoding the JPEGs
    (BENCHMARKS.md, "Reading").

    Args:
        brightness: float >= 0, default 0.1. Largest shift, as a fraction of 255.
        contrast: float in [0, 1), default 0.1. Largest change of the contrast factor.
        seed: int or None, the seed of the layer's random draws.

    Call arguments:
        inputs: tensor `(B, T, H, W, C)`, pixel values in [0, 255], any numeric dtype.
        training: bool, whether to jitter.

    Returns:
        Tensor `(B, T, H, W, C)` in the layer's compute dtype.
    """

    def __init__(self, brightness=0.1, contrast=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if brightness < 0 or not 0 <= contrast < 1:
            raise ValueError(
                "Expected brightness >= 0 and 0 <= contrast < 1. Received: "
                f"brightness={brightness}, contrast={contrast}"
            )
        self.brightness, self.contrast, self.seed = brightness, contrast, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        clips = ops.cast(inputs, self.compute_dtype)
        if not training:
            return clips
        shape = (ops.shape(clips)[0], 1, 1, 1, 1)
        shift = 255.0 * keras.random.uniform(
            shape, -self.brightness, self.brightness, dtype=self.compute_dtype, seed=self.seed_generator
        )
        factor = keras.random.uniform(
            shape, 1.0 - self.contrast, 1.0 + self.contrast, dtype=self.compute_dtype,
            seed=self.seed_generator,
        )
        return adjust_clips(clips, shift, factor)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "brightness": self.brightness,
            "contrast": self.contrast,
            "seed": self.seed,
        }
