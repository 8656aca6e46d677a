"""The input stem every model family shares: the clip input, the training augmentation the
model applies itself, the ImageNet preprocessing and time folded into the batch."""

import dataclasses

import keras

from kerasrrn.layers import ClipColorJitter, ClipCrop, FoldTime, FramePreprocessing


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """The training augmentation a model applies to its input clips itself (on the accelerator,
    so that the input pipeline only decodes). The default adds no layer.

    Attributes:
        crop: None, or a `ClipCrop` mode (`random_resized`, `random`). None: the model takes
            clips of exactly `S x S` and crops nothing; otherwise it takes frames of any size,
            crops them (random in training, centred at inference) to `S x S`, layer `crop`.
        min_crop_scale: float, the smallest area fraction of a `random_resized` crop.
        flip: bool, random horizontal flip in training (with a crop only).
        brightness, contrast: floats, `ClipColorJitter` in training, layer `color_jitter`;
            (0, 0) adds none.
    """

    crop: str = None
    min_crop_scale: float = 0.6
    flip: bool = False
    brightness: float = 0.0
    contrast: float = 0.0


def clip_input(clip_length, image_size):
    """The model input: RGB pixel values in [0, 255], `(B, clip_length, S, S, 3)`; `image_size`
    None takes frames of any size."""
    return keras.Input((clip_length, image_size, image_size, 3), name="frames")


def augmentation_layers(image_size, augmentation, seed=None):
    """The layers of `augmentation`, in the order they apply: `crop`, then `color_jitter`."""
    layers = []
    if augmentation.crop:
        layers.append(ClipCrop(image_size, augmentation.crop, augmentation.min_crop_scale,
                               flip=augmentation.flip, seed=seed, name="crop"))
    if augmentation.brightness or augmentation.contrast:
        # Its own seed: with the crop's, both layers would draw the same random numbers.
        jitter_seed = None if seed is None else seed + 1
        layers.append(ClipColorJitter(augmentation.brightness, augmentation.contrast, seed=jitter_seed,
                                      name="color_jitter"))
    return layers


def input_and_folded_frames(clip_length, image_size, augmentation=Augmentation()):
    """The model input and what the backbone gets from it: the clips augmented
    (`augmentation_layers`), preprocessed, with time folded into the batch.

    Returns:
        (`clip_input`: `(B, T, S, S, 3)`, or `(B, T, H, W, 3)` of any size when `augmentation`
        crops; folded frames `(B*T, S, S, 3)`).
    """
    frames = clip_input(clip_length, None if augmentation.crop else image_size)
    augmented = frames
    for layer in augmentation_layers(image_size, augmentation):
        augmented = layer(augmented)
    return frames, FoldTime(name="fold_time")(FramePreprocessing(name="preprocessing")(augmented))
