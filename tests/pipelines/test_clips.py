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


def example_with_frames(num_frames, size=16):
    """A parsed example whose frame t is filled with the value 10 * t."""
    jpegs = [records.encode_jpeg(np.full((size, size, 3), 10 * t, np.uint8), 100) for t in range(num_frames)]
    return {"frames": tf.constant(jpegs), "label": tf.constant(3, tf.int64),
            "label_text": tf.constant("x"), "media_id": tf.constant("v1")}


def test_only_sampled_frames_arrive_in_order():
    spec = ClipSpec(clip_length=3, frame_step=2, image_size=16, num_test_clips=2)
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


def write_frames_dataset(out_dir, sizes):
    """One train shard of 2-frame videos, video i with frames of `sizes[i]` `(height, width)`
    filled with the value 10 * i, labelled i % 2."""
    with records.ShardWriter(out_dir / records.shard_filename("train", 0, 1)) as writer:
        for index, (height, width) in enumerate(sizes):
            frame = np.full((height, width, 3), 10 * index, np.uint8)
            writer.write(records.make_sequence_example(
                [records.encode_jpeg(frame, 100)] * 2, index % 2, "ab"[index % 2], f"v{index}"
            ))
    records.write_dataset_info(out_dir, {
        "class_names": ["a", "b"], "splits": {"train": {"videos": len(sizes), "shards": 1, "frames": 2 * len(sizes)}},
        "frame_step": 1,
    })


def test_training_batches_are_uncropped_uint8_frames_of_one_size_per_batch(tmp_path):
    from pipelines.dataset import build_dataset

    sizes = [(24, 32)] * 6 + [(20, 28)] * 4
    write_frames_dataset(tmp_path, sizes)
    spec = ClipSpec(clip_length=2, image_size=16, shuffle_buffer=16)
    batches = list(build_dataset(tmp_path, "train", spec, 2, training=True).take(5))
    seen = []
    for clips_batch, labels in batches:
        assert clips_batch.dtype == tf.uint8 and clips_batch.shape[:2] == (2, 2)
        size = tuple(clips_batch.shape[2:4])
        for clip, label in zip(clips_batch.numpy(), labels.numpy()):
            index = int(round(clip[0, 0, 0, 0] / 10))
            assert sizes[index] == size and label == index % 2  # each video at its own size
            seen.append(index)
    assert sorted(seen) == list(range(10))  # one epoch: every video once, none lost to grouping


def test_uint8_training_batches_give_the_model_the_same_loss_as_floats(tmp_path):
    from kerasrrn.models import Augmentation, build_rrn
    from pipelines.dataset import build_dataset
    from pipelines.sources import synthetic

    synthetic.write_synthetic_dataset(tmp_path, num_classes=2, videos_per_class=2, frame_size=32, num_frames=6)
    spec = ClipSpec(clip_length=4, image_size=24)
    clips_batch, labels = next(iter(build_dataset(tmp_path, "train", spec, 2, training=True)))
    assert clips_batch.dtype == tf.uint8 and clips_batch.shape == (2, 4, 32, 32, 3)
    model = build_rrn(2, 4, 24, 18, 0.125, skip_units=("conv4_block2",), augmentation=Augmentation("random"))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    as_uint8 = model.test_on_batch(clips_batch, labels)
    as_float = model.test_on_batch(tf.cast(clips_batch, tf.float32), labels)
    np.testing.assert_allclose(as_uint8, as_float, rtol=1e-6)
