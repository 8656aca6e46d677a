"""Folding clip time into the batch so the backbone sees one large batch of frames."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasrrn")
class FoldTime(keras.layers.Layer):
    """Folds the time axis into the batch axis.

    Call arguments:
        inputs: tensor `(B, T, ...)`.

    Returns:
        Tensor `(B * T, ...)`, frames of one clip contiguous.

    Example:
    >>> FoldTime()(keras.ops.zeros((2, 8, 64, 64, 3))).shape
    (16, 64, 64, 3)
    """

    def call(self, inputs):
        return ops.reshape(inputs, (-1,) + tuple(inputs.shape[2:]))

    def compute_output_shape(self, input_shape):
        batch, time = input_shape[:2]
        folded = None if batch is None or time is None else batch * time
        return (folded,) + tuple(input_shape[2:])


@keras.saving.register_keras_serializable(package="kerasrrn")
class UnfoldTime(keras.layers.Layer):
    """Unfolds `(B * T, ...)` back into `(B, T, ...)` with the static clip length `T`.

    Args:
        clip_length: int, the clip length `T`.

    Call arguments:
        inputs: tensor `(B * clip_length, ...)`.

    Returns:
        Tensor `(B, clip_length, ...)`.
    """

    def __init__(self, clip_length, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(clip_length, int) or clip_length < 1:
            raise ValueError(
                f"`clip_length` must be a positive integer. Received: clip_length={clip_length}"
            )
        self.clip_length = clip_length

    def call(self, inputs):
        return ops.reshape(inputs, (-1, self.clip_length) + tuple(inputs.shape[1:]))

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        clips = None if batch is None else batch // self.clip_length
        return (clips, self.clip_length) + tuple(input_shape[1:])

    def get_config(self):
        config = super().get_config()
        config.update({"clip_length": self.clip_length})
        return config
