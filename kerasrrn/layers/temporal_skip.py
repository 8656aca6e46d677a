"""The temporal skip connection of recurrent residual networks (RRN, Iqbal et al. 2017)."""

import keras
from keras import ops

from kerasrrn.choices import SKIP_INITS as INITS, SKIP_KINDS as KINDS


def _negative_identity(shape, dtype=None):
    """A 1x1 kernel `(1, 1, C, C')` of minus the identity on the first `min(C, C')` channels."""
    return -ops.reshape(ops.eye(shape[2], shape[3], dtype=dtype), shape)


@keras.saving.register_keras_serializable(package="kerasrrn")
class TemporalSkip(keras.layers.Layer):
    """Moves a per-frame tensor `delay` frames later inside each clip, weighted by `W`.

    The backbone runs on frames folded into the batch, so the input holds `B` clips of
    `clip_length` frames each, frame-major inside a clip. For frame `t` of every clip the
    output is `W * x[t - delay]`, and zeros for the first `delay` frames. A residual unit adds
    this to its sum before the final relu: `y_t = relu(shortcut(x_t) + F(x_t) + W * s_{t-d})`.

    Args:
        clip_length: int, frames per clip `T` (static).
        delay: int, default 1. How many frames later the source arrives, `1 <= delay < T`.
        kind: str, default `"identity"`. How `W` is parameterised:
            `"identity"` (fixed, no weights: the paper's best), `"scalar"` (one weight),
            `"channel"` (one weight per channel), `"conv"` (a 1x1 convolution, which can also
            change the channel count and stride so the source may have another shape).
        filters: int or None, default None. Output channels of the `"conv"` kind
            (None keeps the input's channel count). Only for `kind="conv"`.
        strides: int, default 1. Stride of the `"conv"` kind. Only for `kind="conv"`.
        init: str, default `"default"`. Starting value of a learned `W`: `"default"` is ones
            (`"scalar"`, `"channel"`) or he-normal (`"conv"`); `"difference"` is minus one, or
            minus the identity on the first `min(C, C')` channels (`"conv"`), so the unit starts
            from `x_t - x_{t-d}`: a change between frames, which a sum cannot tell apart from
            its time reversal. Not for `"identity"` (fixed `W`).

    Call arguments:
        inputs: tensor `(B * clip_length, ..., C)`: per-frame features, clips contiguous; with
            `weight_only`, any batch `(N, ..., C)`.
        weight_only: bool, default False. Apply `W` only, without moving frames: the streaming
            form, whose inputs are already the sources `delay` frames back (from its state).

    Returns:
        Tensor `(B * clip_length, ..., C')` of the same rank; `C' = filters` for `"conv"`,
        else `C`. Spatial size is divided by `strides` for `"conv"`.

    Example:
    >>> skip = TemporalSkip(clip_length=4, delay=1)
    >>> x = keras.ops.reshape(keras.ops.arange(8.0), (8, 1))  # 2 clips of 4 frames
    >>> keras.ops.convert_to_numpy(skip(x))[:, 0].tolist()
    [0.0, 0.0, 1.0, 2.0, 0.0, 4.0, 5.0, 6.0]
    """

    def __init__(self, clip_length, delay=1, kind="identity", filters=None, strides=1, init="default", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(clip_length, int) or clip_length < 2:
            raise ValueError(
                f"`clip_length` must be an integer >= 2. Received: clip_length={clip_length}"
            )
        if not isinstance(delay, int) or not 1 <= delay < clip_length:
            raise ValueError(
                f"`delay` must be an integer with 1 <= delay < clip_length={clip_length}. "
                f"Received: delay={delay}"
            )
        if kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}")
        if kind != "conv" and (filters is not None or strides != 1):
            raise ValueError(
                "`filters` and `strides` only apply to kind='conv'. "
                f"Received: kind={kind!r}, filters={filters}, strides={strides}"
            )
        if filters is not None and (not isinstance(filters, int) or filters < 1):
            raise ValueError(f"`filters` must be a positive integer. Received: filters={filters}")
        if not isinstance(strides, int) or strides < 1:
            raise ValueError(f"`strides` must be a positive integer. Received: strides={strides}")
        if init not in INITS:
            raise ValueError(f"`init` must be one of {INITS}. Received: init={init!r}")
        if kind == "identity" and init != "default":
            raise ValueError(f"kind='identity' has no weights to initialise. Received: init={init!r}")
        self.clip_length = clip_length
        self.delay = delay
        self.kind = kind
        self.filters = filters
        self.strides = strides
        self.init = init

    def build(self, input_shape):
        channels = input_shape[-1]
        if self.kind == "scalar":
            self.scale = self.add_weight(name="scale", shape=(), initializer=self._scale_initializer())
        elif self.kind == "channel":
            self.scale = self.add_weight(name="scale", shape=(channels,), initializer=self._scale_initializer())
        elif self.kind == "conv":
            if len(input_shape) != 4:
                raise ValueError(
                    "kind='conv' needs per-frame feature maps (B*T, H, W, C). "
                    f"Received: input_shape={input_shape}"
                )
            self.kernel = self.add_weight(
                name="kernel",
                shape=(1, 1, channels, self.filters or channels),
                initializer=_negative_identity if self.init == "difference" else "he_normal",
            )

    def _scale_initializer(self):
        return keras.initializers.Constant(-1.0 if self.init == "difference" else 1.0)

    def call(self, inputs, weight_only=False):
        weighted = self.weigh(inputs)
        if weight_only:
            return weighted
        frame_shape = tuple(weighted.shape[1:])
        clips = ops.reshape(weighted, (-1, self.clip_length) + frame_shape)
        no_history = ops.zeros_like(clips[:, : self.delay])
        delayed = ops.concatenate([no_history, clips[:, : self.clip_length - self.delay]], axis=1)
        return ops.reshape(delayed, (-1,) + frame_shape)

    def weigh(self, inputs):
        """`W * inputs` for per-frame tensors `(N, ..., C)` -> `(N, ..., C')`."""
        if self.kind in ("scalar", "channel"):
            return inputs * ops.cast(self.scale, inputs.dtype)
        if self.kind == "conv":
            return ops.conv(inputs, ops.cast(self.kernel, inputs.dtype), strides=self.strides)
        return inputs

    def compute_output_shape(self, input_shape):
        if self.kind != "conv":
            return tuple(input_shape)
        batch, height, width, channels = input_shape
        strided = [None if size is None else -(-size // self.strides) for size in (height, width)]
        return (batch, *strided, self.filters or channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "clip_length": self.clip_length,
                "delay": self.delay,
                "kind": self.kind,
                "filters": self.filters,
                "strides": self.strides,
                "init": self.init,
            }
        )
        return config
