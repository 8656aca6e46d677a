"""The on-disk dataset format: TFRecord shards of `tf.train.SequenceExample`.

The keys are those of the TF Model Garden video readers, so datasets prepared for it load
here and the reverse:

- context `clip/label/index` (int64), `clip/label/text` (bytes), `clip/media_id` (bytes)
- feature list `image/encoded`: one JPEG per stored frame

Beside the shards a dataset directory holds `dataset.json` (class names, counts per split,
frame step, frame size, source) and `failures.jsonl` (every video that could not be read).
Shards are written under a temporary name and renamed when complete, so a shard that exists
under its final name is always whole.
"""

import io
import json
import os
import pathlib

import numpy as np

FRAMES_KEY = "image/encoded"
LABEL_KEY = "clip/label/index"
LABEL_TEXT_KEY = "clip/label/text"
MEDIA_ID_KEY = "clip/media_id"

DATASET_JSON = "dataset.json"
FAILURES_JSONL = "failures.jsonl"
FORMAT_NAME = "kerasrrn-tfrecord-v1"


def encode_jpeg(frame, quality=90):
    """Encodes one `(H, W, 3)` uint8 frame as JPEG bytes."""
    from PIL import Image

    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(
            f"A frame must be uint8 of shape (H, W, 3). Received: dtype={frame.dtype}, "
            f"shape={frame.shape}"
        )
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def make_sequence_example(jpeg_frames, label, label_text, media_id):
    """Serializes one video as a `tf.train.SequenceExample`.

    Args:
        jpeg_frames: list of bytes, one JPEG per stored frame.
        label: int, the class index.
        label_text: str, the class name.
        media_id: str, an identifier unique within the dataset (e.g. the relative path).

    Returns:
        bytes, the serialized example.
    """
    import tensorflow as tf

    def bytes_feature(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    context = tf.train.Features(
        feature={
            LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
            LABEL_TEXT_KEY: bytes_feature(label_text.encode("utf-8")),
            MEDIA_ID_KEY: bytes_feature(media_id.encode("utf-8")),
        }
    )
    frames = tf.train.FeatureList(feature=[bytes_feature(jpeg) for jpeg in jpeg_frames])
    example = tf.train.SequenceExample(
        context=context, feature_lists=tf.train.FeatureLists(feature_list={FRAMES_KEY: frames})
    )
    return example.SerializeToString()


def parse_sequence_example(serialized):
    """Parses one serialized example inside a tf.data pipeline.

    Returns:
        dict with `frames` (tf.string `(N,)`, JPEG bytes), `label` (int64 scalar),
        `label_text` (string scalar) and `media_id` (string scalar).
    """
    import tensorflow as tf

    context, sequence = tf.io.parse_single_sequence_example(
        serialized,
        context_features={
            LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
            LABEL_TEXT_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
            MEDIA_ID_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
        },
        sequence_features={FRAMES_KEY: tf.io.FixedLenSequenceFeature([], tf.string)},
    )
    return {
        "frames": sequence[FRAMES_KEY],
        "label": context[LABEL_KEY],
        "label_text": context[LABEL_TEXT_KEY],
        "media_id": context[MEDIA_ID_KEY],
    }


def shard_filename(split, shard_index, num_shards):
    """The final file name of one shard, e.g. `train-00003-of-00016.tfrecord`."""
    return f"{split}-{shard_index:05d}-of-{num_shards:05d}.tfrecord"


def list_shards(data_dir, split):
    """Sorted paths of the finished shards of `split` in `data_dir`."""
    return sorted(str(path) for path in pathlib.Path(data_dir).glob(f"{split}-*-of-*.tfrecord"))


class ShardWriter:
    """Writes one shard under a temporary name and renames it only when closed cleanly.

    Example:
    >>> with ShardWriter("/data/ucf101/train-00000-of-00004.tfrecord") as writer:
    ...     writer.write(serialized_example)
    """

    def __init__(self, path):
        self.path = str(path)
        self.temporary_path = f"{self.path}.tmp-{os.getpid()}"
        self.num_written = 0
        self._writer = None

    def __enter__(self):
        import tensorflow as tf

        self._writer = tf.io.TFRecordWriter(self.temporary_path)
        return self

    def write(self, serialized):
        self._writer.write(serialized)
        self.num_written += 1

    def __exit__(self, exc_type, exc, traceback):
        self._writer.close()
        if exc_type is None:
            os.replace(self.temporary_path, self.path)
        else:
            os.remove(self.temporary_path)
        return False


def write_dataset_info(data_dir, info):
    """Writes `dataset.json` atomically. `info` needs at least `class_names` and `splits`."""
    missing = {"class_names", "splits"} - set(info)
    if missing:
        raise ValueError(f"dataset info lacks the keys {sorted(missing)}")
    path = pathlib.Path(data_dir) / DATASET_JSON
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps({"format": FORMAT_NAME, **info}, indent=2) + "\n")
    os.replace(temporary, path)


def read_dataset_info(data_dir):
    """Reads `dataset.json`, with a clear error when `data_dir` holds no prepared dataset."""
    path = pathlib.Path(data_dir) / DATASET_JSON
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: {data_dir} is not a prepared dataset "
            "(run `python -m pipelines.prepare` first)"
        )
    info = json.loads(path.read_text())
    if "class_names" not in info or "splits" not in info:
        raise ValueError(f"{path} is not a kerasrrn dataset description (needs class_names, splits)")
    return info


def append_failures(data_dir, failures):
    """Appends failure records (dicts with at least `path` and `reason`) to `failures.jsonl`."""
    path = pathlib.Path(data_dir) / FAILURES_JSONL
    with open(path, "a") as stream:
        for failure in failures:
            stream.write(json.dumps(failure) + "\n")
