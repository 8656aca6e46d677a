"""Simple Recurrent Units (SRU): a one-step `SRUCell` and a sequence layer `SRU`.

Two variants, selected by `variant=`:

- `"2017"` (Lei & Zhang 2017, used by MRRN):
  `f = sigmoid(Wf x + bf)`, `r = sigmoid(Wr x + br)`, `c = f * c_prev + (1 - f) * (W x)`,
  `h = r * g(c) + (1 - r) * x'`.
- `"2018"` (the reference `sru` package by asappresearch, v2.x): the gates also see the
  previous state, `f = sigmoid(Wf x + vf * c_prev + bf)`, `r = sigmoid(Wr x + vr * c_prev + br)`,
  and the highway term is scaled by `alpha = sqrt(1 + 2 * exp(highway_bias))`.

`x'` is the input itself when its size equals `units`, else a learned projection `Wh x`
(one more block of the input kernel). As in the reference package, `alpha` multiplies the
identity highway at every step, and only the initial values of the projection `Wh`.
"""

import math

import keras
from keras import ops
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from kerasrrn.choices import SRU_VARIANTS as VARIANTS

SCAN_METHODS = ("auto", "parallel", "sequential")


def _linear_scan(decay, update, initial, method):
    """Solves `c_t = decay_t * c_{t-1} + update_t` along axis 0, from `c_{-1} = initial`.

    Args:
        decay, update: tensors of shape `(time, batch, units)`.
        initial: tensor of shape `(batch, units)`.
        method: `"parallel"` (`ops.associative_scan`, log-depth) or `"sequential"`
            (`ops.scan`, one step per time step).

    Returns:
        Tensor of shape `(time, batch, units)`: every `c_t`.
    """
    if method == "parallel":

        def compose(earlier, later):
            earlier_decay, earlier_update = earlier
            later_decay, later_update = later
            return earlier_decay * later_decay, later_decay * earlier_update + later_update

        total_decay, total_update = ops.associative_scan(compose, (decay, update), axis=0)
        # The TensorFlow associative scan loses the static rank inside `tf.function`.
        return ops.reshape(total_decay * initial + total_update, ops.shape(update))

    def step(state, decay_and_update):
        step_decay, step_update = decay_and_update
        state = step_decay * state + step_update
        return state, state

    _, states = ops.scan(step, initial, (decay, update))
    return states


@keras.saving.register_keras_serializable(package="kerasrrn")
class SRUCell(keras.layers.Layer, DropoutRNNCell):
    """One time step of a Simple Recurrent Unit, for use inside `keras.layers.RNN`.

    Prefer the `SRU` layer for whole sequences: it computes the input projection of all
    time steps in one matmul and only runs the element-wise recurrence over time.
    The state `c` is computed in float32, also under mixed precision.

    Args:
        units: int, positive. Size of the state and of the output.
        variant: str, `"2017"` or `"2018"` (default `"2017"`). See the module docstring.
        activation: activation `g` applied to the state before the output gate
            (default `"tanh"`; the reference package's default is `"linear"`).
        highway_bias: float (default `0.0`, as the reference package). Initial value of
            the reset gate's bias `br`; for `"2018"` it also sets the highway scale
            `alpha = sqrt(1 + 2 * exp(highway_bias))`.
        dropout: float in `[0, 1)` (default `0.0`). Fraction of the inputs dropped, with
            one mask per sequence (Keras RNN semantics), in training only. The dropped
            inputs feed both the projection and the identity highway.
        seed: int or None (default `None`). Seed of the dropout masks.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor of shape `(batch, input_size)`.
        states: list with one tensor of shape `(batch, units)`, the previous state `c`.
        training: bool (default `False`). Whether dropout is applied.

    Returns:
        `(output, [new_state])`, both of shape `(batch, units)`.

    Example:

    >>> layer = keras.layers.RNN(SRUCell(4), return_sequences=True)
    >>> layer(keras.ops.ones((2, 3, 5))).shape
    (2, 3, 4)
    """

    def __init__(
        self,
        units,
        variant="2017",
        activation="tanh",
        highway_bias=0.0,
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(
                f"`units` must be a positive integer. Received: units={units}"
            )
        if variant not in VARIANTS:
            raise ValueError(
                f"`variant` must be one of {VARIANTS}. Received: variant={variant!r}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
        self.units = units
        self.variant = variant
        self.activation = keras.activations.get(activation)
        self.highway_bias = float(highway_bias)
        self.dropout = float(dropout)
        # DropoutRNNCell reads it; SRU has no state-to-state matmul to drop out.
        self.recurrent_dropout = 0.0
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.state_size = units
        self.output_size = units
        self.highway_scale = (
            math.sqrt(1.0 + 2.0 * math.exp(self.highway_bias)) if variant == "2018" else 1.0
        )

    def build(self, input_shape):
        input_size = input_shape[-1]
        self.projects_highway = input_size != self.units
        num_blocks = 4 if self.projects_highway else 3
        # Reference recipe: uniform with variance 1/input_size; for "2018" the gate blocks
        # (and the state weights below) are scaled by sqrt(0.5) and the highway
        # projection by alpha.
        block_scales = [1.0, 1.0, 1.0, self.highway_scale][:num_blocks]
        if self.variant == "2018":
            block_scales[1] = block_scales[2] = math.sqrt(0.5)
        column_scales = [scale for scale in block_scales for _ in range(self.units)]
        base_initializer = keras.initializers.VarianceScaling(
            1.0, mode="fan_in", distribution="uniform", seed=self.seed
        )

        def kernel_initializer(shape, dtype=None):
            return base_initializer(shape, dtype) * ops.convert_to_tensor(column_scales, dtype)

        # Columns are blocks of `units`: [candidate W | forget Wf | reset Wr | highway Wh].
        self.kernel = self.add_weight(
            name="kernel", shape=(input_size, num_blocks * self.units),
            initializer=kernel_initializer,
        )
        # [bf | br]; the recurrence runs in float32, so these are never autocast.
        self.bias = self.add_weight(
            name="bias", shape=(2 * self.units,),
            initializer=keras.initializers.Constant([0.0] * self.units + [self.highway_bias] * self.units),
            autocast=False,
        )
        if self.variant == "2018":
            # [vf | vr]: element-wise weights of the previous state in the gates.
            limit = math.sqrt(1.5)
            self.recurrent_kernel = self.add_weight(
                name="recurrent_kernel", shape=(2 * self.units,),
                initializer=keras.initializers.RandomUniform(-limit, limit, seed=self.seed),
                autocast=False,
            )

    def call(self, inputs, states, training=False):
        previous_state = ops.cast(states[0], "float32")
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        candidate, forget_in, reset_in, highway = self.project(inputs)
        state, reset = self.recur(previous_state, candidate, forget_in, reset_in)
        output = self.emit(state, reset, highway)
        return ops.cast(output, self.compute_dtype), [ops.cast(state, states[0].dtype)]

    def project(self, inputs):
        """Splits `inputs @ kernel` (any leading axes) into the float32 terms of the step.

        Returns `(candidate, forget_in, reset_in, highway)`, the gate inputs with their bias.
        """
        projected = ops.cast(ops.matmul(inputs, self.kernel), "float32")
        blocks = ops.split(projected, 4 if self.projects_highway else 3, axis=-1)
        forget_bias, reset_bias = ops.split(self.bias, 2)
        if self.projects_highway:
            highway = blocks[3]
        else:
            highway = ops.cast(inputs, "float32") * self.highway_scale
        return blocks[0], blocks[1] + forget_bias, blocks[2] + reset_bias, highway

    def recur(self, previous_state, candidate, forget_in, reset_in):
        """One element-wise step: returns the new state `c` and the reset gate `r`."""
        if self.variant == "2018":
            forget_weight, reset_weight = ops.split(self.recurrent_kernel, 2)
            forget_in = forget_in + forget_weight * previous_state
            reset_in = reset_in + reset_weight * previous_state
        forget = ops.sigmoid(forget_in)
        state = forget * previous_state + (1.0 - forget) * candidate
        return state, ops.sigmoid(reset_in)

    def emit(self, state, reset, highway):
        """Output `h = r * g(c) + (1 - r) * x'`."""
        return reset * self.activation(state) + (1.0 - reset) * highway

    def get_config(self):
        config = {
            "units": self.units,
            "variant": self.variant,
            "activation": keras.activations.serialize(self.activation),
            "highway_bias": self.highway_bias,
            "dropout": self.dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="kerasrrn")
class SRU(keras.layers.RNN):
    """Simple Recurrent Unit layer over whole sequences (fast path of `SRUCell`).

    The input projection of all time steps is one matmul; only the element-wise
    recurrence runs over time, in float32 (also under mixed precision; outputs follow the
    layer's compute dtype). Masked time steps keep the previous state; their output is the
    previous output (or zeros with `zero_output_for_mask=True`, as `Bidirectional` sets),
    as in `keras.layers.RNN`. Weights are those of `SRUCell` (`layer.cell`), so
    `keras.layers.RNN(SRUCell(...))` with the same weights gives the same outputs.

    Args:
        units, variant, activation, highway_bias, dropout, seed: as in `SRUCell`.
        scan: str (default `"auto"`). How the `"2017"` recurrence, which is linear in the
            state, runs over time: `"parallel"` (`keras.ops.associative_scan`),
            `"sequential"` (`keras.ops.scan`), or `"auto"`. `"auto"` picks
            `"sequential"`: on a 2-core CPU it was faster for T = 16..64 on TensorFlow, and
            on JAX the parallel scan won only at T = 64 (BENCHMARKS.md), so pass
            `"parallel"` for long sequences on JAX.
            `"2018"` gates depend on the previous state, so it is always sequential and
            accepts only `"auto"` or `"sequential"`.
        return_sequences: bool (default `False`). Return every output, not just the last.
        return_state: bool (default `False`). Also return the last state.
        go_backwards: bool (default `False`). Process the sequence in reverse order and
            return the outputs in that order.
        stateful: bool (default `False`). Carry the last state to the next batch.
        **kwargs: base `RNN`/`Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        sequences: tensor of shape `(batch, time, input_size)`.
        initial_state: optional tensor (or list of one) of shape `(batch, units)`.
        mask: optional boolean tensor of shape `(batch, time)`, `False` at padding.
        training: bool (default `False`). Whether dropout is applied.

    Output shape:
        `(batch, time, units)` with `return_sequences=True`, else `(batch, units)`;
        with `return_state=True`, a list `[output, state]`, `state` of shape
        `(batch, units)`.

    Example:

    >>> layer = SRU(8, return_sequences=True)
    >>> layer(keras.ops.ones((2, 5, 3))).shape
    (2, 5, 8)
    """

    def __init__(
        self,
        units,
        variant="2017",
        activation="tanh",
        highway_bias=0.0,
        dropout=0.0,
        seed=None,
        scan="auto",
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        **kwargs,
    ):
        if scan not in SCAN_METHODS:
            raise ValueError(f"`scan` must be one of {SCAN_METHODS}. Received: scan={scan!r}")
        if variant == "2018" and scan == "parallel":
            raise ValueError(
                "`scan='parallel'` needs a state-independent gate; variant '2018' runs "
                "sequentially. Received: scan='parallel', variant='2018'"
            )
        cell = SRUCell(
            units,
            variant=variant,
            activation=activation,
            highway_bias=highway_bias,
            dropout=dropout,
            seed=seed,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="sru_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            **kwargs,
        )
        self.input_spec = keras.layers.InputSpec(ndim=3)
        self.scan = scan

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        if isinstance(initial_state, (list, tuple)):
            initial_state = initial_state[0]
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if training and cell.dropout > 0:
            sequences = sequences * ops.expand_dims(cell.get_dropout_mask(sequences[:, 0, :]), 1)
        if self.go_backwards:
            sequences = ops.flip(sequences, axis=1)
            mask = None if mask is None else ops.flip(mask, axis=1)
        # Time-major, so that every scan runs along axis 0.
        candidate, forget_in, reset_in, highway = cell.project(ops.transpose(sequences, (1, 0, 2)))
        initial_state = ops.cast(initial_state, "float32")
        if mask is not None:
            keep = ops.expand_dims(ops.cast(ops.transpose(mask), "float32"), -1)
        method = "parallel" if self.scan == "parallel" else "sequential"

        if cell.variant == "2017":
            forget = ops.sigmoid(forget_in)
            decay, update = forget, (1.0 - forget) * candidate
            if mask is not None:
                decay, update = keep * decay + (1.0 - keep), keep * update
            states = _linear_scan(decay, update, initial_state, method)
            reset = ops.sigmoid(reset_in)
        else:

            # The carry holds the reset gate too: the TensorFlow `scan` emits only
            # outputs shaped like its carry.
            def step(carry, step_inputs):
                previous_state = carry[0]
                state, reset = cell.recur(previous_state, *step_inputs[:3])
                if mask is not None:
                    step_keep = step_inputs[3]
                    state = step_keep * state + (1.0 - step_keep) * previous_state
                return (state, reset), (state, reset)

            step_inputs = (candidate, forget_in, reset_in)
            if mask is not None:
                step_inputs += (keep,)
            initial_carry = (initial_state, ops.zeros_like(initial_state))
            _, (states, reset) = ops.scan(step, initial_carry, step_inputs)

        outputs = cell.emit(states, reset, highway)
        if mask is not None:
            if self.zero_output_for_mask:
                outputs = keep * outputs
            else:
                outputs = _linear_scan(
                    1.0 - keep, keep * outputs, ops.zeros_like(outputs[0]), method
                )
        outputs = ops.transpose(outputs, (1, 0, 2))
        return outputs[:, -1], outputs, [states[-1]]

    def get_config(self):
        cell = self.cell
        config = {
            "units": cell.units,
            "variant": cell.variant,
            "activation": keras.activations.serialize(cell.activation),
            "highway_bias": cell.highway_bias,
            "dropout": cell.dropout,
            "seed": cell.seed,
            "scan": self.scan,
        }
        base_config = super().get_config()
        del base_config["cell"]
        return {**base_config, **config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
