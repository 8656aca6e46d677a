"""Recurrent residual networks (RRN): a ResNet with temporal skips, scored per frame.

The backbone runs on the frames of all clips folded into one batch. Each frame gets class
probabilities from its pooled conv5 features (global pooling, or a `G x G` grid that keeps
position: `frame_grid`); the clip's probabilities are their mean over frames.
With no skips this is the paper's frame-averaging `resnet` baseline.
"""

import keras

from kerasrrn.layers import UnfoldTime
from kerasrrn.models.heads import classifier, frame_pooling
from kerasrrn.models.inputs import Augmentation, input_and_folded_frames
from kerasrrn.models.resnet import SkipSpec, resnet_stages


def build_rrn(
    num_classes, clip_length=8, image_size=224, depth=50, width=1.0, skip_units=("conv5_block2",),
    skip_kind="identity", skip_delay=1, skip_span=1, dropout=0.0, augmentation=Augmentation(), skip_init="default",
    frame_grid=1, name="rrn",
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
        skip_init: str, default `"default"`. Starting value of learned temporal weights
            (`default|difference`, see `TemporalSkip`).
        dropout: float, default 0. Dropout on pooled features before the classifier.
        frame_grid: int, default 1. Pool each frame's conv5 map globally (1) or to a `G x G`
            grid, flattened (`heads.frame_pooling`; `G` must divide the map).
        augmentation: `Augmentation`, default none. Crop, flip and colour jitter of the clips
            in training, the first layers after the input.
        name: str, the model name.

    Returns:
        `keras.Model` mapping frames `(B, T, S, S, 3)` (pixels in [0, 255]; any `H x W` with a crop) to clip
        probabilities `(B, num_classes)` (float32). Layer `frame_probabilities` holds the
        per-frame probabilities `(B, T, num_classes)`.
    """
    frames, folded = input_and_folded_frames(clip_length, image_size, augmentation)
    spec = SkipSpec(delay=skip_delay, kind=skip_kind, span=skip_span, init=skip_init)
    stages = resnet_stages(
        folded, depth, width, {unit: spec for unit in skip_units},
        clip_length,
    )
    features = frame_pooling(stages["conv5"], frame_grid)
    probabilities = classifier(features, num_classes, dropout)
    per_frame = UnfoldTime(clip_length, dtype="float32", name="frame_probabilities")(probabilities)
    clip_probabilities = keras.layers.GlobalAveragePooling1D(dtype="float32", name="frame_average")(per_frame)
    return keras.Model(frames, clip_probabilities, name=name)
