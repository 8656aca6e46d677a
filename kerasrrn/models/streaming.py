"""Streaming forms of the trained models: one frame at a time, the state carried by the caller.

    stream = build_streaming_model(model, config)       # the trained clip model and its config
    state = stream.initial_state(batch_size=1)
    for frame in frames:                                 # uint8 (1, S, S, 3)
        probabilities, clip_probabilities, state = stream.step(frame, state)

The step graph is built by the clip models' own builders (`kerasrrn.models.stream_graphs`,
whose docstring gives the state layout) and takes the trained model's weights by layer name:
nothing is retrained. `stream.keras_model` is the functional form for export: inputs `frames`
and one tensor per state name, outputs `probabilities`, `clip_probabilities` and the new state
under the same names. A fused MRRN streams each of its streams and fuses both outputs with the
fusion weights; `mrrn_shared` fuses its heads likewise.

Frames are the clip model's evaluation frames, already centre-cropped to `S x S` (a clip
model with a training crop passes such frames unchanged at inference); the step applies the
same ImageNet preprocessing inside.
"""

import keras
import numpy as np

from kerasrrn.models import stream_graphs
from kerasrrn.models.mrrn import MRRNFusion
from kerasrrn.models.stream_graphs import CLIP_PROBABILITIES, FRAMES, PROBABILITIES, StateGraph

# Separates a fused model's stream name from the stream's own state names.
STREAM_SEPARATOR = "__"


class StreamingModel:
    """A model that follows a video one frame at a time.

    Attributes:
        keras_model: functional `keras.Model`; inputs dict `frames` uint8 `(B, S, S, 3)` plus
            the state names (float32 `(B, ...)`); outputs dict `probabilities` `(B, C)`,
            `clip_probabilities` `(B, C)` and the new state under the state names.
        name: str, the clip model's name.
        image_size: int, `S`.
        clip_length: int or None, `T`, the frames of the running clip (None: unknown, for a
            served model without a window in its state).
        state_shapes: dict of state name to its shape without the batch axis.
    """

    def __init__(self, keras_model, name, clip_length, inputs=None):
        self.keras_model = keras_model
        self.name = name
        self.clip_length = clip_length
        inputs = inputs or keras_model.input
        self.image_size = inputs[FRAMES].shape[1]
        self.state_shapes = {key: tuple(tensor.shape[1:]) for key, tensor in inputs.items() if key != FRAMES}

    def initial_state(self, batch_size):
        """The state before the first frame: dict of state name to float32 zeros `(batch_size, ...)`."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
        return {key: np.zeros((batch_size, *shape), "float32") for key, shape in self.state_shapes.items()}

    def state_bytes(self, batch_size=1):
        """Bytes of the state of `batch_size` streams."""
        return 4 * batch_size * sum(int(np.prod(shape)) for shape in self.state_shapes.values())

    def step(self, frames, state):
        """One frame of each of `B` streams.

        Args:
            frames: uint8 array `(B, S, S, 3)`, RGB.
            state: dict from `initial_state(B)` or the previous `step`.

        Returns:
            (`probabilities` `(B, C)`, `clip_probabilities` `(B, C)`, new state dict), numpy.

        Raises:
            ValueError, one line naming what was expected, for frames of another size or dtype
            or a state of another model or batch size.
        """
        self.check_frames(frames)
        self.check_state(state, frames.shape[0])
        outputs = {key: np.asarray(value) for key, value in self.run_step(frames, state).items()}
        return outputs.pop(PROBABILITIES), outputs.pop(CLIP_PROBABILITIES), outputs

    def run_step(self, frames, state):
        """The step's outputs dict for checked inputs (compiled by Keras on first use)."""
        return self.keras_model.predict_on_batch({FRAMES: frames, **state})

    def check_frames(self, frames):
        size = self.image_size
        dtype = keras.backend.standardize_dtype(getattr(frames, "dtype", type(frames)))
        shape = tuple(getattr(frames, "shape", ()))
        if dtype != "uint8" or len(shape) != 4 or shape[1:] != (size, size, 3):
            raise ValueError(
                f"{self.name} streams uint8 frames (B, {size}, {size}, 3). Received: {dtype} frames of shape {shape}"
            )

    def check_state(self, state, batch_size):
        if not isinstance(state, dict) or set(state) != set(self.state_shapes):
            received = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(
                f"Not a state of {self.name}: expected keys {sorted(self.state_shapes)} "
                f"(from initial_state or step). Received: {received}"
            )
        for key, shape in self.state_shapes.items():
            received = tuple(getattr(state[key], "shape", ()))
            if received != (batch_size, *shape):
                raise ValueError(
                    f"Not a state of {self.name} for a batch of {batch_size}: {key} must have shape "
                    f"{(batch_size, *shape)}. Received: {received}"
                )


def build_streaming_model(model, config):
    """The streaming form of a trained clip model.

    Args:
        model: a `keras.Model` of `kerasrrn.models.build_model(config, C)` (or a checkpoint of
            one), or a fused MRRN of `build_fused_mrrn`.
        config: the `kerasrrn.config.Config` it was built from; for a fused MRRN a sequence of
            the streams' configs, in the order of its streams.

    Returns:
        `StreamingModel`.

    Raises:
        ValueError (one line) for a bidirectional head, or a model that does not fit `config`.
    """
    if _stream_models(model):
        if not isinstance(config, (list, tuple)):
            raise ValueError(
                f"{model.name} is a fused MRRN: pass one config per stream. Received: {type(config).__name__}"
            )
        return _fused(model, list(config))
    num_classes = model.output_shape[-1]
    frames = stream_graphs.frames_input(config.data.image_size)
    state = StateGraph()
    family = config.model.model
    if family == "mrrn_shared":
        fuse = MRRNFusion(model.get_layer(PROBABILITIES).stream_weights, dtype="float32", name=PROBABILITIES)
        probabilities, clip = stream_graphs.mrrn_shared_step(frames, state, config, num_classes, fuse)
    else:
        probabilities, clip = stream_graphs.STEPS[family](frames, state, config, num_classes)
    keras_model = keras.Model(
        {FRAMES: frames, **state.inputs},
        {PROBABILITIES: probabilities, CLIP_PROBABILITIES: _distinct(clip, probabilities), **state.outputs},
        name=f"{model.name}_stream",
    )
    copy_weights(model, keras_model)
    return StreamingModel(keras_model, model.name, config.data.clip_length)


def _distinct(tensor, other):
    """`tensor`, through an identity layer when it is `other` (each output its own tensor)."""
    return keras.layers.Identity(name="clip_scores")(tensor) if tensor is other else tensor


def copy_weights(source, target):
    """Copies into every layer of `target` that has weights those of `source`'s layer of the
    same name; raises ValueError naming a layer that is missing or of another shape."""
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            source_layer = source.get_layer(layer.name)
        except ValueError:
            raise ValueError(
                f"{source.name} has no layer {layer.name!r}: is it the model of this config?"
            ) from None
        try:
            layer.set_weights(source_layer.get_weights())
        except ValueError as error:
            reason = str(error).splitlines()[0]
            raise ValueError(f"{source.name}: layer {layer.name!r} does not fit the config ({reason})") from None


def _stream_models(model):
    """The stream models nested in a fused MRRN (empty for any other model)."""
    return [layer for layer in model.layers if isinstance(layer, keras.Model)]


def _fused(model, configs):
    """A fused MRRN: every stream's step on the same frame, both outputs fused."""
    streams = _stream_models(model)
    if len(configs) != len(streams):
        raise ValueError(
            f"{model.name} fuses {len(streams)} streams: pass one config per stream. Received: {len(configs)} configs"
        )
    stream_models = [build_streaming_model(stream, config) for stream, config in zip(streams, configs)]
    frames = stream_graphs.frames_input(stream_models[0].image_size)
    inputs, state_outputs, probabilities, clips = {FRAMES: frames}, {}, [], []
    for stream in stream_models:
        stream_inputs = {FRAMES: frames}
        for key, shape in stream.state_shapes.items():
            name = f"{stream.name}{STREAM_SEPARATOR}{key}"
            stream_inputs[key] = inputs[name] = keras.Input(shape, name=name, dtype="float32")
        outputs = stream.keras_model(stream_inputs)
        probabilities.append(outputs.pop(PROBABILITIES))
        clips.append(outputs.pop(CLIP_PROBABILITIES))
        state_outputs.update({f"{stream.name}{STREAM_SEPARATOR}{key}": value for key, value in outputs.items()})
    fusion = MRRNFusion(model.get_layer("fusion").stream_weights, dtype="float32", name="fusion")
    keras_model = keras.Model(
        inputs, {PROBABILITIES: fusion(probabilities), CLIP_PROBABILITIES: fusion(clips), **state_outputs},
        name=f"{model.name}_stream",
    )
    return StreamingModel(keras_model, model.name, stream_models[0].clip_length)
