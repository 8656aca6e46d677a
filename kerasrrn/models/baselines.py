"""Baselines of the RRN paper besides the frame-averaging ResNet (`build_rrn` without skips).

`resnet_lstm` is the paper's "ResNet extended by a fully recurrent layer": an LSTM over the
pooled conv5 features of the clip's frames. The clip is classified from the LSTM's last output
(the state after reading every frame), as a recurrent layer appended to a classifier would be
read; the MRRN streams offer `mean`/`max` pooling over time instead.
"""

import keras

from kerasrrn.models.heads import classifier, frame_sequence
from kerasrrn.models.inputs import Augmentation, input_and_folded_frames
from kerasrrn.models.resnet import resnet_stages


def build_resnet_lstm(
    num_classes, clip_length=8, image_size=224, depth=50, width=1.0, lstm_units=256, dropout=0.0,
    augmentation=Augmentation(), frame_grid=1, name="resnet_lstm",
):
    """Builds the ResNet + LSTM baseline.

    Args:
        num_classes, clip_length, image_size, depth, width, augmentation: as `build_rrn`.
        lstm_units: int, default 256. LSTM units.
        dropout: float, default 0. Dropout on the LSTM output before the classifier.
        frame_grid: int, default 1. Global pooling of each frame's conv5 map, or a `G x G`
            grid (`heads.frame_pooling`).
        name: str, the model name.

    Returns:
        `keras.Model` mapping frames `(B, T, S, S, 3)` (pixels in [0, 255]; any `H x W` with a crop) to clip
        probabilities `(B, num_classes)` (float32): conv5 `(B*T, H, W, C)` -> `avg_pool`
        -> `unfold_time` `(B, T, F)` (`F = C`, or `G*G*C` with a grid) -> `lstm` (last output) `(B, lstm_units)` -> `dropout`
        -> `predictions` -> `softmax`.
    """
    frames, folded = input_and_folded_frames(clip_length, image_size, augmentation)
    stages = resnet_stages(folded, depth, width)
    last_output = lstm_layer(lstm_units)(frame_sequence(stages["conv5"], clip_length, grid=frame_grid))
    return keras.Model(frames, classifier(last_output, num_classes, dropout), name=name)


def lstm_layer(units, return_state=False):
    """The baseline's LSTM layer, `lstm`; with `return_state` it also returns `[h, c]`."""
    return keras.layers.LSTM(units, return_state=return_state, name="lstm")
