"""Classifier heads: the dense softmax every model ends with, and the recurrent head of an
MRRN stream (average pool per frame, stacked SRUs, time pooling).

    stage output (B*T, H, W, C) -> avg_pool (B*T, F) -> unfold_time (B, T, F)
    -> sru_1 ... sru_L (B, T, U) -> time_pool (B, U) -> dropout -> predictions + softmax

`F = C` with global pooling (the paper's); `F = G*G*C` with a `G x G` frame grid (ours), which
keeps where in the frame things are.
"""

import dataclasses

import keras

from kerasrrn.choices import TIME_POOLINGS
from kerasrrn.layers import UnfoldTime
from kerasrrn.layers.sru import SRU


@dataclasses.dataclass(frozen=True)
class HeadSpec:
    """The recurrent head of a stream.

    Attributes:
        units: int, default 256. SRU units per layer (per direction).
        num_layers: int, default 2. Stacked SRU layers.
        variant: str, default "2017". SRU equations, `"2017"` (MRRN) or `"2018"`.
        sru_dropout: float, default 0. Dropout on each SRU layer's input (one mask per clip).
        bidirectional: bool, default False. Wrap every SRU in `keras.layers.Bidirectional`
            (outputs of both directions concatenated, `2 * units`).
        time_pooling: str, default "mean". `mean` or `max` over the last SRU's outputs, or
            `last`: its last output (for a bidirectional SRU, the backward direction's output
            after reading the whole clip).
        dropout: float, default 0. Dropout before the classifier.
        frame_grid: int, default 1. Each frame's map is average-pooled to a `G x G` grid
            and flattened before the SRUs (`frame_pooling`); 1 is global pooling.
    """

    units: int = 256
    num_layers: int = 2
    variant: str = "2017"
    sru_dropout: float = 0.0
    bidirectional: bool = False
    time_pooling: str = "mean"
    dropout: float = 0.0
    frame_grid: int = 1

    def __post_init__(self):
        if not isinstance(self.num_layers, int) or self.num_layers < 1:
            raise ValueError(f"`num_layers` must be a positive integer. Received: num_layers={self.num_layers}")
        if self.time_pooling not in TIME_POOLINGS:
            raise ValueError(
                f"`time_pooling` must be one of {TIME_POOLINGS}. Received: time_pooling={self.time_pooling!r}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={self.dropout}")
        if not isinstance(self.frame_grid, int) or self.frame_grid < 1:
            raise ValueError(f"`frame_grid` must be a positive integer. Received: frame_grid={self.frame_grid}")


def frame_pooling(stage_output, grid=1, prefix=""):
    """Average pool of every frame's map: `(N, H, W, C)` -> `(N, C)` for `grid` 1 (global), else
    `(N, G*G*C)`, the means of the `G x G` cells of the map flattened row by row.

    Layers `<prefix>avg_pool` (and `<prefix>grid_flatten` for a grid).

    Raises:
        ValueError when `grid` is not a positive integer or does not divide `H` and `W`.
    """
    if not isinstance(grid, int) or grid < 1:
        raise ValueError(f"`frame_grid` must be a positive integer. Received: frame_grid={grid}")
    if grid == 1:
        return keras.layers.GlobalAveragePooling2D(name=f"{prefix}avg_pool")(stage_output)
    height, width = stage_output.shape[1:3]
    if height % grid or width % grid:
        raise ValueError(
            f"`frame_grid` must divide the tapped map, {height}x{width} for these frames (a smaller "
            f"grid or another image size). Received: frame_grid={grid}"
        )
    cells = keras.layers.AveragePooling2D((height // grid, width // grid), name=f"{prefix}avg_pool")(stage_output)
    return keras.layers.Flatten(name=f"{prefix}grid_flatten")(cells)


def frame_sequence(stage_output, clip_length, prefix="", grid=1):
    """`frame_pooling` per frame, then time unfolded: `(B*T, H, W, C)` -> `(B, T, F)`.

    Layers as `frame_pooling`, and `<prefix>unfold_time`.
    """
    pooled = frame_pooling(stage_output, grid, prefix)
    return UnfoldTime(clip_length, name=f"{prefix}unfold_time")(pooled)


def classifier(features, num_classes, dropout, prefix="", output_name=None):
    """Dropout, dense and a float32 softmax: `(B, F)` -> probabilities `(B, num_classes)`.

    Layers `<prefix>dropout` (only when `dropout > 0`), `<prefix>predictions` (the logits) and
    `output_name` (default `<prefix>softmax`).
    """
    return classifier_layers(num_classes, dropout, prefix, output_name)(features)


def classifier_layers(num_classes, dropout, prefix="", output_name=None):
    """The layers of `classifier`, as one callable `(B, F) -> (B, num_classes)` that can be
    applied more than once (a streaming head scores two poolings with the same weights)."""
    layers = [keras.layers.Dropout(dropout, name=f"{prefix}dropout")] if dropout else []
    layers += [
        keras.layers.Dense(num_classes, name=f"{prefix}predictions"),
        keras.layers.Activation("softmax", dtype="float32", name=output_name or f"{prefix}softmax"),
    ]

    def apply(features):
        for layer in layers:
            features = layer(features)
        return features

    return apply


def sru_layer(head, index, prefix="", return_sequences=True, return_state=False):
    """SRU layer `<prefix>sru_<index>` of `head` (wrapped in `Bidirectional` when the head is)."""
    name = f"{prefix}sru_{index}"
    recurrent = SRU(
        head.units, variant=head.variant, dropout=head.sru_dropout,
        return_sequences=return_sequences, return_state=return_state, name=name,
    )
    return keras.layers.Bidirectional(recurrent, name=name) if head.bidirectional else recurrent


def stream_head(stage_output, clip_length, num_classes, head, prefix="", output_name=None):
    """The recurrent head of a stream on one stage's output.

    Args:
        stage_output: tensor `(B*T, H, W, C)`, a ResNet stage's output for folded frames.
        clip_length: int, frames per clip `T`.
        num_classes: int.
        head: `HeadSpec`.
        prefix: str, default "". Put before every layer name (`low_sru_1`).
        output_name: str or None. Name of the softmax layer (default `<prefix>softmax`).

    Returns:
        Clip probabilities `(B, num_classes)`, float32. Layers `<prefix>sru_1` ...
        `<prefix>sru_<num_layers>` and `<prefix>time_pool` (output `(B, U)`, `U = units` or
        `2 * units` when bidirectional).
    """
    sequence = frame_sequence(stage_output, clip_length, prefix, head.frame_grid)
    for index in range(1, head.num_layers + 1):
        returns_sequence = index < head.num_layers or head.time_pooling != "last"
        sequence = sru_layer(head, index, prefix, returns_sequence)(sequence)
    # With `last` the final SRU already returns its last output; the identity keeps the layer
    # name `time_pool` the same for every pooling.
    pooling = {
        "mean": keras.layers.GlobalAveragePooling1D,
        "max": keras.layers.GlobalMaxPooling1D,
        "last": keras.layers.Identity,
    }[head.time_pooling]
    features = pooling(name=f"{prefix}time_pool")(sequence)
    return classifier(features, num_classes, head.dropout, prefix, output_name)
