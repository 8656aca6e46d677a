"""The private Keras and Keras Tuner internals the project relies on still behave as it
assumes (requirements.txt pins the tested minors; this fails first when a pin is lifted)."""

import keras_tuner
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell
from keras_tuner.src import utils as tuner_utils
from keras_tuner.src.engine import oracle as oracle_module

from kerasrrn.layers import SRUCell


def test_sru_cell_gets_dropout_masks_from_keras_dropout_rnn_cell():
    cell = SRUCell(4, dropout=0.5)
    assert isinstance(cell, DropoutRNNCell)
    for name in ("get_dropout_mask", "get_recurrent_dropout_mask"):
        assert callable(getattr(cell, name))


def test_keras_tuner_saves_json_through_the_patched_function_and_keeps_retry_state(tmp_path):
    # tuning.searches replaces `utils.save_json` and filters `oracle._retry_queue` by `end_order`.
    assert callable(tuner_utils.save_json)
    oracle = keras_tuner.oracles.RandomSearchOracle(objective=keras_tuner.Objective("score", "max"), max_trials=1)
    assert isinstance(oracle._retry_queue, list) and isinstance(oracle.end_order, list)
    assert oracle_module.utils is tuner_utils  # the oracle saves through the patched module
