"""The values a run config may name, and the rules that decide them, without Keras.

Each set of choices is defined here once; the module that implements it imports it from here
and dispatches on it (`TemporalSkip` on `SKIP_KINDS`, the registry on `MODELS`, ...). The
ResNet's residual units and the skips they accept, and the depths with ImageNet weights, are
plain Python too. So `kerasrrn.config`, and the flags made from it, load without Keras or
TensorFlow: `--help` and usage errors answer at once.
"""

import dataclasses
import os

# kerasrrn.layers
# ClipCrop's training crops: `random_resized` (area and aspect jitter, then resize) or `random` (a
# window of the output size, no resizing unless the frames are smaller).
CROP_MODES = ("random_resized", "random")
SRU_VARIANTS = ("2017", "2018")  # SRU
SKIP_KINDS = ("identity", "scalar", "channel", "conv")  # TemporalSkip
SKIP_INITS = ("default", "difference")  # TemporalSkip
# kerasrrn.models
MODELS = ("rrn", "resnet", "resnet_lstm", "mrrn", "mrrn_shared")  # registry.BUILDERS
TIME_POOLINGS = ("mean", "max", "last")  # heads.HeadSpec
STREAM_STAGES = {"low": "conv3", "mid": "conv4", "high": "conv5"}  # mrrn: the stage a stream taps
STREAMS = tuple(STREAM_STAGES)
# kerasrrn.training
OPTIMIZERS = ("adamw", "sgd")  # compile
DECAYS = ("cosine", "step", "constant")  # schedules.WarmupDecay
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")  # distribution
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")  # runtime

# The ResNet (kerasrrn.models.resnet): residual units per stage, by depth.
STAGE_BLOCKS = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
DEPTHS = tuple(STAGE_BLOCKS)
BOTTLENECK_DEPTHS = (50, 101, 152)
STAGE_NAMES = ("conv2", "conv3", "conv4", "conv5")
# The depths of `keras.applications` ResNets, whose ImageNet weights load (models.pretrained).
IMAGENET_DEPTHS = (50, 101, 152)


@dataclasses.dataclass(frozen=True)
class SkipSpec:
    """A temporal skip into one residual unit.

    Attributes:
        delay: int, frames `d` between source and target.
        kind: str, `identity|scalar|channel|conv` (see `TemporalSkip`).
        span: int, 1 takes the unit's own input; `k` the input of the unit `k - 1` earlier.
    """

    delay: int = 1
    kind: str = "identity"
    span: int = 1
    init: str = "default"  # of a learned W (`TemporalSkip`'s `init`); identity has none


def unit_names(depth):
    """Names of all residual units of a ResNet of `depth`, e.g. `conv2_block1` ... `conv5_block3`."""
    check_depth(depth)
    return [
        f"{stage}_block{block}"
        for stage, blocks in zip(STAGE_NAMES, STAGE_BLOCKS[depth])
        for block in range(1, blocks + 1)
    ]


def check_depth(depth):
    if depth not in STAGE_BLOCKS:
        raise ValueError(f"ResNet depth must be one of {sorted(STAGE_BLOCKS)}. Received: depth={depth}")


def check_skips(depth, skips, clip_length):
    """Raises ValueError for a skip placement that cannot be built, naming the unit."""
    names = unit_names(depth)
    for unit, spec in skips.items():
        if unit not in names:
            raise ValueError(
                f"Unknown residual unit {unit!r} for ResNet-{depth}; expected one of "
                f"{names[0]} ... {names[-1]}. Received: skip unit={unit!r}"
            )
        block = int(unit.split("_block")[1])
        if spec.span < 1 or spec.span > block:
            raise ValueError(
                f"Skip into {unit} has span={spec.span}: it must be between 1 and {block} "
                "(the source must be a unit of the same stage)"
            )
        if block - spec.span + 1 == 1 and spec.kind != "conv" and _changes_shape(depth, unit):
            raise ValueError(
                f"Skip into {unit} with span={spec.span} takes the stage's input, whose shape "
                f"differs from the unit's output; use kind='conv'. Received: kind={spec.kind!r}"
            )
        if not 1 <= spec.delay < clip_length:
            raise ValueError(
                f"Skip into {unit} has delay={spec.delay}: it must be between 1 and "
                f"clip_length - 1 = {clip_length - 1}"
            )


def _changes_shape(depth, unit):
    """Whether the first unit of `unit`'s stage changes the tensor shape (always, except conv2
    of basic-unit ResNets, whose first unit keeps 64 channels and the resolution)."""
    return depth in BOTTLENECK_DEPTHS or not unit.startswith("conv2")


def stage_map_size(image_size, stage):
    """Height (= width) of a ResNet stage's map for square frames of `image_size`: the stem
    halves it twice and each later stage once, rounding up (`conv5` is at 1/32)."""
    size = image_size
    for _ in range(2 + STAGE_NAMES.index(stage)):
        size = -(-size // 2)
    return size


def check_weights(depth, width, weights):
    """Raises ValueError / FileNotFoundError (one line naming --weights) for weights that cannot
    fit the backbone, before anything is built or downloaded."""
    if depth not in IMAGENET_DEPTHS or width != 1.0:
        raise ValueError(
            f"--weights {weights} needs a ResNet-50/101/152 backbone at width 1.0. "
            f"Received: depth={depth}, width={width}"
        )
    if weights != "imagenet" and not os.path.isfile(weights):
        raise FileNotFoundError(f"--weights {weights}: no such file (expected 'imagenet', 'none' or a .h5 path)")
