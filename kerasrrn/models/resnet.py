"""The ResNet backbone builder, with optional temporal skips in named residual units.

Depths 18 and 34 use basic units, 50/101/152 bottleneck units. Layer names follow
`keras.applications.ResNet50/101/152` (`conv1_conv`, `conv4_block3_2_bn`, ...), so ImageNet
weights load by name. A residual unit named in `skips` also adds a `TemporalSkip` of the input
of the unit `span - 1` units earlier in the same stage, before its final relu.
"""

import keras

# The residual units and the skips they accept are plain Python, for the config; re-exported here.
from kerasrrn.choices import (  # noqa: F401
    BOTTLENECK_DEPTHS, DEPTHS, STAGE_BLOCKS, STAGE_NAMES, SkipSpec, check_depth, check_skips, unit_names,
)
from kerasrrn.layers import TemporalSkip

STAGE_FILTERS = (64, 128, 256, 512)
BN_EPSILON = 1.001e-5
# Our choice, not keras.applications' 0.99: video datasets give few steps per epoch (360
# clips of 16 = 22), and at 0.99 the moving statistics lag the weights for the first ~10
# epochs, so validation (and the best checkpoint) sees a broken network (BENCHMARKS.md).
BN_MOMENTUM = 0.9


def is_backbone_layer(name):
    """Whether a layer name belongs to the ResNet backbone (stem, stages and their skips)."""
    return name.startswith(("conv1_", "pool1_")) or name.split("_", 1)[0] in STAGE_NAMES


def batch_norm(name):
    """The backbone's BatchNormalization layer (`BN_EPSILON`, `BN_MOMENTUM`), named `name`."""
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def scaled_filters(filters, width):
    """Channel count after the width multiplier (at least 8)."""
    return max(8, int(round(filters * width)))


def apply_skip(layer, source):
    """How the clip models apply a `TemporalSkip`: to the sources of every frame of the clips."""
    return layer(source)


def resnet_stages(frames, depth=50, width=1.0, skips=None, clip_length=None, last_stage="conv5",
                  skip_call=apply_skip):
    """Applies a ResNet to folded frames and returns every stage's output.

    Args:
        frames: tensor `(B*T, H, W, 3)`, preprocessed frames.
        depth: int, default 50. One of 18, 34, 50, 101, 152.
        width: float, default 1.0. Channel multiplier (1.0 equals keras.applications).
        skips: dict of unit name to `SkipSpec`, default None (no temporal skips).
        clip_length: int, frames per clip `T`; required when `skips` is not empty.
        last_stage: str, default "conv5". Build only up to this stage (an MRRN low stream
            needs conv3 only).
        skip_call: callable `(TemporalSkip layer, source tensor) -> tensor added to the unit`,
            default `apply_skip`. The streaming models (`kerasrrn.models.streaming`) pass one
            that applies the layer to the source `delay` frames back, kept in their state.

    Returns:
        dict of stage name (`conv1` (after pooling), `conv2` ... `last_stage`) to tensor
        `(B*T, H_s, W_s, C_s)`; `conv5` is at 1/32 of the input resolution.
    """
    check_depth(depth)
    skips = dict(skips or {})
    if skips:
        if clip_length is None:
            raise ValueError("`clip_length` is required when temporal skips are placed")
        check_skips(depth, skips, clip_length)
    if last_stage not in STAGE_NAMES:
        raise ValueError(f"`last_stage` must be one of {STAGE_NAMES}. Received: last_stage={last_stage!r}")
    bottleneck = depth in BOTTLENECK_DEPTHS
    expansion = 4 if bottleneck else 1

    x = keras.layers.ZeroPadding2D(padding=3, name="conv1_pad")(frames)
    x = keras.layers.Conv2D(scaled_filters(64, width), 7, strides=2, name="conv1_conv")(x)
    x = batch_norm("conv1_bn")(x)
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    x = keras.layers.ZeroPadding2D(padding=1, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    outputs = {"conv1": x}

    for stage_index, (stage, blocks, filters) in enumerate(
        zip(STAGE_NAMES, STAGE_BLOCKS[depth], STAGE_FILTERS)
    ):
        filters = scaled_filters(filters, width)
        unit_inputs = []
        for block in range(1, blocks + 1):
            name = f"{stage}_block{block}"
            unit_inputs.append(x)
            first = block == 1
            stride = 2 if first and stage_index > 0 else 1
            projects = first and (bottleneck or stage_index > 0)
            skip = None
            if name in skips:
                spec = skips[name]
                source_index = block - spec.span
                source_stride = 2 if source_index == 0 and stage_index > 0 else 1
                layer = _temporal_skip(spec, clip_length, filters * expansion, source_stride, name)
                skip = skip_call(layer, unit_inputs[source_index])
            unit = bottleneck_unit if bottleneck else basic_unit
            x = unit(x, filters, stride, projects, name, skip)
        outputs[stage] = x
        if stage == last_stage:
            break
    return outputs


def _temporal_skip(spec, clip_length, out_channels, stride, name):
    """The `TemporalSkip` layer `<unit>_temporal_skip`; a `conv` skip projects the source to the
    unit's output channels and resolution."""
    projection = {"filters": out_channels, "strides": stride} if spec.kind == "conv" else {}
    return TemporalSkip(
        clip_length, delay=spec.delay, kind=spec.kind, init="default" if spec.kind == "identity" else spec.init,
        name=f"{name}_temporal_skip", **projection
    )


def bottleneck_unit(x, filters, stride, projects, name, skip=None):
    """A bottleneck residual unit (1x1, 3x3, 1x1 with 4x expansion), as keras.applications.

    Args:
        x: tensor `(N, H, W, C)`.
        filters: int, channels of the 3x3 convolution; the output has `4 * filters`.
        stride: int, stride of the first 1x1 convolution and the projection shortcut.
        projects: bool, whether the shortcut is a 1x1 convolution (else identity).
        name: str, unit name prefix, e.g. `conv4_block2`.
        skip: tensor `(N, H/stride, W/stride, 4 * filters)` or None, added before the relu.

    Returns:
        Tensor `(N, H/stride, W/stride, 4 * filters)`.
    """
    shortcut = x
    if projects:
        shortcut = keras.layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = batch_norm(f"{name}_0_bn")(shortcut)
    x = keras.layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = batch_norm(f"{name}_1_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = batch_norm(f"{name}_2_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = keras.layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = batch_norm(f"{name}_3_bn")(x)
    return _merge(shortcut, x, skip, name)


def basic_unit(x, filters, stride, projects, name, skip=None):
    """A basic residual unit (two 3x3 convolutions), as in ResNet-18/34.

    Args and shapes as `bottleneck_unit`, with `filters` output channels.
    """
    shortcut = x
    if projects:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = batch_norm(f"{name}_0_bn")(shortcut)
    x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", name=f"{name}_1_conv")(x)
    x = batch_norm(f"{name}_1_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = batch_norm(f"{name}_2_bn")(x)
    return _merge(shortcut, x, skip, name)


def _merge(shortcut, residual, skip, name):
    branches = [shortcut, residual] if skip is None else [shortcut, residual, skip]
    x = keras.layers.Add(name=f"{name}_add")(branches)
    return keras.layers.Activation("relu", name=f"{name}_out")(x)
