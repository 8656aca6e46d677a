"""Exactness of the streaming models against the clip models with the same weights.

A video of `L` frames is streamed one frame at a time; the references are the trained clip
model (clip length `T`) and the same model rebuilt with `clip_length = L`, weights copied by
name, on the same frames. Weights are random and the batch-norm statistics perturbed, so that
a wrong state or a dropped skip changes the probabilities.
"""

import dataclasses

import keras
import numpy as np
import pytest

from kerasrrn import config as config_lib
from kerasrrn.layers import TemporalSkip
from kerasrrn.models import build_fused_mrrn, build_model
from kerasrrn.models.streaming import build_streaming_model, copy_weights

CLIP_LENGTH, VIDEO_LENGTH, IMAGE_SIZE, NUM_CLASSES, BATCH = 3, 6, 32, 5, 2
TOLERANCE = 1e-5


def make_config(family, clip_length=CLIP_LENGTH, image_size=IMAGE_SIZE, **model_fields):
    config = config_lib.Config()
    config.data.clip_length, config.data.image_size = clip_length, image_size
    fields = {"model": family, "depth": 18, "width": 0.125, "sru_units": 8, "lstm_units": 8, **model_fields}
    config.model = dataclasses.replace(config.model, **fields)
    return config


def perturb(model, seed=0, size=IMAGE_SIZE):
    """Random batch-norm statistics and skip weights, in place; each classifier's kernel is then
    scaled so that its logits on `video()` have a standard deviation of 2 (probabilities
    neither uniform nor saturated)."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.8, 1.2, channels), rng.normal(0, 0.2, channels),
                               rng.normal(0, 0.2, channels), rng.uniform(1.0, 2.0, channels)])
        elif isinstance(layer, TemporalSkip) and layer.weights:
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])
    for layer in model.layers:
        if layer.name.endswith("predictions"):
            kernel, bias = layer.get_weights()
            clips = video(size=size)[:, : model.input_shape[1]]
            features = predict(keras.Model(model.input, layer.input), clips)
            layer.set_weights([kernel * 2.0 / (features @ kernel).std(), bias])
    return model


def trained(config, seed=0, name=None):
    model = perturb(build_model(config, NUM_CLASSES), seed, config.data.image_size)
    if name:
        model.name = name
    return model


def rebuilt(config, model, clip_length):
    """The clip model of `config` rebuilt for `clip_length` frames, with `model`'s weights."""
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, clip_length=clip_length))
    clip_model = build_model(config, NUM_CLASSES)
    copy_weights(model, clip_model)
    return clip_model


def video(length=VIDEO_LENGTH, seed=1, size=IMAGE_SIZE):
    return np.random.default_rng(seed).integers(0, 256, (BATCH, length, size, size, 3)).astype("uint8")


def run_stream(stream, frames):
    """Streams `frames` `(B, L, S, S, 3)`: (frame probabilities, clip probabilities), `(B, L, C)` each."""
    state = stream.initial_state(frames.shape[0])
    per_frame, per_clip = [], []
    for index in range(frames.shape[1]):
        probabilities, clip_probabilities, state = stream.step(frames[:, index], state)
        per_frame.append(probabilities)
        per_clip.append(clip_probabilities)
    return np.stack(per_frame, 1), np.stack(per_clip, 1)


def predict(model, frames, layer=None):
    if layer:
        model = keras.Model(model.input, model.get_layer(layer).output)
    return np.asarray(model(frames.astype("float32"), training=False))


def assert_close(actual, expected):
    assert actual.shape == expected.shape
    assert np.abs(actual - expected).max() <= TOLERANCE, np.abs(actual - expected).max()


RRN_CASES = {
    "identity": {},
    "scalar": {"skip_kind": "scalar"},
    "channel": {"skip_kind": "channel"},
    "conv_span2_delay2": {"skip_kind": "conv", "skip_span": 2, "skip_delay": 2, "skip_units": ["conv3_block2"]},
    "identity_span2": {"skip_span": 2, "skip_units": ["conv2_block2"]},
    "two_skips": {"skip_kind": "channel", "skip_delay": 2, "skip_units": ["conv4_block2", "conv5_block2"]},
}


@pytest.mark.parametrize("case", sorted(RRN_CASES))
def test_rrn_stream_equals_the_clip_models(case):
    config = make_config("rrn", **RRN_CASES[case])
    model = trained(config)
    frames = video()
    per_frame, per_clip = run_stream(build_streaming_model(model, config), frames)

    long_frames = predict(rebuilt(config, model, VIDEO_LENGTH), frames, "frame_probabilities")
    assert_close(per_frame, long_frames)
    for end in range(VIDEO_LENGTH):
        # The running clip is the clip of the last T frames, with the skip sources of the frames
        # before it (the long clip's); before T frames, the frames seen so far.
        window = long_frames[:, max(0, end - CLIP_LENGTH + 1): end + 1].mean(axis=1)
        assert_close(per_clip[:, end], window)
    # The first full clip has no history before it: the trained model itself.
    assert_close(per_clip[:, CLIP_LENGTH - 1], predict(model, frames[:, :CLIP_LENGTH]))
    # A later clip differs from the clip model without its history: the skips carry state.
    late_clip = predict(model, frames[:, -CLIP_LENGTH:])
    assert np.abs(per_clip[:, -1] - late_clip).max() > 1e-4


@pytest.mark.parametrize("family", ["rrn", "resnet_lstm"])
def test_a_frame_grid_streams_like_its_clip_model(family):
    """At 64 px conv5 is 2x2: a grid of 2 classifies the flattened map."""
    config = make_config(family, image_size=64, frame_grid=2, skip_units=["conv5_block2"])
    model = trained(config)
    frames = video(size=64)
    per_frame, per_clip = run_stream(build_streaming_model(model, config), frames)
    assert model.get_layer("grid_flatten").output.shape[-1] == 4 * model.get_layer("conv5_block2_out").output.shape[-1]
    long_model = rebuilt(config, model, VIDEO_LENGTH)
    if family == "rrn":
        assert_close(per_frame, predict(long_model, frames, "frame_probabilities"))
    else:  # the LSTM's newest output, after every frame so far
        assert_close(per_frame[:, -1], predict(long_model, frames))
    assert_close(per_clip[:, CLIP_LENGTH - 1], predict(model, frames[:, :CLIP_LENGTH]))


def test_resnet_running_clip_equals_the_clip_model_on_every_window():
    config = make_config("resnet")
    model = trained(config)
    frames = video()
    per_frame, per_clip = run_stream(build_streaming_model(model, config), frames)
    assert_close(per_frame, predict(rebuilt(config, model, VIDEO_LENGTH), frames, "frame_probabilities"))
    for end in range(CLIP_LENGTH - 1, VIDEO_LENGTH):
        assert_close(per_clip[:, end], predict(model, frames[:, end - CLIP_LENGTH + 1: end + 1]))
    assert np.abs(per_frame[:, 0] - per_frame[:, 1]).max() > 1e-3  # not a constant score


def sru_reference(model, frames, head_prefix=""):
    """The last SRU's outputs `(B, L, U)` of a clip model and its classifier in numpy."""
    layer = model.get_layer(f"{head_prefix}time_pool")
    outputs = predict(keras.Model(model.input, layer.input), frames)
    kernel, bias = model.get_layer(f"{head_prefix}predictions").get_weights()

    def score(features):
        logits = features @ kernel + bias
        exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return exp / exp.sum(axis=-1, keepdims=True)

    return outputs, score


POOL = {"mean": np.mean, "max": np.max}


@pytest.mark.parametrize(
    "stream, pooling, variant, grid",
    [("high", "mean", "2017", 1), ("low", "max", "2018", 1), ("mid", "mean", "2018", 1), ("high", "max", "2017", 1),
     ("low", "mean", "2017", 2)],
)
def test_mrrn_stream_pools_since_the_start_and_over_the_window(stream, pooling, variant, grid):
    config = make_config("mrrn", stream=stream, time_pooling=pooling, sru_variant=variant, frame_grid=grid)
    model = trained(config)
    frames = video()
    per_frame, per_clip = run_stream(build_streaming_model(model, config), frames)
    long_model = rebuilt(config, model, VIDEO_LENGTH)
    outputs, score = sru_reference(long_model, frames)
    pool = POOL[pooling]
    for end in range(VIDEO_LENGTH):
        assert_close(per_frame[:, end], score(pool(outputs[:, : end + 1], axis=1)))
        assert_close(per_clip[:, end], score(pool(outputs[:, max(0, end - CLIP_LENGTH + 1): end + 1], axis=1)))
    assert_close(per_frame[:, -1], predict(long_model, frames))
    assert_close(per_clip[:, CLIP_LENGTH - 1], predict(model, frames[:, :CLIP_LENGTH]))


@pytest.mark.parametrize("family", ["mrrn", "resnet_lstm"])
def test_last_output_heads_stream_the_clip_since_the_start(family):
    config = make_config(family, time_pooling="last", sru_layers=1)
    model = trained(config)
    frames = video()
    per_frame, per_clip = run_stream(build_streaming_model(model, config), frames)
    np.testing.assert_array_equal(per_frame, per_clip)
    assert_close(per_frame[:, -1], predict(rebuilt(config, model, VIDEO_LENGTH), frames))
    assert_close(per_frame[:, CLIP_LENGTH - 1], predict(model, frames[:, :CLIP_LENGTH]))


def test_mrrn_shared_stream_fuses_its_heads():
    config = make_config("mrrn_shared", sru_layers=1)
    model = trained(config)
    frames = video()
    per_frame, per_clip = run_stream(build_streaming_model(model, config), frames)
    assert_close(per_frame[:, -1], predict(rebuilt(config, model, VIDEO_LENGTH), frames))
    assert_close(per_clip[:, CLIP_LENGTH - 1], predict(model, frames[:, :CLIP_LENGTH]))
    assert_close(per_frame[:, CLIP_LENGTH - 1], predict(model, frames[:, :CLIP_LENGTH]))


def test_fused_mrrn_stream_fuses_its_streams():
    configs = [make_config("mrrn", stream="low", sru_layers=1), make_config("mrrn", stream="high", time_pooling="max")]
    streams = [trained(config, seed, f"mrrn_{config.model.stream}") for seed, config in enumerate(configs)]
    weights = [0.3, 0.7]
    fused = build_fused_mrrn(streams, weights)
    frames = video()
    per_frame, per_clip = run_stream(build_streaming_model(fused, configs), frames)
    long_streams = []
    for config, stream in zip(configs, streams):
        long_stream = rebuilt(config, stream, VIDEO_LENGTH)
        long_stream.name = stream.name
        long_streams.append(long_stream)
    assert_close(per_frame[:, -1], predict(build_fused_mrrn(long_streams, weights), frames))
    assert_close(per_clip[:, CLIP_LENGTH - 1], predict(fused, frames[:, :CLIP_LENGTH]))


def test_functional_form_gives_the_step_outputs():
    config = make_config("rrn")
    stream = build_streaming_model(trained(config), config)
    frames = video(length=1)[:, 0]
    state = stream.initial_state(BATCH)
    probabilities, clip_probabilities, new_state = stream.step(frames, state)
    outputs = stream.keras_model({"frames": frames, **state})
    assert set(outputs) == {"probabilities", "clip_probabilities", *state}
    assert_close(np.asarray(outputs["probabilities"]), probabilities)
    for key in state:
        # Skip sources are activations of order 100, computed eagerly here and compiled in `step`.
        scale = max(1.0, np.abs(new_state[key]).max())
        np.testing.assert_allclose(np.asarray(outputs[key]), new_state[key], atol=10 * TOLERANCE * scale)
    assert new_state["frames_seen"].tolist() == [[1.0]] * BATCH


def test_bidirectional_head_is_refused_in_one_line():
    config = make_config("mrrn", bidirectional=True, sru_layers=1)
    with pytest.raises(ValueError, match="bidirectional SRU head .* cannot stream") as error:
        build_streaming_model(build_model(config, NUM_CLASSES), config)
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def rrn_stream():
    config = make_config("rrn")
    return build_streaming_model(build_model(config, NUM_CLASSES), config)


@pytest.mark.parametrize(
    "frames",
    [np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3), "float32"), np.zeros((1, 16, 16, 3), "uint8"),
     np.zeros((1, 2, IMAGE_SIZE, IMAGE_SIZE, 3), "uint8")],
    ids=["float32", "small", "clip"],
)
def test_wrong_frames_name_what_was_expected(rrn_stream, frames):
    with pytest.raises(ValueError, match=r"streams uint8 frames \(B, 32, 32, 3\)\. Received") as error:
        rrn_stream.step(frames, rrn_stream.initial_state(1))
    assert "\n" not in str(error.value)


def test_state_of_another_model_or_batch_is_refused(rrn_stream):
    config = make_config("mrrn", sru_layers=1)
    other = build_streaming_model(build_model(config, NUM_CLASSES), config)
    frames = np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3), "uint8")
    with pytest.raises(ValueError, match="Not a state of rrn: expected keys") as error:
        rrn_stream.step(frames, other.initial_state(1))
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=r"for a batch of 1: \w+ must have shape \(1, "):
        rrn_stream.step(frames, rrn_stream.initial_state(2))
