import keras
import numpy as np
import pytest
from keras.src.testing import TestCase

from kerasrrn.layers import ClipCrop
from kerasrrn.layers.clip_crop import crop_and_resize

pytestmark = pytest.mark.backend_agnostic


def tf_resize(frames, size):
    """The reference: `tf.image.resize` (bilinear, half-pixel centres), float32 numpy."""
    import tensorflow as tf

    return tf.image.resize(tf.constant(frames, tf.float32), [size, size]).numpy()


def random_clips(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype("uint8")


def test_crop_and_resize_is_tf_resize_of_each_window_and_flip_mirrors_it():
    clips = random_clips((3, 2, 20, 27, 3)).astype("float32")
    # Downsampling, a whole frame, and upsampling of a thin window.
    boxes = np.array([[2, 3, 15, 19], [0, 0, 20, 27], [5, 10, 6, 9]], "float32")
    flip = np.array([False, True, False])
    out = np.asarray(crop_and_resize(clips, boxes, 12, flip))
    assert out.shape == (3, 2, 12, 12, 3)
    for clip, expected, (top, left, height, width), mirrored in zip(clips, out, boxes.astype(int), flip):
        reference = tf_resize(clip[:, top : top + height, left : left + width], 12)
        if mirrored:
            reference = reference[:, :, ::-1]
        np.testing.assert_allclose(expected, reference, atol=1e-3)


def test_inference_passes_square_clips_of_the_output_size_unchanged():
    clips = random_clips((2, 3, 16, 16, 3))
    out = np.asarray(ClipCrop(16, flip=True)(clips, training=False))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, clips.astype("float32"))


def test_inference_resizes_the_centred_square_of_larger_frames():
    clips = random_clips((2, 3, 20, 31, 3), seed=1)
    out = np.asarray(ClipCrop(16)(clips, training=False))
    for clip, expected in zip(clips, out):
        np.testing.assert_allclose(expected, tf_resize(clip[:, :, 5:25], 16), atol=1e-3)


def test_random_mode_cuts_an_unresized_window_that_moves_between_clips():
    clips = np.repeat(random_clips((1, 3, 20, 30, 3), seed=2), 40, axis=0)
    out = np.asarray(ClipCrop(12, mode="random", seed=3)(clips, training=True))
    positions = set()
    for crop in out:
        matches = [(top, left) for top in range(9) for left in range(19)
                   if np.array_equal(crop, clips[0, :, top : top + 12, left : left + 12].astype("float32"))]
        assert len(matches) == 1  # exact pixels of one window, in every frame
        positions.add(matches[0])
    assert len(positions) > 20


def test_random_mode_upsamples_the_largest_square_of_frames_smaller_than_the_output():
    clips = random_clips((4, 2, 8, 12, 3), seed=4)
    out = np.asarray(ClipCrop(16, mode="random", seed=5)(clips, training=True))
    for clip, crop in zip(clips, out):
        assert any(np.allclose(crop, tf_resize(clip[:, :, left : left + 8], 16), atol=1e-3) for left in range(5))


def test_random_resized_boxes_stay_inside_the_frame_within_the_area_and_aspect_ranges():
    layer = ClipCrop(16, min_scale=0.4, aspect_range=(0.8, 1.25), seed=6)
    top, left, height, width = np.asarray(layer.random_boxes(500, 60, 90)).T
    assert np.all(top >= 0) and np.all(left >= 0) and np.all(top + height <= 60) and np.all(left + width <= 90)
    for values in (top, left, height, width):
        np.testing.assert_array_equal(values, np.round(values))  # whole pixels
    area = height * width / (60 * 90)
    assert area.min() >= 0.4 - 0.03 and area.max() <= 1.0 and area.min() < 0.5 and area.max() > 0.9
    uncapped = (height < 60) & (width < 90)
    aspect = (width[uncapped] / 90) / (height[uncapped] / 60)
    assert aspect.min() >= 0.8 - 0.05 and aspect.max() <= 1.25 + 0.05 and np.ptp(aspect) > 0.3
    assert len(set(zip(top, left))) > 100


def test_a_full_square_random_resized_crop_is_a_plain_resize_the_same_for_every_frame():
    frame = random_clips((2, 1, 24, 24, 3), seed=7)
    clips = np.repeat(frame, 3, axis=1)
    out = np.asarray(ClipCrop(16, min_scale=1.0, aspect_range=(1.0, 1.0))(clips, training=True))
    for clip, crop in zip(clips, out):
        np.testing.assert_allclose(crop, tf_resize(clip, 16), atol=1e-3)
    jittered = np.asarray(ClipCrop(16, min_scale=0.3, flip=True, seed=8)(clips, training=True))
    for crop in jittered:
        for t in (1, 2):
            np.testing.assert_array_equal(crop[t], crop[0])


def test_flip_mirrors_about_half_of_the_clips():
    clips = np.repeat(random_clips((1, 2, 10, 10, 3), seed=9), 60, axis=0)
    out = np.asarray(ClipCrop(10, mode="random", flip=True, seed=10)(clips, training=True))
    original = clips[0].astype("float32")
    mirrored = [bool(np.array_equal(crop, original[:, :, ::-1])) for crop in out]
    kept = [bool(np.array_equal(crop, original)) for crop in out]
    assert all(a != b for a, b in zip(mirrored, kept))
    assert 15 < sum(mirrored) < 45


def test_a_seed_repeats_the_windows_and_the_output_follows_the_dtype_policy():
    clips = random_clips((4, 2, 20, 26, 3), seed=11)
    first = np.asarray(ClipCrop(12, flip=True, seed=12)(clips, training=True))
    again = np.asarray(ClipCrop(12, flip=True, seed=12)(clips, training=True))
    np.testing.assert_array_equal(first, again)
    half = ClipCrop(12, dtype="mixed_float16")(clips, training=True)
    assert keras.backend.standardize_dtype(half.dtype) == "float16"


@pytest.mark.parametrize("kwargs", [{"mode": "centre"}, {"min_scale": 0.0}, {"min_scale": 1.5},
                                    {"aspect_range": (2.0, 1.0)}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError, match="Expected"):
        ClipCrop(8, **kwargs)


class ClipCropLayerTest(TestCase):
    def test_layer_contract(self):
        self.run_layer_test(
            ClipCrop,
            init_kwargs={"size": 4, "mode": "random", "min_scale": 0.5, "flip": True, "seed": 1},
            input_shape=(2, 3, 6, 7, 3), expected_output_shape=(2, 3, 4, 4, 3),
            expected_num_trainable_weights=0, expected_num_non_trainable_weights=0,
            expected_num_seed_generators=1, supports_masking=False, run_training_check=False,
        )
