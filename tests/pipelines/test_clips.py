import numpy as np
import pytest
import tensorflow as tf

from pipelines import clips, records
from pipelines.dataset import ClipSpec, eval_views, train_clip


def test_random_clip_indices_take_every_kth_frame_inside_the_video():
    tf.random.set_seed(0)
    starts = set()
    for _ in range(50):
        indices = clips.random_clip_indices(20, 4, 3).numpy()
        np.testing.assert_array_equal(np.diff(indices), 3)
        assert 0 <= indices[0] and indices[-1] < 20
        starts.add(indices[0])
    assert starts == set(range(0, 20 - 9))


@pytest.mark.parametrize("short_video, expected", [("loop", [0, 2, 4, 1, 3]), ("repeat_last", [0, 2, 4, 4, 4])])
def test_short_videos_loop_or_repeat_the_last_frame(short_video, expected):
    np.testing.assert_array_equal(clips.random_clip_indices(5, 5, 2, short_video).numpy(), expected)


def test_even_clip_indices_spread_clips_over_the_whole_video():
    indices = clips.even_clip_indices(30, 4, 2, num_clips=3).numpy()
    np.testing.assert_array_equal(indices[:, 0], [0, 12, 23])  # starts 0, 11.5, 23 (30 - 7)
    np.testing.assert_array_equal(indices[2], [23, 25, 27, 29])
    np.testing.assert_array_equal(clips.even_clip_indices(30, 4, 2, 1).numpy(), [[12, 14, 16, 18]])


def test_center_and_three_crops_cut_along_the_longer_side():
    clip = np.zeros((2, 40, 80, 3), np.uint8)
    clip[:, :, :, 0] = np.arange(80)[None, None, :]
    centre = clips.center_crop(clip, 20).numpy()
    assert centre.shape == (2, 20, 20, 3)
    crops = clips.three_crops(clip, 20).numpy()
    assert crops.shape == (3, 2, 20, 20, 3)
    red = crops[..., 0].mean(axis=(1, 2, 3))
    assert red[0] < red[1] < red[2]
    np.testing.assert_allclose(crops[1], centre)


def test_augmentation_is_the_same_for_every_frame_of_a_clip():
    frame = np.random.default_rng(0).integers(0, 255, (1, 32, 48, 3), dtype=np.uint8)
    clip = np.repeat(frame, 4, axis=0)
    for augment in (lambda c: clips.random_resized_crop(c, 24, 0.3), clips.random_flip,
                    lambda c: clips.random_crop(c, 24)):
        out = augment(clip).numpy()
        for t in range(1, 4):
            np.testing.assert_allclose(out[t], out[0])


def example_with_frames(num_frames, size=16):
    """A parsed example whose frame t is filled with the value 10 * t."""
    jpegs = [records.encode_jpeg(np.full((size, size, 3), 10 * t, np.uint8), 100) for t in range(num_frames)]
    return {"frames": tf.constant(jpegs), "label": tf.constant(3, tf.int64),
            "label_text": tf.constant("x"), "media_id": tf.constant("v1")}


def test_only_sampled_frames_arrive_in_order():
    spec = ClipSpec(clip_length=3, frame_step=2, image_size=16, num_test_clips=2, min_crop_scale=1.0)
    views, labels, ids = eval_views(example_with_frames(10), spec)
    assert views.shape == (2, 3, 16, 16, 3) and list(labels.numpy()) == [3, 3]
    np.testing.assert_allclose(views.numpy()[:, :, 8, 8, 0], [[0, 20, 40], [50, 70, 90]], atol=2)
    assert list(ids.numpy()) == [b"v1", b"v1"]
    clip, label = train_clip(example_with_frames(10), spec)
    values = clip.numpy()[:, 8, 8, 0]
    np.testing.assert_allclose(np.diff(values), 20, atol=2)
    three = eval_views(example_with_frames(10), ClipSpec(clip_length=3, image_size=16, num_test_clips=2, three_crop=True))
    assert three[0].shape == (6, 3, 16, 16, 3)


def test_a_partial_multi_machine_dataset_is_refused_until_merged(tmp_path):
    from pipelines.dataset import resolve_split
    from pipelines.sources import synthetic

    synthetic.write_synthetic_dataset(tmp_path, num_classes=2, videos_per_class=1, frame_size=16, num_frames=2)
    assert resolve_split(tmp_path, "validation") == "validation"
    info = records.read_dataset_info(tmp_path)
    info["part"] = {"shard_index": 1, "num_shards": 2}
    records.write_dataset_info(tmp_path, {k: v for k, v in info.items() if k != "format"})
    with pytest.raises(ValueError, match="prepare merge"):
        resolve_split(tmp_path, "train")


def test_full_frame_square_crop_is_a_plain_resize():
    clip = np.random.default_rng(3).integers(0, 255, (2, 24, 24, 3), dtype=np.uint8)
    crop = clips.random_resized_crop(clip, 16, min_scale=1.0, aspect_range=(1.0, 1.0)).numpy()
    np.testing.assert_allclose(crop, tf.image.resize(tf.cast(clip, tf.float32), [16, 16]).numpy(), atol=1e-3)


def test_random_crop_is_an_unresized_window_of_every_frame():
    clip = np.random.default_rng(4).integers(0, 255, (3, 20, 30, 3), dtype=np.uint8)
    seen = set()
    for _ in range(40):
        crop = clips.random_crop(clip, 12).numpy()
        assert crop.dtype == np.uint8 and crop.shape == (3, 12, 12, 3)
        # The crop is clip[:, top:top+12, left:left+12] for exactly one (top, left).
        matches = [(top, left) for top in range(9) for left in range(19)
                   if np.array_equal(crop, clip[:, top : top + 12, left : left + 12])]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 20  # positions vary


def test_random_crop_first_resizes_frames_smaller_than_the_crop():
    clip = np.random.default_rng(5).integers(0, 255, (2, 8, 12, 3), dtype=np.uint8)
    crop = clips.random_crop(clip, 16).numpy()
    assert crop.dtype == np.uint8 and crop.shape == (2, 16, 16, 3)
    resized = np.round(tf.image.resize(tf.cast(clip, tf.float32), [16, 24]).numpy())
    assert any(np.array_equal(crop, resized[:, :, left : left + 16]) for left in range(9))


@pytest.mark.parametrize("train_crop, dtype", [("random", tf.uint8), ("random_resized", tf.float32)])
def test_train_clips_stay_uint8_unless_resizing_makes_floats(train_crop, dtype):
    spec = ClipSpec(clip_length=3, frame_step=2, image_size=12, train_crop=train_crop, flip=True)
    clip, label = train_clip(example_with_frames(10), spec)
    assert clip.dtype == dtype and clip.shape == (3, 12, 12, 3) and int(label) == 3
    np.testing.assert_allclose(np.diff(clip.numpy()[:, 6, 6, 0].astype(np.float32)), 20, atol=2)


def test_an_unknown_train_crop_is_refused(tmp_path):
    from pipelines.dataset import build_dataset
    from pipelines.sources import synthetic

    synthetic.write_synthetic_dataset(tmp_path, num_classes=2, videos_per_class=1, frame_size=16, num_frames=2)
    with pytest.raises(ValueError, match="train_crop"):
        build_dataset(tmp_path, "train", ClipSpec(train_crop="centre"), 1, training=True)


def test_uint8_training_batches_give_the_model_the_same_loss_as_floats(tmp_path):
    from kerasrrn.models import build_rrn
    from pipelines.dataset import build_dataset
    from pipelines.sources import synthetic

    synthetic.write_synthetic_dataset(tmp_path, num_classes=2, videos_per_class=2, frame_size=32, num_frames=6)
    spec = ClipSpec(clip_length=4, image_size=24, train_crop="random")
    clips_batch, labels = next(iter(build_dataset(tmp_path, "train", spec, 2, training=True)))
    assert clips_batch.dtype == tf.uint8 and clips_batch.shape == (2, 4, 24, 24, 3)
    model = build_rrn(2, 4, 24, 18, 0.125, skip_units=("conv4_block2",))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    as_uint8 = model.test_on_batch(clips_batch, labels)
    as_float = model.test_on_batch(tf.cast(clips_batch, tf.float32), labels)
    np.testing.assert_allclose(as_uint8, as_float, rtol=1e-6)
