"""The state a streaming model carries from one frame to the next: a queue of the last frames'
tensors, the frame count, and pooling over time that is updated one frame at a time.

Every layer takes the previous state and the new frame's tensor and returns the new state
(and what it pools); the model's caller feeds the new state back in at the next step.
"""

import keras
from keras import ops

POOLINGS = ("mean", "max", "last")


def _check_pooling(pooling):
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {POOLINGS}. Received: pooling={pooling!r}")


@keras.saving.register_keras_serializable(package="kerasrrn")
class FrameQueue(keras.layers.Layer):
    """Pushes the new frame's tensor into a first-in first-out queue of the last `N` frames.

    Call arguments:
        inputs: list `[queue, item]`: `queue` `(B, N, ...)`, oldest frame first (zeros where the
            stream has not reached yet); `item` `(B, ...)`, the new frame's tensor.

    Returns:
        list `[oldest, new_queue]`: `oldest` `(B, ...)` = `queue[:, 0]`, the tensor of the frame
        `N` steps back; `new_queue` `(B, N, ...)` = `queue[:, 1:]` followed by `item`.

    Example:
    >>> oldest, queue = FrameQueue()([keras.ops.zeros((1, 2, 3)), keras.ops.ones((1, 3))])
    >>> keras.ops.convert_to_numpy(queue)[0, :, 0].tolist()
    [0.0, 1.0]
    """

    def call(self, inputs):
        queue, item = inputs
        item = ops.cast(item, queue.dtype)
        return [queue[:, 0], ops.concatenate([queue[:, 1:], ops.expand_dims(item, 1)], axis=1)]


@keras.saving.register_keras_serializable(package="kerasrrn")
class FrameCounter(keras.layers.Layer):
    """Counts the frames a stream has seen: `(B, 1)` float32 -> the same plus one."""

    def call(self, seen):
        return seen + 1.0


@keras.saving.register_keras_serializable(package="kerasrrn")
class WindowPooling(keras.layers.Layer):
    """Pooling over the last `window` frames' features, updated with the new frame.

    Before `window` frames have been seen, it pools the frames seen so far.

    Args:
        window: int, frames pooled `T`.
        pooling: str, `mean|max|last`.

    Call arguments:
        inputs: list `[queue, seen, item]`: `queue` `(B, T, F)`, the previous `T` frames'
            features, oldest first; `seen` `(B, 1)`, frames seen before this one; `item`
            `(B, F)`, the new frame's features.

    Returns:
        list `[pooled (B, F), new_queue (B, T, F)]`.
    """

    def __init__(self, window, pooling="mean", **kwargs):
        super().__init__(**kwargs)
        _check_pooling(pooling)
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"`window` must be a positive integer. Received: window={window}")
        self.window, self.pooling = window, pooling

    def call(self, inputs):
        queue, seen, item = inputs
        item = ops.cast(item, queue.dtype)
        new_queue = ops.concatenate([queue[:, 1:], ops.expand_dims(item, 1)], axis=1)
        valid = ops.minimum(ops.cast(seen, queue.dtype) + 1.0, float(self.window))
        if self.pooling == "last":
            pooled = item
        elif self.pooling == "mean":
            pooled = ops.sum(new_queue, axis=1) / valid
        else:
            positions = ops.cast(ops.arange(self.window), queue.dtype)[None, :]
            filled = ops.expand_dims(positions >= float(self.window) - valid, -1)
            pooled = ops.max(ops.where(filled, new_queue, float("-inf")), axis=1)
        return [pooled, new_queue]

    def get_config(self):
        return {**super().get_config(), "window": self.window, "pooling": self.pooling}


@keras.saving.register_keras_serializable(package="kerasrrn")
class RunningPooling(keras.layers.Layer):
    """Pooling over every frame since the stream started, updated with the new frame:
    `mean` keeps the running sum, `max` the running maximum (`last` needs no state).

    Args:
        pooling: str, `mean|max` (`last` is the new frame's features themselves).

    Call arguments:
        inputs: list `[total, seen, item]`: `total` `(B, F)`, the running sum or maximum
            (anything before the first frame); `seen` `(B, 1)`, frames seen before this one;
            `item` `(B, F)`.

    Returns:
        list `[pooled (B, F), new_total (B, F)]`.
    """

    def __init__(self, pooling="mean", **kwargs):
        super().__init__(**kwargs)
        _check_pooling(pooling)
        if pooling == "last":
            raise ValueError("`last` pooling keeps no running state: use the new frame's features")
        self.pooling = pooling

    def call(self, inputs):
        total, seen, item = inputs
        item = ops.cast(item, total.dtype)
        seen = ops.cast(seen, total.dtype)
        if self.pooling == "mean":
            new_total = total + item
            return [new_total / (seen + 1.0), new_total]
        new_total = ops.where(seen > 0.0, ops.maximum(total, item), item)
        return [new_total, new_total]

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling}
