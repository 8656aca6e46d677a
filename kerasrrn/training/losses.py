"""Cross-entropy on sparse labels with label smoothing (Keras' sparse loss has no smoothing)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasrrn")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy between sparse labels, smoothed, and predicted probabilities.

    The target of class `y` is `1 - smoothing + smoothing / C`, every other class
    `smoothing / C` (as `keras.losses.CategoricalCrossentropy(label_smoothing=...)`).

    Args:
        label_smoothing: float in [0, 1), default 0.

    Call arguments:
        y_true: int `(B,)` class indices.
        y_pred: float `(B, C)` probabilities.

    Returns:
        float `(B,)` per-example losses (reduced by the `Loss` base class).
    """

    def __init__(self, label_smoothing=0.0, name="sparse_smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                f"`label_smoothing` must be in [0, 1). Received: label_smoothing={label_smoothing}"
            )
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        num_classes = y_pred.shape[-1]
        targets = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), num_classes)
        targets = targets * (1.0 - self.label_smoothing) + self.label_smoothing / num_classes
        return keras.losses.categorical_crossentropy(targets, y_pred)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
