import numpy as np
import pytest
from keras.src.testing import TestCase

from kerasrrn.layers import FoldTime, FramePreprocessing, UnfoldTime

pytestmark = pytest.mark.backend_agnostic


def test_fold_then_unfold_is_identity_and_keeps_clips_contiguous():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4, 1)).astype("float32")
    folded = np.asarray(FoldTime()(x))
    assert folded.shape == (6, 4, 4, 1)
    np.testing.assert_array_equal(folded[3], x[1, 0])
    np.testing.assert_array_equal(np.asarray(UnfoldTime(3)(folded)), x)


def test_preprocessing_equals_keras_applications_resnet():
    import keras

    pixels = np.random.default_rng(1).uniform(0, 255, size=(2, 5, 5, 3)).astype("float32")
    expected = keras.applications.resnet.preprocess_input(pixels.copy())
    np.testing.assert_allclose(np.asarray(FramePreprocessing()(pixels)), expected, atol=1e-4)


class FoldLayersTest(TestCase):
    def test_layer_contracts(self):
        self.run_layer_test(
            UnfoldTime, init_kwargs={"clip_length": 4}, input_shape=(8, 3),
            expected_output_shape=(2, 4, 3), supports_masking=False,
        )
        self.run_layer_test(
            FoldTime, init_kwargs={}, input_shape=(2, 4, 3), expected_output_shape=(8, 3),
            supports_masking=False,
        )
