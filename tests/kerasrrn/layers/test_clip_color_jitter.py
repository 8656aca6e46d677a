import numpy as np
import pytest
from keras.src.testing import TestCase

from kerasrrn.layers import ClipColorJitter
from kerasrrn.layers.clip_color_jitter import adjust_clips

pytestmark = pytest.mark.backend_agnostic


def mid_range_clips(batch=6, seed=0):
    """Pixel values in [100, 155]: no jitter of at most 0.1 brightness and 0.1 contrast clips them."""
    return np.random.default_rng(seed).uniform(100, 155, size=(batch, 3, 4, 5, 3)).astype("float32")


def test_adjust_clips_matches_numpy_including_clipping():
    clips = np.random.default_rng(1).uniform(0, 255, size=(2, 3, 4, 4, 3)).astype("float32")
    shift = np.array([40.0, -30.0], "float32").reshape(2, 1, 1, 1, 1)
    factor = np.array([1.5, 0.7], "float32").reshape(2, 1, 1, 1, 1)
    mean = clips.mean(axis=(1, 2, 3, 4), keepdims=True)
    expected = np.clip((clips - mean) * factor + mean + shift, 0, 255)
    np.testing.assert_allclose(np.asarray(adjust_clips(clips, shift, factor)), expected, atol=1e-3)
    assert expected.min() == 0 and expected.max() == 255  # the case covers clipping


def test_inference_passes_clips_unchanged():
    clips = np.random.default_rng(2).integers(0, 256, size=(2, 3, 4, 4, 3)).astype("uint8")
    out = np.asarray(ClipColorJitter(0.5, 0.5)(clips, training=False))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, clips.astype("float32"))


def test_brightness_is_one_shift_per_clip_within_range_and_varies_between_clips():
    clips = mid_range_clips()
    out = np.asarray(ClipColorJitter(brightness=0.1, contrast=0.0, seed=3)(clips, training=True))
    shifts = (out - clips).reshape(len(clips), -1)
    np.testing.assert_allclose(shifts, shifts[:, :1] * np.ones_like(shifts), atol=1e-3)
    assert np.all(np.abs(shifts[:, 0]) <= 25.5 + 1e-3) and np.ptp(shifts[:, 0]) > 1


def test_contrast_is_one_factor_per_clip_around_the_clip_mean():
    clips = mid_range_clips()
    out = np.asarray(ClipColorJitter(brightness=0.0, contrast=0.1, seed=4)(clips, training=True))
    mean = clips.mean(axis=(1, 2, 3, 4), keepdims=True)
    factors = ((out - mean) / (clips - mean)).reshape(len(clips), -1)
    centred = np.abs(clips - mean).reshape(len(clips), -1) > 5  # well-conditioned ratios
    for clip_factors, valid in zip(factors, centred):
        np.testing.assert_allclose(clip_factors[valid], clip_factors[valid][0], rtol=1e-3)
        assert 0.9 - 1e-4 <= clip_factors[valid][0] <= 1.1 + 1e-4
    assert np.ptp(factors[:, 0]) > 0.01


def test_the_same_seed_draws_the_same_jitter():
    clips = mid_range_clips()
    first = np.asarray(ClipColorJitter(seed=5)(clips, training=True))
    second = np.asarray(ClipColorJitter(seed=5)(clips, training=True))
    np.testing.assert_array_equal(first, second)


def test_out_of_range_settings_are_refused():
    with pytest.raises(ValueError, match="contrast"):
        ClipColorJitter(brightness=0.1, contrast=1.0)
    with pytest.raises(ValueError, match="brightness"):
        ClipColorJitter(brightness=-0.1)


class ClipColorJitterTest(TestCase):
    def test_layer_contract(self):
        self.run_layer_test(
            ClipColorJitter, init_kwargs={"brightness": 0.2, "contrast": 0.3, "seed": 1},
            input_shape=(2, 3, 4, 4, 3), expected_output_shape=(2, 3, 4, 4, 3),
            supports_masking=False, run_training_check=False,
        )
