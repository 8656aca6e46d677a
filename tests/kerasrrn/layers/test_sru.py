import ast
import math
import pathlib

import keras
import numpy as np
import pytest
from keras.src.testing import TestCase

from kerasrrn.layers.sru import SRU, SRUCell

pytestmark = pytest.mark.backend_agnostic

FIXTURE = pathlib.Path(__file__).parents[2] / "fixtures" / "sru_reference.npz"
VARIANT_SCANS = [("2017", "parallel"), ("2017", "sequential"), ("2018", "sequential")]


def numpy_sru(inputs, weights, variant, activation, highway_bias, initial_state=None, mask=None):
    """Plain float64 loop over the equations; `weights` as `SRUCell` stores them."""
    kernel, bias = (np.asarray(w, np.float64) for w in weights[:2])
    units = bias.size // 2
    blocks = [kernel[:, i * units:(i + 1) * units] for i in range(kernel.shape[1] // units)]
    forget_bias, reset_bias = bias[:units], bias[units:]
    if variant == "2018":
        forget_weight, reset_weight = np.split(np.asarray(weights[2], np.float64), 2)
        highway_scale = math.sqrt(1 + 2 * math.exp(highway_bias))
    else:
        forget_weight = reset_weight = np.zeros(units)
        highway_scale = 1.0
    g = np.tanh if activation == "tanh" else (lambda c: c)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    batch, length, _ = inputs.shape
    state = np.zeros((batch, units)) if initial_state is None else np.asarray(initial_state, np.float64)
    output = np.zeros((batch, units))
    outputs = []
    for t in range(length):
        x = np.asarray(inputs[:, t], np.float64)
        forget = sigmoid(x @ blocks[1] + forget_weight * state + forget_bias)
        reset = sigmoid(x @ blocks[2] + reset_weight * state + reset_bias)
        new_state = forget * state + (1 - forget) * (x @ blocks[0])
        highway = x @ blocks[3] if len(blocks) == 4 else highway_scale * x
        new_output = reset * g(new_state) + (1 - reset) * highway
        if mask is not None:
            keep = mask[:, t, None]
            new_state = np.where(keep, new_state, state)
            new_output = np.where(keep, new_output, output)
        state, output = new_state, new_output
        outputs.append(output)
    return np.stack(outputs, axis=1), state


def random_weights(layer, seed=0):
    """Random weights of a useful scale (the default bias is constant)."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.7, w.shape).astype("float32") for w in layer.get_weights()])
    return layer.get_weights()


def sequences(shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def gradients(layer, inputs, initial_state, cotangent):
    """d sum(cotangent * layer(inputs, initial_state)) / d (inputs, trainable weights)."""
    if keras.backend.backend() == "jax":
        import jax

        def loss(inputs, weights):
            outputs, _ = layer.stateless_call(weights, frozen, inputs, initial_state=initial_state)
            return jax.numpy.sum(outputs * cotangent)

        weights = [v.value for v in layer.trainable_variables]
        frozen = [v.value for v in layer.non_trainable_variables]
        input_grad, weight_grads = jax.grad(loss, argnums=(0, 1))(inputs, weights)
        return [np.asarray(g) for g in [input_grad, *weight_grads]]
    assert keras.backend.backend() == "tensorflow"
    import tensorflow as tf

    inputs = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = tf.reduce_sum(layer(inputs, initial_state=initial_state) * cotangent)
    return [np.asarray(g) for g in tape.gradient(loss, [inputs, *layer.trainable_variables])]


@pytest.mark.parametrize("variant,scan", VARIANT_SCANS)
@pytest.mark.parametrize("input_size", [3, 4])
def test_forward_matches_numpy(variant, scan, input_size):
    inputs = sequences((2, 5, input_size))
    initial_state = sequences((2, 4), seed=2)
    activation = "tanh" if input_size == 3 else "linear"
    layer = SRU(4, variant=variant, activation=activation, highway_bias=-0.5, scan=scan,
                return_sequences=True, return_state=True)
    layer(inputs)
    weights = random_weights(layer)
    outputs, state = layer(inputs, initial_state=initial_state)
    expected_outputs, expected_state = numpy_sru(inputs, weights, variant, activation, -0.5, initial_state)
    np.testing.assert_allclose(outputs, expected_outputs, atol=1e-5)
    np.testing.assert_allclose(state, expected_state, atol=1e-5)


@pytest.mark.parametrize("variant,scan", VARIANT_SCANS)
@pytest.mark.parametrize("input_size", [2, 3])
def test_gradients_match_finite_differences(variant, scan, input_size):
    inputs = sequences((2, 4, input_size))
    initial_state = sequences((2, 3), seed=2)
    cotangent = sequences((2, 4, 3), seed=3)
    layer = SRU(3, variant=variant, highway_bias=-1.0, scan=scan, return_sequences=True)
    layer(inputs)
    weights = random_weights(layer)

    def loss(inputs, weights):
        outputs, _ = numpy_sru(inputs, weights, variant, "tanh", -1.0, initial_state)
        return np.sum(outputs * cotangent)

    def finite_difference(array, evaluate, step=1e-6):
        array = np.asarray(array, np.float64)
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            shifted = [array.copy(), array.copy()]
            shifted[0][index] += step
            shifted[1][index] -= step
            grad[index] = (evaluate(shifted[0]) - evaluate(shifted[1])) / (2 * step)
        return grad

    expected = [finite_difference(inputs, lambda x: loss(x, weights))]
    for i in range(len(weights)):
        expected.append(finite_difference(
            weights[i], lambda w: loss(inputs, weights[:i] + [w] + weights[i + 1:])))
    actual = gradients(layer, inputs, initial_state, cotangent)
    assert [a.shape for a in actual] == [e.shape for e in expected]
    for actual_grad, expected_grad in zip(actual, expected):
        np.testing.assert_allclose(actual_grad, expected_grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("case", ["2018_project", "2018_identity", "2017_project", "2017_identity"])
def test_matches_reference_package(case):
    """Outputs of asappresearch `sru` (see tests/fixtures/make_sru_reference.py)."""
    fixture = np.load(FIXTURE)
    assert str(fixture["sru_version"]) == "2.6.0"
    options = ast.literal_eval(str(fixture[f"{case}/options"]))
    units = options["hidden_size"]
    # The reference interleaves the kernel's columns as (units, block); ours are block-major.
    weight = fixture[f"{case}/weight"]
    input_size, num_columns = weight.shape
    kernel = weight.reshape(input_size, units, num_columns // units).transpose(0, 2, 1).reshape(weight.shape)
    variant = "2017" if options["v1"] else "2018"
    layer = SRU(units, variant=variant, activation="tanh" if options["use_tanh"] else "linear",
                highway_bias=options["highway_bias"], return_sequences=True, return_state=True)
    inputs = fixture[f"{case}/x"].transpose(1, 0, 2)  # the reference is time-major
    layer(inputs)
    extra = [fixture[f"{case}/weight_c"]] if variant == "2018" else []
    layer.set_weights([kernel, fixture[f"{case}/bias"], *extra])
    outputs, state = layer(inputs, initial_state=fixture[f"{case}/c0"])
    np.testing.assert_allclose(outputs, fixture[f"{case}/h"].transpose(1, 0, 2), atol=1e-5)
    np.testing.assert_allclose(state, fixture[f"{case}/c"], atol=1e-5)


class TestSRU(TestCase):
    def test_layer(self):
        for variant, num_weights in (("2017", 2), ("2018", 3)):
            self.run_layer_test(
                SRU,
                init_kwargs={"units": 3, "variant": variant, "dropout": 0.5, "seed": 1},
                input_shape=(3, 2, 4),
                call_kwargs={"training": True},
                expected_output_shape=(3, 3),
                expected_num_trainable_weights=num_weights,
                expected_num_non_trainable_weights=0,
                supports_masking=True,
            )
        self.run_layer_test(
            SRU,
            init_kwargs={"units": 4, "activation": "linear", "highway_bias": -1.0, "scan": "parallel",
                         "return_sequences": True, "go_backwards": True},
            input_shape=(3, 2, 4),
            expected_output_shape=(3, 2, 4),
            expected_num_trainable_weights=2,
            supports_masking=True,
        )

    def test_cell_in_rnn(self):
        for variant, num_weights in (("2017", 2), ("2018", 3)):
            self.run_layer_test(
                keras.layers.RNN,
                init_kwargs={"cell": SRUCell(3, variant=variant, dropout=0.5), "return_sequences": True},
                input_shape=(3, 2, 4),
                call_kwargs={"training": True},
                expected_output_shape=(3, 2, 3),
                expected_num_trainable_weights=num_weights,
                expected_num_non_trainable_weights=0,
                supports_masking=True,
                # The one cell instance would be shared by the float32 and mixed layers;
                # test_mixed_precision covers RNN(SRUCell(dtype=policy)).
                run_mixed_precision_check=False,
            )


@pytest.mark.parametrize("variant,scan", VARIANT_SCANS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_sequence_layer_equals_rnn_of_cell(variant, scan, go_backwards):
    inputs = sequences((3, 6, 5))
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 0, 1, 0, 0], [0, 1, 1, 1, 1, 0]], bool)
    options = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    layer = SRU(4, variant=variant, scan=scan, **options)
    rnn = keras.layers.RNN(SRUCell(4, variant=variant), **options)
    layer(inputs)
    rnn(inputs)
    rnn.set_weights(random_weights(layer))
    (outputs, state), (expected_outputs, expected_state) = [
        (np.asarray(o), np.asarray(s)) for o, s in (layer(inputs, mask=mask), rnn(inputs, mask=mask))
    ]
    np.testing.assert_allclose(state, expected_state, atol=1e-5)
    # Only kept steps: on JAX, keras' rnn emits the first *state* at masked steps
    # (test_masked_steps_keep_state_and_output checks those against numpy).
    kept = mask[:, ::-1] if go_backwards else mask
    np.testing.assert_allclose(outputs[kept], expected_outputs[kept], atol=1e-5)


@pytest.mark.parametrize("variant,scan", VARIANT_SCANS)
def test_masked_steps_keep_state_and_output(variant, scan):
    inputs = sequences((2, 5, 3))
    mask = np.array([[1, 0, 1, 1, 0], [0, 0, 1, 0, 1]], bool)
    layer = SRU(3, variant=variant, scan=scan, return_sequences=True, return_state=True)
    layer(inputs)
    weights = random_weights(layer)
    outputs, state = layer(inputs, mask=mask)
    expected_outputs, expected_state = numpy_sru(inputs, weights, variant, "tanh", 0.0, mask=mask)
    np.testing.assert_allclose(outputs, expected_outputs, atol=1e-5)
    np.testing.assert_allclose(state, expected_state, atol=1e-5)
    # Before the first kept step the output is zeros; after it, the last kept output.
    np.testing.assert_array_equal(np.asarray(outputs)[1, :2], 0.0)
    np.testing.assert_array_equal(np.asarray(outputs)[0, 1], np.asarray(outputs)[0, 0])


@pytest.mark.parametrize("variant", ["2017", "2018"])
def test_go_backwards_and_last_output(variant):
    inputs = sequences((2, 5, 3))
    layer = SRU(3, variant=variant, go_backwards=True, return_state=True)
    layer(inputs)
    weights = random_weights(layer)
    last_output, state = layer(inputs)
    expected_outputs, expected_state = numpy_sru(inputs[:, ::-1], weights, variant, "tanh", 0.0)
    np.testing.assert_allclose(last_output, expected_outputs[:, -1], atol=1e-5)
    np.testing.assert_allclose(state, expected_state, atol=1e-5)


@pytest.mark.parametrize("variant", ["2017", "2018"])
def test_bidirectional_with_mask(variant):
    inputs = sequences((2, 4, 3))
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)
    layer = keras.layers.Bidirectional(SRU(3, variant=variant, return_sequences=True))
    rnn = keras.layers.Bidirectional(keras.layers.RNN(SRUCell(3, variant=variant), return_sequences=True))
    layer(inputs)
    rnn(inputs)
    rnn.set_weights(layer.get_weights())
    outputs = np.asarray(layer(inputs, mask=mask))
    assert outputs.shape == (2, 4, 6)
    np.testing.assert_allclose(outputs, rnn(inputs, mask=mask), atol=1e-5)
    # Bidirectional sets zero_output_for_mask for sequences: padded steps are zeros.
    np.testing.assert_array_equal(outputs[1, 2:], 0.0)


def test_dropout_is_one_mask_per_sequence_in_training_only():
    inputs = sequences((2, 5, 3))
    layer = SRU(3, dropout=0.5, seed=7, return_sequences=True)
    rnn = keras.layers.RNN(SRUCell(3, dropout=0.5, seed=7), return_sequences=True)
    layer(inputs)
    rnn(inputs)
    rnn.set_weights(random_weights(layer))
    inference = np.asarray(layer(inputs))
    np.testing.assert_allclose(inference, numpy_sru(inputs, layer.get_weights(), "2017", "tanh", 0.0)[0],
                               atol=1e-5)
    np.testing.assert_allclose(rnn(inputs), inference, atol=1e-5)
    training = np.asarray(layer(inputs, training=True))
    assert np.abs(training - inference).max() > 1e-3
    # Same seed and calls, same per-sequence mask as keras.layers.RNN draws for the cell.
    np.testing.assert_allclose(training, rnn(inputs, training=True), atol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("variant", ["2017", "2018"])
def test_mixed_precision(policy, variant):
    inputs = sequences((2, 6, 3))
    reference = SRU(4, variant=variant, return_sequences=True, return_state=True)
    layer = SRU(4, variant=variant, return_sequences=True, return_state=True, dtype=policy)
    reference(inputs)
    layer(inputs)
    layer.set_weights(random_weights(reference))
    outputs, state = layer(inputs)
    assert keras.backend.standardize_dtype(outputs.dtype) == policy.split("_")[1]
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)
    expected_outputs, expected_state = reference(inputs)
    np.testing.assert_allclose(np.asarray(outputs, np.float32), expected_outputs, atol=5e-2)
    np.testing.assert_allclose(np.asarray(state, np.float32), expected_state, atol=5e-2)
    rnn = keras.layers.RNN(SRUCell(4, variant=variant, dtype=policy), return_sequences=True, dtype=policy)
    rnn(inputs)
    rnn.set_weights(reference.get_weights())
    cell_outputs = rnn(inputs, training=True)
    assert keras.backend.standardize_dtype(cell_outputs.dtype) == policy.split("_")[1]
    np.testing.assert_allclose(np.asarray(cell_outputs, np.float32), expected_outputs, atol=5e-2)


def test_symbolic_output_shapes():
    inputs = keras.Input((None, 6))
    outputs, state = SRU(5, return_sequences=True, return_state=True)(inputs)
    assert tuple(outputs.shape) == (None, None, 5)
    assert tuple(state.shape) == (None, 5)
    assert SRU(5).compute_output_shape((2, 7, 6)) == (2, 5)


def test_initialisation_follows_reference():
    """Kernel variance 1/input_size; 2018 gates scaled by sqrt(0.5), highway by alpha."""
    layer = SRU(200, variant="2018", highway_bias=-1.0)
    layer.build((None, None, 300))
    kernel = np.asarray(layer.cell.kernel)
    block_std = kernel.reshape(300, 4, 200).std(axis=(0, 2))
    alpha = math.sqrt(1 + 2 * math.exp(-1.0))
    np.testing.assert_allclose(block_std, np.array([1, 0.5**0.5, 0.5**0.5, alpha]) / math.sqrt(300), rtol=0.05)
    np.testing.assert_array_equal(np.asarray(layer.cell.bias), [0.0] * 200 + [-1.0] * 200)
    np.testing.assert_allclose(np.asarray(layer.cell.recurrent_kernel).std(), 0.5**0.5, rtol=0.1)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"units": -1}, "Received: units=-1"),
        ({"units": 3, "variant": "2019"}, "Received: variant='2019'"),
        ({"units": 3, "dropout": 1.0}, "Received: dropout=1.0"),
        ({"units": 3, "scan": "fast"}, "Received: scan='fast'"),
        ({"units": 3, "variant": "2018", "scan": "parallel"}, "Received: scan='parallel', variant='2018'"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SRU(**kwargs)


def test_saved_model_round_trip(tmp_path):
    inputs = sequences((2, 4, 3))
    model = keras.Sequential([keras.Input((None, 3)), SRU(4, variant="2018", return_sequences=True)])
    path = tmp_path / "sru.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored(inputs), model(inputs), atol=1e-6)
