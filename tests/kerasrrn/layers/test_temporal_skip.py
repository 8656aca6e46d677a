import numpy as np
import pytest
from keras.src.testing import TestCase

from kerasrrn.layers import TemporalSkip

pytestmark = pytest.mark.backend_agnostic


def shift_reference(x, clip_length, delay):
    """numpy: frame t of every clip gets frame t - delay of the same clip, zeros before."""
    clips = x.reshape((-1, clip_length) + x.shape[1:])
    out = np.zeros_like(clips)
    out[:, delay:] = clips[:, : clip_length - delay]
    return out.reshape(x.shape)


def conv1x1_reference(x, kernel, stride):
    return np.einsum("nhwc,cd->nhwd", x[:, ::stride, ::stride], kernel[0, 0])


@pytest.mark.parametrize("delay", [1, 2, 3])
@pytest.mark.parametrize("kind", ["identity", "scalar", "channel", "conv"])
def test_matches_numpy_reference(kind, delay):
    rng = np.random.default_rng(delay)
    clip_length, channels = 4, 3
    x = rng.normal(size=(2 * clip_length, 5, 5, channels)).astype("float32")
    layer = TemporalSkip(clip_length, delay=delay, kind=kind)
    layer.build(x.shape)
    if kind == "scalar":
        weight = np.float32(-0.7)
        expected = weight * x
    elif kind == "channel":
        weight = rng.normal(size=(channels,)).astype("float32")
        expected = x * weight
    elif kind == "conv":
        weight = rng.normal(size=(1, 1, channels, channels)).astype("float32")
        expected = conv1x1_reference(x, weight, 1)
    else:
        expected = x
    if kind != "identity":
        layer.set_weights([weight])
    # The streaming form weighs any batch of sources without moving frames.
    np.testing.assert_allclose(np.asarray(layer(x[:3], weight_only=True)), expected[:3], rtol=1e-5, atol=1e-5)
    expected = shift_reference(expected, clip_length, delay)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_conv_projects_channels_and_stride():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 8, 8, 4)).astype("float32")
    layer = TemporalSkip(3, delay=1, kind="conv", filters=6, strides=2)
    layer.build(x.shape)
    kernel = rng.normal(size=(1, 1, 4, 6)).astype("float32")
    layer.set_weights([kernel])
    expected = shift_reference(conv1x1_reference(x, kernel, 2), 3, 1)
    output = np.asarray(layer(x))
    assert output.shape == (6, 4, 4, 6) == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)


def test_identity_has_no_weights_and_works_on_vectors():
    layer = TemporalSkip(2, delay=1)
    x = np.arange(8, dtype="float32").reshape(4, 2)
    np.testing.assert_array_equal(np.asarray(layer(x)), [[0, 0], [0, 1], [0, 0], [4, 5]])
    assert layer.weights == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"clip_length": 1}, "clip_length=1"),
        ({"clip_length": 4, "delay": 4}, "delay=4"),
        ({"clip_length": 4, "delay": 0}, "delay=0"),
        ({"clip_length": 4, "kind": "lstm"}, "kind='lstm'"),
        ({"clip_length": 4, "filters": 8}, "filters=8"),
        ({"clip_length": 4, "kind": "conv", "strides": 0}, "strides=0"),
        ({"clip_length": 4, "kind": "conv", "init": "zeros"}, "init='zeros'"),
        ({"clip_length": 4, "init": "difference"}, "kind='identity' has no weights"),
    ],
)
def test_invalid_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TemporalSkip(**kwargs)


@pytest.mark.parametrize("kind, filters, strides", [
    ("scalar", None, 1), ("channel", None, 1), ("conv", None, 1), ("conv", 7, 2), ("conv", 2, 1),
])
def test_difference_init_starts_from_minus_the_earlier_frame(kind, filters, strides):
    """`init="difference"`: W x is -x (on the first min(C, C') channels of a projecting conv,
    zeros on the others), so the unit's sum starts as x_t - x_{t-d}."""
    clip_length, delay, channels = 4, 2, 5
    x = np.random.default_rng(0).normal(size=(2 * clip_length, 6, 6, channels)).astype("float32")
    projection = {"filters": filters, "strides": strides} if kind == "conv" else {}
    out = np.asarray(TemporalSkip(clip_length, delay=delay, kind=kind, init="difference", **projection)(x))
    shifted = shift_reference(x, clip_length, delay)[:, ::strides, ::strides]
    kept = min(channels, filters or channels)
    np.testing.assert_allclose(out[..., :kept], -shifted[..., :kept], atol=1e-6)
    np.testing.assert_array_equal(out[..., kept:], 0.0)
    assert TemporalSkip.from_config(TemporalSkip(clip_length, kind=kind, init="difference").get_config()).init == "difference"


class TemporalSkipLayerTest(TestCase):
    def test_layer_contract_for_every_kind(self):
        for kind, trainable_weights in [("identity", 0), ("scalar", 1), ("channel", 1), ("conv", 1)]:
            self.run_layer_test(
                TemporalSkip,
                init_kwargs={"clip_length": 4, "delay": 2, "kind": kind},
                input_shape=(8, 3, 3, 5),
                expected_output_shape=(8, 3, 3, 5),
                expected_num_trainable_weights=trainable_weights,
                expected_num_non_trainable_weights=0,
                supports_masking=False,
                run_mixed_precision_check=True,
            )
