"""Multi-level recurrent residual networks (MRRN): SRU streams on ResNet stages, and their fusion.

A stream taps the output of one ResNet stage (`low` = conv3, `mid` = conv4, `high` = conv5),
pools every frame (globally, or to a `G x G` grid: `HeadSpec.frame_grid`, ours) and runs
stacked SRUs over the clip's frames:

    frames (B, T, S, S, 3) -> backbone up to the tap (B*T, H, W, C) -> avg_pool (B*T, F)
    -> unfold_time (B, T, F) -> sru_1 ... sru_L (B, T, U) -> time_pool (B, U)
    -> dropout -> predictions + softmax (B, num_classes), float32

Each stream is its own model (`build_mrrn`); `build_fused_mrrn` combines trained streams into
one model whose output is `sum_i w_i * p_i` (`MRRNFusion`). `build_mrrn_shared` (ours, not in
the paper) puts the three heads on one backbone and trains them in one run.
"""

import keras
from keras import ops

from kerasrrn.choices import STREAM_STAGES, STREAMS  # noqa: F401  (STREAMS: the config's choices)
from kerasrrn.models.heads import HeadSpec, stream_head
from kerasrrn.models.inputs import Augmentation, clip_input, input_and_folded_frames
from kerasrrn.models.resnet import resnet_stages

# How far the stream weights of a fusion may be from summing to 1 (float32 round-off of a tuner).
WEIGHT_SUM_TOLERANCE = 1e-5


def check_stream(stream):
    if stream not in STREAM_STAGES:
        raise ValueError(f"`stream` must be one of {tuple(STREAM_STAGES)}. Received: stream={stream!r}")


def build_mrrn(
    num_classes, stream="high", clip_length=8, image_size=224, depth=50, width=1.0, head=HeadSpec(),
    augmentation=Augmentation(), name=None,
):
    """Builds one MRRN stream.

    Args:
        num_classes, clip_length, image_size, depth, width, augmentation: as `build_rrn`.
        stream: str, default "high". Tapped stage: `low` (conv3), `mid` (conv4), `high` (conv5).
            The backbone is built only up to the tapped stage.
        head: `HeadSpec`, the SRU head.
        name: str, default `mrrn_<stream>`. Streams fused into one model need distinct names.

    Returns:
        `keras.Model` mapping frames `(B, T, S, S, 3)` (pixels in [0, 255]; any `H x W` with a crop) to clip
        probabilities `(B, num_classes)` (float32). Backbone layers keep the
        `keras.applications` names; head layers are `avg_pool`, `unfold_time`, `sru_<i>`,
        `time_pool`, `dropout`, `predictions`, `softmax`.
    """
    check_stream(stream)
    frames, folded = input_and_folded_frames(clip_length, image_size, augmentation)
    stage = STREAM_STAGES[stream]
    stages = resnet_stages(folded, depth, width, last_stage=stage)
    probabilities = stream_head(stages[stage], clip_length, num_classes, head)
    return keras.Model(frames, probabilities, name=name or f"mrrn_{stream}")


@keras.saving.register_keras_serializable(package="kerasrrn")
class MRRNFusion(keras.layers.Layer):
    """Late fusion of stream probabilities: `p = sum_i w_i * p_i`.

    The weights are fixed (a non-trainable weight `stream_weights`, also in the layer config):
    they are chosen on held-out scores, not trained.

    Args:
        stream_weights: sequence of S >= 2 floats, one per stream, non-negative, summing to 1
            (within 1e-5).
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: list of S tensors `(B, C)`, the streams' probabilities.

    Returns:
        Tensor `(B, C)` in the layer's compute dtype.

    Example:
    >>> fusion = MRRNFusion([0.25, 0.75])
    >>> fusion([keras.ops.ones((2, 3)), keras.ops.zeros((2, 3))]).shape
    (2, 3)
    """

    def __init__(self, stream_weights, **kwargs):
        super().__init__(**kwargs)
        received = f"Received: stream_weights={stream_weights!r}"
        try:
            weights = [float(weight) for weight in stream_weights]
        except (TypeError, ValueError):
            raise ValueError(f"`stream_weights` must be a sequence of numbers. {received}") from None
        if len(weights) < 2:
            raise ValueError(f"`stream_weights` must hold one weight per stream, at least 2. {received}")
        if not all(weight >= 0 for weight in weights):  # also rejects NaN
            raise ValueError(f"`stream_weights` must be non-negative. {received}")
        if abs(sum(weights) - 1.0) > WEIGHT_SUM_TOLERANCE:
            raise ValueError(f"`stream_weights` must sum to 1. {received} (sum {sum(weights)})")
        self.stream_weights = tuple(weights)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != len(self.stream_weights):
            raise ValueError(
                f"{self.name} fuses {len(self.stream_weights)} streams: call it on a list of "
                f"{len(self.stream_weights)} tensors (B, C). Received: input_shape={input_shape}"
            )
        if len({tuple(shape[1:]) for shape in input_shape}) != 1:
            raise ValueError(
                f"All streams must give probabilities of the same shape (B, C). Received: input_shape={input_shape}"
            )
        self.fusion_weights = self.add_weight(
            name="stream_weights", shape=(len(self.stream_weights),),
            initializer=keras.initializers.Constant(self.stream_weights), trainable=False,
        )

    def call(self, inputs):
        return self.weighted_sum(ops.stack([ops.cast(p, self.compute_dtype) for p in inputs], axis=1))

    def weighted_sum(self, stacked):
        """`(B, S, C)` stream probabilities -> `(B, C)`, weighted by `stream_weights`."""
        return ops.einsum("bsc,s->bc", stacked, ops.cast(self.fusion_weights, stacked.dtype))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "stream_weights": list(self.stream_weights)}


def build_fused_mrrn(stream_models, weights, name="mrrn_fused"):
    """One model that feeds a clip to every stream and fuses their probabilities.

    Args:
        stream_models: sequence of S >= 2 `keras.Model`s mapping `(B, T, S, S, 3)` to
            `(B, C)`, with the same input and output shapes and distinct names (they stay
            nested under their names, so the fused model saves as one `.keras` file).
        weights: sequence of S floats for `MRRNFusion` (non-negative, summing to 1).
        name: str, default "mrrn_fused".

    Returns:
        `keras.Model` mapping frames `(B, T, S, S, 3)` (pixels in [0, 255]; any `H x W` with a crop) to fused
        probabilities `(B, C)` (float32); the fusion layer is `fusion`.
    """
    stream_models = list(stream_models)
    names = [model.name for model in stream_models]
    if len(set(names)) != len(names):
        raise ValueError(f"Stream models must have distinct names. Received: names={names}")
    for what, shapes in (("input", [model.input_shape for model in stream_models]),
                         ("output", [model.output_shape for model in stream_models])):
        if len({tuple(shape) for shape in shapes}) != 1:
            raise ValueError(
                f"Stream models must share their {what} shape (clip length, image size, classes). "
                f"Received: {what} shapes {dict(zip(names, shapes))}"
            )
    _, clip_length, image_size = stream_models[0].input_shape[:3]
    frames = clip_input(clip_length, image_size)
    probabilities = [model(frames) for model in stream_models]
    fused = MRRNFusion(weights, dtype="float32", name="fusion")(probabilities)
    return keras.Model(frames, fused, name=name)


@keras.saving.register_keras_serializable(package="kerasrrn")
class SharedHeadScores(MRRNFusion):
    """`MRRNFusion` of the heads of one model that, in training, returns every head instead.

    Call arguments:
        inputs: list of H tensors `(B, C)`, the heads' probabilities.
        training: bool, default False.

    Returns:
        The fused probabilities `(B, C)`; with `training=True` the heads stacked, `(B, H, C)`,
        so that `SharedMRRN.compute_loss` can score each head.
    """

    def call(self, inputs, training=False):
        stacked = ops.stack([ops.cast(p, self.compute_dtype) for p in inputs], axis=1)
        return stacked if training else self.weighted_sum(stacked)


@keras.saving.register_keras_serializable(package="kerasrrn")
class SharedMRRN(keras.Model):
    """A functional model whose last layer is `SharedHeadScores`, trained on every head.

    Inference (`predict`, `evaluate`, export) gives the fused probabilities `(B, C)`, like every
    other model. In training the output is `(B, H, C)`: the loss is the sum over heads of the
    compiled loss of each head against the clip label, and the compiled metrics score the fused
    probabilities (so `top1` means the same in training and validation). `val_loss` is the
    compiled loss of the fused probabilities.
    """

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if len(y_pred.shape) == 3:
            # Every (clip, head) pair becomes one example, `(B*H, C)` against its clip's label,
            # so any compiled loss for `(N,)` labels and `(N, C)` probabilities applies.
            num_heads, num_classes = y_pred.shape[1:]
            y_pred = ops.reshape(y_pred, (-1, num_classes))
            y = ops.repeat(y, num_heads, axis=0)
            if sample_weight is None:
                clip_weight = ops.ones_like(y, "float32")
            else:
                clip_weight = ops.repeat(sample_weight, num_heads, axis=0)
            # The compiled loss averages over the B*H examples; weighting each by H turns that
            # mean into the sum over heads of each head's mean over clips.
            sample_weight = float(num_heads) * clip_weight
        return super().compute_loss(x, y, y_pred, sample_weight, training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if len(y_pred.shape) == 3:
            y_pred = self.get_layer("probabilities").weighted_sum(y_pred)
        return super().compute_metrics(x, y, y_pred, sample_weight)


def build_mrrn_shared(
    num_classes, clip_length=8, image_size=224, depth=50, width=1.0, head=HeadSpec(),
    augmentation=Augmentation(), name="mrrn_shared",
):
    """Builds an MRRN with one backbone and a stream head on each of conv3, conv4 and conv5.

    Args:
        num_classes, clip_length, image_size, depth, width, head, augmentation: as `build_mrrn`.
        name: str, default "mrrn_shared".

    Returns:
        `SharedMRRN` mapping frames `(B, T, S, S, 3)` (pixels in [0, 255]; any `H x W` with a crop) to the equal-weight
        average of its heads' probabilities `(B, num_classes)` (float32), layer
        `probabilities`. Head layers carry the stream as prefix (`low_sru_1`,
        `mid_time_pool`); the heads' probabilities are layers `low`, `mid`, `high`.
    """
    frames, folded = input_and_folded_frames(clip_length, image_size, augmentation)
    stages = resnet_stages(folded, depth, width)
    heads = [
        stream_head(stages[stage], clip_length, num_classes, head, prefix=f"{stream}_", output_name=stream)
        for stream, stage in STREAM_STAGES.items()
    ]
    scores = SharedHeadScores([1 / len(heads)] * len(heads), dtype="float32", name="probabilities")(heads)
    return SharedMRRN(frames, scores, name=name)
