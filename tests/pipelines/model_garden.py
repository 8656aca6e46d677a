"""Shards written as TF Model Garden writes them (`official/vision/data/tfexample_utils`): a
`tf.train.SequenceExample` with `clip/label/index` in the context, frames as an `image/encoded`
feature list, an audio feature list beside them, no `clip/media_id`; written with TensorFlow's
own writer, plain or GZIP, into files named `<prefix>.tfrecord-00000-of-00002`."""

import numpy as np
import tensorflow as tf

from pipelines import records

AUDIO_KEY = "features/audio"


def jpeg_frames(seed, num_frames=6, size=32):
    """`num_frames` random `(size, size, 3)` frames as JPEG bytes."""
    rng = np.random.default_rng(seed)
    return [records.encode_jpeg(rng.integers(0, 256, (size, size, 3), np.uint8)) for _ in range(num_frames)]


def model_garden_example(frames, labels, label_text=None):
    """One example as `tfexample_utils.make_video_test_example` builds it.

    Args:
        frames: list of JPEG bytes.
        labels: list of int, the `clip/label/index` values ([] leaves the key out).
        label_text: str or None (None leaves `clip/label/text` out).
    """
    example = tf.train.SequenceExample()
    if labels:
        example.context.feature[records.LABEL_KEY].int64_list.value[:] = labels
    if label_text is not None:
        example.context.feature[records.LABEL_TEXT_KEY].bytes_list.value[:] = [label_text.encode()]
    for jpeg in frames:
        example.feature_lists.feature_list.get_or_create(records.FRAMES_KEY).feature.add().bytes_list.value[:] = [jpeg]
    for row in np.random.default_rng(len(frames)).normal(size=(10, 16)).tolist():
        example.feature_lists.feature_list.get_or_create(AUDIO_KEY).feature.add().float_list.value[:] = row
    return example


def write_model_garden_shards(directory, prefix, shards, compressed=False):
    """Writes `shards` (lists of `model_garden_example` argument tuples) into
    `directory/<prefix>.tfrecord-0000i-of-0000n`, GZIP-compressed when `compressed`.

    Returns:
        list of the written paths.
    """
    directory.mkdir(parents=True, exist_ok=True)
    options = tf.io.TFRecordOptions(compression_type="GZIP" if compressed else "")
    paths = []
    for index, videos in enumerate(shards):
        path = directory / f"{prefix}.tfrecord-{index:05d}-of-{len(shards):05d}"
        with tf.io.TFRecordWriter(str(path), options) as writer:
            for video in videos:
                writer.write(model_garden_example(*video).SerializeToString())
        paths.append(str(path))
    return paths
