"""The one-frame graphs of the streaming models, built with the clip models' own builders.

Every family's step maps uint8 frames `(B, S, S, 3)` and the state to the frame's
probabilities `(B, C)`, the running clip probabilities `(B, C)` and the new state; the backbone
and head layers are made by `resnet_stages`, `classifier_layers`, `sru_layer` and `lstm_layer`
with the clip models' names, so weights copy by name. State (all float32, batch first):

- `frames_seen` `(B, 1)`: frames the stream has seen before this one.
- RRN skip `<unit>_temporal_skip_history` `(B, delay, H, W, C)`: the skip's source activations
  of the last `delay` frames, oldest first (zeros before the stream starts, as the clip model's
  zeros before frame `delay`).
- RRN/ResNet `frame_average_window` `(B, T, C)`: the last `T` frame probabilities; the clip
  probabilities are their mean, over the frames seen while fewer than `T`.
- MRRN heads `<prefix>sru_<i>_state` `(B, U)`: each SRU's `c`; `<prefix>time_pool_total`
  `(B, U)` (`mean`: running sum, `max`: running maximum) and `<prefix>time_pool_window`
  `(B, T, U)` (the last SRU's last `T` outputs); `last` pooling needs neither.
- ResNet + LSTM `lstm_h`, `lstm_c` `(B, U)`.

Frame and clip probabilities of the recurrent heads: the frame's probabilities pool the last
SRU's outputs of every frame since the stream started (the clip model rebuilt with
`clip_length = t + 1` on frames `0 .. t`); the clip probabilities pool its last `T` outputs,
with the recurrent state carried over from the frames before them. With `last` pooling (and the
LSTM) both are the classifier of the newest output.
"""

import keras

from kerasrrn.layers import FrameCounter, FramePreprocessing, FrameQueue, RunningPooling, WindowPooling
from kerasrrn.models.baselines import lstm_layer
from kerasrrn.models.heads import classifier_layers, frame_pooling, sru_layer
from kerasrrn.models.mrrn import STREAM_STAGES
from kerasrrn.models.registry import head_of
from kerasrrn.models.resnet import SkipSpec, resnet_stages

FRAMES = "frames"
PROBABILITIES = "probabilities"
CLIP_PROBABILITIES = "clip_probabilities"
FRAMES_SEEN = "frames_seen"


class StateGraph:
    """Collects a streaming graph's state inputs and their new values while it is built.

    Attributes:
        inputs: dict of state name to `keras.Input` `(B, ...)` float32.
        outputs: dict of state name to the tensor of its value after this frame.
        seen: the `frames_seen` input `(B, 1)`.
    """

    def __init__(self):
        self.inputs, self.outputs = {}, {}
        self.seen = self.add(FRAMES_SEEN, (1,))
        self.outputs[FRAMES_SEEN] = FrameCounter(name="frame_counter")(self.seen)

    def add(self, name, shape):
        self.inputs[name] = keras.Input(tuple(shape), name=name, dtype="float32")
        return self.inputs[name]

    def skip_call(self, layer, source):
        """`resnet_stages`' `skip_call`: the skip `layer` weighs the source of `delay` frames
        back, from the state; the new frame's source joins the queue."""
        name = f"{layer.name}_history"
        history = self.add(name, (layer.delay, *source.shape[1:]))
        oldest, self.outputs[name] = FrameQueue(name=f"{layer.name}_queue")([history, source])
        return layer(oldest, weight_only=True)

    def window(self, name, item, window, pooling):
        """`item` `(B, F)` pooled over the last `window` frames, state `<name>_window`."""
        queue = self.add(f"{name}_window", (window, item.shape[-1]))
        pooled, self.outputs[f"{name}_window"] = WindowPooling(window, pooling, name=f"{name}_window_pool")(
            [queue, self.seen, item]
        )
        return pooled

    def running(self, name, item, pooling):
        """`item` `(B, F)` pooled over every frame so far, state `<name>_total`."""
        total = self.add(f"{name}_total", (item.shape[-1],))
        pooled, self.outputs[f"{name}_total"] = RunningPooling(pooling, name=f"{name}_running_pool")(
            [total, self.seen, item]
        )
        return pooled


def frames_input(image_size):
    """The step's frame input: uint8 RGB `(B, S, S, 3)`."""
    return keras.Input((image_size, image_size, 3), dtype="uint8", name=FRAMES)


def backbone(frames, state, config, last_stage="conv5"):
    """The clip model's backbone on single frames: ImageNet preprocessing, then the ResNet up
    to `last_stage` with the run's temporal skips (`rrn` only) fed from `state`.

    Returns:
        dict of stage name to `(B, H_s, W_s, C_s)`.
    """
    model = config.model
    skips = {}
    if model.model == "rrn":
        spec = SkipSpec(delay=model.skip_delay, kind=model.skip_kind, span=model.skip_span)
        skips = {unit: spec for unit in model.skip_units}
    preprocessed = FramePreprocessing(name="preprocessing")(frames)
    return resnet_stages(preprocessed, model.depth, model.width, skips, config.data.clip_length, last_stage,
                         skip_call=state.skip_call)


def one_step_sequence(features, prefix=""):
    """`(B, F)` -> `(B, 1, F)`, the one-frame sequence a recurrent layer reads."""
    return keras.layers.Reshape((1, features.shape[-1]), name=f"{prefix}one_step")(features)


def rrn_step(frames, state, config, num_classes):
    """RRN and ResNet: per-frame probabilities, and their mean over the last `T` frames."""
    features = frame_pooling(backbone(frames, state, config)["conv5"], config.model.frame_grid)
    probabilities = classifier_layers(num_classes, config.model.dropout)(features)
    return probabilities, state.window("frame_average", probabilities, config.data.clip_length, "mean")


def sru_head_step(stage_output, state, config, num_classes, prefix="", output_name=None):
    """One frame through an MRRN stream head: stacked SRUs with their states, then the frame's
    and the window's pooling (module docstring), each scored by the head's classifier."""
    head = head_of(config.model)
    if head.bidirectional:
        raise ValueError(
            "A bidirectional SRU head reads the clip backwards and cannot stream one frame at a time. "
            "Received: bidirectional=True"
        )
    sequence = one_step_sequence(frame_pooling(stage_output, head.frame_grid, prefix), prefix)
    for index in range(1, head.num_layers + 1):
        name = f"{prefix}sru_{index}_state"
        recurrent = sru_layer(head, index, prefix, return_sequences=True, return_state=True)
        sequence, state.outputs[name] = recurrent(sequence, initial_state=state.add(name, (head.units,)))
    output = keras.layers.Reshape((head.units,), name=f"{prefix}newest_output")(sequence)
    score = classifier_layers(num_classes, head.dropout, prefix, output_name)
    if head.time_pooling == "last":
        probabilities = score(output)
        return probabilities, probabilities
    name = f"{prefix}time_pool"
    return (score(state.running(name, output, head.time_pooling)),
            score(state.window(name, output, config.data.clip_length, head.time_pooling)))


def mrrn_step(frames, state, config, num_classes):
    """One MRRN stream: the backbone up to its tapped stage and its SRU head."""
    stage = STREAM_STAGES[config.model.stream]
    return sru_head_step(backbone(frames, state, config, stage)[stage], state, config, num_classes)


def mrrn_shared_step(frames, state, config, num_classes, fuse):
    """`mrrn_shared`: one backbone, a head per stream (`low_sru_1` ...), fused by `fuse`
    (a callable on the list of the heads' probabilities)."""
    stages = backbone(frames, state, config)
    heads = [
        sru_head_step(stages[stage], state, config, num_classes, prefix=f"{stream}_", output_name=stream)
        for stream, stage in STREAM_STAGES.items()
    ]
    return fuse([frame for frame, _ in heads]), fuse([clip for _, clip in heads])


def resnet_lstm_step(frames, state, config, num_classes):
    """ResNet + LSTM: the LSTM's `h` and `c` carried over; both outputs score its newest `h`."""
    units = config.model.lstm_units
    sequence = one_step_sequence(frame_pooling(backbone(frames, state, config)["conv5"], config.model.frame_grid))
    initial = [state.add("lstm_h", (units,)), state.add("lstm_c", (units,))]
    output, state.outputs["lstm_h"], state.outputs["lstm_c"] = lstm_layer(units, return_state=True)(
        sequence, initial_state=initial
    )
    probabilities = classifier_layers(num_classes, config.model.dropout)(output)
    return probabilities, probabilities


STEPS = {"rrn": rrn_step, "resnet": rrn_step, "mrrn": mrrn_step, "resnet_lstm": resnet_lstm_step}
