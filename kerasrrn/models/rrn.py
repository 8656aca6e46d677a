"""Recurrent residual networks (RRN): a ResNet with temporal skips, scored per frame.

The backbone runs on the frames of all clips folded into one batch. Each frame gets class
probabilities from its pooled features; the clip's probabilities are their mean over frames.
With no skips this is the paper's frame-averaging `resnet` baseline.
"""

import dataclasses

import keras

from kerasrrn.layers import ClipColorJitter, ClipCrop, FoldTime, FramePreprocessing, UnfoldTime
from kerasrrn.models.resnet import SkipSpec, resnet_stages


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


def build_rrn(
    num_classes, clip_length=8, image_size=224, depth=50, width=1.0, skip_units=("conv5_block2",),
    skip_kind="identity", skip_delay=1, skip_span=1, dropout=0.0, augmentation=Augmentation(),
    name="rrn",
):
    """Builds an RRN classifier.

    Args:
        num_classes: int, number of action classes.
        clip_length: int, default 8. Frames per clip `T`.
        image_size: int, default 224. Frame height and width `S`.
        depth: int, default 50. ResNet depth (18, 34, 50, 101, 152).
        width: float, default 1.0. ResNet width multiplier.
        skip_units: sequence of str, default `("conv5_block2",)`. Residual units that receive a
            temporal skip; empty gives the frame-averaging ResNet baseline.
        skip_kind: str, default `"identity"`. Temporal weights (`identity|scalar|channel|conv`).
        skip_delay: int, default 1. Frames between skip source and target.
        skip_span: int, default 1. 1 = the unit's own input, k = the input k-1 units earlier.
        dropout: float, default 0. Dropout on pooled features before the classifier.
        augmentation: `Augmentation`, default none. Crop, flip and colour jitter of the clips
            in training, the first layers after the input.
        name: str, the model name.

    Returns:
        `keras.Model` mapping frames `(B, T, S, S, 3)` (pixels in [0, 255]; any `H x W` with a crop) to clip
        probabilities `(B, num_classes)` (float32). Layer `frame_probabilities` holds the
        per-frame probabilities `(B, T, num_classes)`.
    """
    frames, folded = input_and_folded_frames(clip_length, image_size, augmentation)
    spec = SkipSpec(delay=skip_delay, kind=skip_kind, span=skip_span)
    stages = resnet_stages(
        folded, depth, width, {unit: spec for unit in skip_units},
        clip_length,
    )
    features = keras.layers.GlobalAveragePooling2D(name="avg_pool")(stages["conv5"])
    if dropout:
        features = keras.layers.Dropout(dropout, name="dropout")(features)
    logits = keras.layers.Dense(num_classes, name="predictions")(features)
    probabilities = keras.layers.Activation("softmax", dtype="float32", name="softmax")(logits)
    per_frame = UnfoldTime(clip_length, dtype="float32", name="frame_probabilities")(probabilities)
    clip_probabilities = keras.layers.GlobalAveragePooling1D(dtype="float32", name="frame_average")(per_frame)
    return keras.Model(frames, clip_probabilities, name=name)
