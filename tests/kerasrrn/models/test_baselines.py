import keras
import numpy as np
import pytest

from kerasrrn.models import build_resnet_lstm, resnet_stages
from tests.kerasrrn.models.test_mrrn import (
    CLIP_LENGTH, IMAGE_SIZE, NUM_CLASSES, assert_a_few_steps_train, random_clips,
)

pytestmark = pytest.mark.backend_agnostic

LSTM_UNITS = 6
TINY = dict(clip_length=CLIP_LENGTH, image_size=IMAGE_SIZE, depth=18, width=0.125, lstm_units=LSTM_UNITS)
CONV5_CHANNELS = 64  # ResNet-18 conv5 (512 channels) at width 1/8


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def numpy_lstm_last_output(sequence, kernel, recurrent_kernel, bias):
    """LSTM equations with the gates in Keras order [input, forget, cell, output]."""
    units = recurrent_kernel.shape[0]
    hidden = np.zeros((sequence.shape[0], units))
    cell = np.zeros_like(hidden)
    for frame in np.moveaxis(sequence, 1, 0):
        z = frame @ kernel + hidden @ recurrent_kernel + bias
        input_gate, forget_gate, candidate, output_gate = np.split(z, 4, axis=-1)
        cell = sigmoid(forget_gate) * cell + sigmoid(input_gate) * np.tanh(candidate)
        hidden = sigmoid(output_gate) * np.tanh(cell)
    return hidden


def test_parameters_are_backbone_plus_lstm_plus_classifier():
    model = build_resnet_lstm(NUM_CLASSES, **TINY)
    frames = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    backbone = keras.Model(frames, resnet_stages(frames, 18, 0.125)["conv5"]).count_params()
    lstm = 4 * (CONV5_CHANNELS * LSTM_UNITS + LSTM_UNITS * LSTM_UNITS + LSTM_UNITS)
    classifier = LSTM_UNITS * NUM_CLASSES + NUM_CLASSES
    assert model.count_params() == backbone + lstm + classifier


def test_clip_is_classified_from_the_last_lstm_output_of_pooled_conv5_features():
    model = build_resnet_lstm(NUM_CLASSES, **TINY, dropout=0.5)
    clips = random_clips()
    probe = keras.Model(model.input, [model.get_layer("conv5_block2_out").output, model.output])
    conv5, probabilities = (np.asarray(output, dtype=np.float64) for output in probe(clips))
    pooled = conv5.mean(axis=(1, 2)).reshape(2, CLIP_LENGTH, CONV5_CHANNELS)
    last = numpy_lstm_last_output(pooled, *model.get_layer("lstm").get_weights())
    kernel, bias = model.get_layer("predictions").get_weights()
    logits = last @ kernel + bias
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert probabilities.shape == (2, NUM_CLASSES)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_saves_reloads_and_trains(tmp_path):
    model = build_resnet_lstm(NUM_CLASSES, **TINY)
    model.save(tmp_path / "resnet_lstm.keras")
    reloaded = keras.saving.load_model(tmp_path / "resnet_lstm.keras")
    clips = random_clips()
    np.testing.assert_allclose(np.asarray(reloaded(clips)), np.asarray(model(clips)), atol=1e-6)
    assert_a_few_steps_train(model, [model.get_layer(name) for name in ("conv1_conv", "lstm", "predictions")])
