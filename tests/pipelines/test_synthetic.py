import json

import numpy as np
import pytest

from pipelines import records
from pipelines.sources import synthetic

PAIRS = [("right", "left"), ("down", "up"), ("grow", "shrink"), ("rotate_cw", "rotate_ccw")]


@pytest.mark.parametrize("forward, backward", PAIRS)
def test_each_direction_pair_is_the_time_reversal_of_the_other(forward, backward):
    """Same seed -> the backward class is exactly the forward clip played backwards, so both
    classes have the same distribution of frame *sets* and only order separates them."""
    for seed in range(5):
        clip = synthetic.generate_video(forward, seed, frame_size=32, num_frames=8)
        np.testing.assert_array_equal(synthetic.generate_video(backward, seed, 32, 8), clip[::-1])
        assert not np.array_equal(clip, clip[::-1])


def centroid(frame, background):
    ys, xs = np.nonzero(np.abs(frame.astype(float) - background).sum(-1) > 120)
    return xs.mean(), ys.mean(), xs.size


def test_motion_goes_the_way_the_class_says():
    size, frames = 64, 12
    for name, axis, sign in [("right", 0, 1), ("left", 0, -1), ("down", 1, 1), ("up", 1, -1)]:
        for seed in range(3):
            clip = synthetic.generate_video(name, seed, size, frames)
            # The temporal median still holds some of the object, which pulls both centroids
            # towards the middle: the bound is conservative (the true travel is >= 20 px).
            background = np.median(clip, axis=0)
            first, last = centroid(clip[0], background), centroid(clip[-1], background)
            assert sign * (last[axis] - first[axis]) > size / 10, (name, seed, first, last)


def test_still_moves_only_by_camera_jitter_and_blink_disappears():
    still = synthetic.generate_video("still", 3, 64, 12).astype(float)
    blink = synthetic.generate_video("blink", 3, 64, 12).astype(float)
    assert np.abs(np.diff(still, axis=0)).mean() < np.abs(np.diff(blink, axis=0)).mean()
    energy = np.abs(blink - np.median(blink, axis=0)).mean(axis=(1, 2, 3))
    assert energy.max() > 2 * energy.min()


def test_generation_is_deterministic_per_seed_and_varies_across_seeds():
    a = synthetic.generate_video("rotate_cw", 11, 32, 6)
    assert a.dtype == np.uint8 and a.shape == (6, 32, 32, 3)
    np.testing.assert_array_equal(a, synthetic.generate_video("rotate_cw", 11, 32, 6))
    assert not np.array_equal(a, synthetic.generate_video("rotate_cw", 12, 32, 6))


def test_unknown_class_and_class_count_are_rejected():
    with pytest.raises(ValueError, match="'jump'"):
        synthetic.generate_video("jump", 0)
    with pytest.raises(ValueError, match="num_classes=11"):
        synthetic.class_names(11)


def test_dataset_is_written_once_in_the_record_format_and_reused(tmp_path):
    import tensorflow as tf

    out = tmp_path / "synthetic"
    info = synthetic.write_synthetic_dataset(out, num_classes=4, videos_per_class=4, frame_size=32,
                                             num_frames=6, seed=7, videos_per_shard=5)
    assert info["class_names"] == ["right", "left", "down", "up"]
    assert info["splits"]["train"] == {"videos": 16, "shards": 4, "frames": 96}
    assert len(records.list_shards(out, "train")) == 4
    examples = [records.parse_sequence_example(s) for s in tf.data.TFRecordDataset(records.list_shards(out, "train"))]
    assert sorted(int(e["label"]) for e in examples) == sorted([0, 1, 2, 3] * 4)
    assert all(int(tf.shape(e["frames"])[0]) == 6 for e in examples)
    assert {e["label_text"].numpy().decode() for e in examples if int(e["label"]) == 2} == {"down"}
    frame = tf.io.decode_jpeg(examples[0]["frames"][0]).numpy()
    name = examples[0]["label_text"].numpy().decode()
    index = int(examples[0]["media_id"].numpy().decode().rsplit("/", 1)[1])
    original = synthetic.generate_video(name, synthetic.video_seed(7, "train", index), 32, 6)[0]
    assert np.abs(frame.astype(int) - original).mean() < 6  # JPEG quality 95 of noisy frames

    mtime = (out / records.DATASET_JSON).stat().st_mtime_ns
    synthetic.write_synthetic_dataset(out, 4, 4, 32, 6, seed=7)
    assert (out / records.DATASET_JSON).stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match="another --data-dir"):
        synthetic.write_synthetic_dataset(out, 4, 4, 32, 6, seed=8)
    assert json.loads((out / records.DATASET_JSON).read_text())["format"] == records.FORMAT_NAME
