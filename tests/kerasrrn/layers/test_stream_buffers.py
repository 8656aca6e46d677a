"""Tests for the streaming state layers against numpy over a sequence of frames."""

import keras
import numpy as np
import pytest

from kerasrrn.layers import FrameCounter, FrameQueue, RunningPooling, WindowPooling

FRAMES, WINDOW, FEATURES = 6, 3, 4


def items(seed=0):
    """Features of `FRAMES` frames of 2 streams, `(FRAMES, 2, FEATURES)`, with negative values
    (a max over zeros would hide a wrong mask)."""
    return np.random.default_rng(seed).normal(size=(FRAMES, 2, FEATURES)).astype("float32")


def numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def test_frame_queue_returns_the_item_of_delay_frames_back():
    sequence = np.random.default_rng(1).normal(size=(FRAMES, 2, 5, 5, 3)).astype("float32")
    queue, layer = np.zeros((2, 2, 5, 5, 3), "float32"), FrameQueue()
    for index, item in enumerate(sequence):
        oldest, queue = layer([queue, item])
        expected = sequence[index - 2] if index >= 2 else np.zeros_like(item)
        np.testing.assert_array_equal(numpy(oldest), expected)
        queue = numpy(queue)
    np.testing.assert_array_equal(queue, np.stack(sequence[-2:], axis=1))


@pytest.mark.parametrize("pooling", ["mean", "max", "last"])
def test_window_pooling_pools_the_last_frames_seen(pooling):
    layer, counter = WindowPooling(WINDOW, pooling), FrameCounter()
    queue, seen = np.zeros((2, WINDOW, FEATURES), "float32"), np.zeros((2, 1), "float32")
    reference = {"mean": np.mean, "max": np.max, "last": lambda window, axis: window[:, -1]}[pooling]
    sequence = items()
    for index, item in enumerate(sequence):
        pooled, queue = layer([queue, seen, item])
        window = np.stack(sequence[max(0, index - WINDOW + 1): index + 1], axis=1)
        np.testing.assert_allclose(numpy(pooled), reference(window, axis=1), rtol=1e-6, atol=1e-6)
        queue, seen = numpy(queue), numpy(counter(seen))
    assert seen.tolist() == [[FRAMES]] * 2


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_running_pooling_pools_every_frame_since_the_start(pooling):
    layer = RunningPooling(pooling)
    total, seen = np.full((2, FEATURES), 7.0, "float32") if pooling == "max" else np.zeros((2, FEATURES), "float32"), 0.0
    sequence = items(2)
    reference = {"mean": np.mean, "max": np.max}[pooling]
    for index, item in enumerate(sequence):
        pooled, total = layer([total, np.full((2, 1), seen, "float32"), item])
        np.testing.assert_allclose(numpy(pooled), reference(sequence[: index + 1], axis=0), rtol=1e-6, atol=1e-6)
        total, seen = numpy(total), seen + 1


@pytest.mark.parametrize("layer, message", [
    (lambda: WindowPooling(0), "`window` must be a positive integer"),
    (lambda: WindowPooling(3, "median"), "`pooling` must be one of"),
    (lambda: RunningPooling("last"), "`last` pooling keeps no running state"),
])
def test_bad_arguments_are_refused(layer, message):
    with pytest.raises(ValueError, match=message):
        layer()


def test_window_pooling_round_trips_its_config():
    layer = WindowPooling(5, "max", name="pool")
    assert WindowPooling.from_config(layer.get_config()).get_config() == layer.get_config()
