"""Tests for `pipelines.records`: the hand-written SequenceExample and TFRecord framing against
TensorFlow's own, and that `python -m pipelines.prepare` never imports TensorFlow."""

import pathlib
import re
import subprocess
import sys

import google_crc32c
import numpy as np
import pytest
import tensorflow as tf

from pipelines import dataset, records
from tests.pipelines.video_fixtures import write_video

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# Sizes around the varint steps (1 byte up to 127, 2 up to 16383, 3 beyond).
RANDOM_FRAMES = [
    np.random.default_rng(size).integers(0, 256, size, np.uint8).tobytes()
    for size in (1, 127, 128, 16383, 16384, 70_000)
]


def tf_sequence_example(jpeg_frames, label, label_text=None, media_id=None):
    """The reference: the same example built from TensorFlow's protobuf classes, as TF Model
    Garden's `tfexample_utils` writes it (`label_text`, `media_id`: None leaves the key out)."""

    def bytes_feature(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    context = {records.LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))}
    for key, text in ((records.LABEL_TEXT_KEY, label_text), (records.MEDIA_ID_KEY, media_id)):
        if text is not None:
            context[key] = bytes_feature(text.encode("utf-8"))
    frames = tf.train.FeatureList(feature=[bytes_feature(jpeg) for jpeg in jpeg_frames])
    return tf.train.SequenceExample(
        context=tf.train.Features(feature=context),
        feature_lists=tf.train.FeatureLists(feature_list={records.FRAMES_KEY: frames}),
    )


@pytest.mark.parametrize(
    "jpeg_frames, label, label_text, media_id",
    [
        ([b"\xff\xd8one frame"], 0, "", ""),
        (RANDOM_FRAMES, 2**63 - 1, "Ünïcødé 跳远", "jump/v_ü_g01_c01"),
        ([b"", b"x", b""], 300, "ApplyEyeMakeup", "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01"),
        ([bytes([index]) * index for index in range(200)], 127, "a" * 200, "m" * 20_000),
        ([], 1, "no frames", "empty"),
    ],
)
def test_make_sequence_example_equals_tensorflows(jpeg_frames, label, label_text, media_id):
    ours = records.make_sequence_example(jpeg_frames, label, label_text, media_id)
    reference = tf_sequence_example(jpeg_frames, label, label_text, media_id)
    assert tf.train.SequenceExample.FromString(ours) == reference
    assert ours == reference.SerializeToString(deterministic=True)


@pytest.mark.parametrize("label", [-1, 2**63])
def test_labels_outside_int64_range_are_refused(label):
    with pytest.raises(ValueError, match=rf"label must be an integer in \[0, 2\*\*63\). Received: label={label}"):
        records.make_sequence_example([b"jpeg"], label, "class", "video")


def example_records():
    """Serialized examples of varied sizes, plus an empty and a raw record."""
    examples = [
        records.make_sequence_example(RANDOM_FRAMES[: index + 1], index, f"class{index}", f"v{index}")
        for index in range(len(RANDOM_FRAMES))
    ]
    return [*examples, b"", b"not an example"]


def test_shard_writer_matches_tfrecordwriter_byte_for_byte(tmp_path):
    serialized = example_records()
    path = tmp_path / records.shard_filename("train", 0, 1)
    with records.ShardWriter(path) as writer:
        for record in serialized:
            writer.write(record)
    assert writer.num_written == len(serialized)
    with tf.io.TFRecordWriter(str(tmp_path / "reference.tfrecord")) as reference:
        for record in serialized:
            reference.write(record)
    assert path.read_bytes() == (tmp_path / "reference.tfrecord").read_bytes()
    assert sorted(file.name for file in tmp_path.iterdir()) == sorted([path.name, "reference.tfrecord"])


def test_a_written_shard_reads_back_through_tf_data(tmp_path):
    videos = [(RANDOM_FRAMES[:3], 0, "jump", "jump/a"), ([b"", b"\xff"], 5, "Ünïcødé", "b")]
    path = tmp_path / records.shard_filename("test", 0, 1)
    with records.ShardWriter(path) as writer:
        for video in videos:
            writer.write(records.make_sequence_example(*video))
    parsed = tf.data.TFRecordDataset(records.list_shards(tmp_path, "test")).map(
        records.parse_sequence_example
    )
    read = [
        (
            list(example["frames"].numpy()),
            int(example["label"]),
            example["label_text"].numpy().decode(),
            example["media_id"].numpy().decode(),
        )
        for example in parsed
    ]
    assert read == videos


def write_tf_shards(data_dir, split, shards):
    """Writes `shards` (lists of `tf_sequence_example` argument tuples) with TensorFlow's own
    writer, as a TF Model Garden user has them, beside a two-class `dataset.json` unless the
    directory has one."""
    if not (data_dir / records.DATASET_JSON).is_file():
        records.write_dataset_info(data_dir, {"class_names": ["run", "jump"],
                                              "splits": {split: {"videos": sum(map(len, shards))}}})
    for shard_index, videos in enumerate(shards):
        path = data_dir / records.shard_filename(split, shard_index, len(shards))
        with tf.io.TFRecordWriter(str(path)) as writer:
            for video in videos:
                writer.write(tf_sequence_example(*video).SerializeToString())


def read_media_ids(data_dir, split):
    examples = dataset.read_records(data_dir, split, shuffle=False, deterministic=True)
    return [example["media_id"].numpy().decode() for example in examples]


def test_records_without_media_id_get_their_place_in_the_split(tmp_path, capsys):
    write_tf_shards(tmp_path, "test", [
        [([b"a"], 0), ([b"b"], 1, "jump"), ([b"c"], 0, None, "kept")],
        [([b"d"], 1), ([b"e"], 0, "run")],
    ])
    first, second = (records.shard_filename("test", index, 2) for index in range(2))
    assert read_media_ids(tmp_path, "test") == [
        f"{first}:0", f"{second}:0", f"{first}:1", f"{second}:1", "kept"
    ]
    dataset.check_media_ids(tmp_path, "test")
    dataset.check_media_ids(tmp_path, "test")
    warning = capsys.readouterr().err
    assert warning == (
        f"warning: 4 records in split test of {tmp_path} have no clip/media_id; using <shard>:<index>\n"
    )


def test_media_ids_shared_by_several_records_are_refused(tmp_path):
    write_tf_shards(tmp_path, "test", [
        [([b"a"], 0, None, "twin"), ([b"b"], 1, None, "other")],
        [([b"c"], 1, None, "twin"), ([b"d"], 0, None, "other"), ([b"e"], 0, None, "single")],
    ])
    with pytest.raises(ValueError) as error:
        dataset.check_media_ids(tmp_path, "test")
    message = str(error.value)
    assert "\n" not in message and "split 'test'" in message and "2 clip/media_id values" in message
    assert "(other, twin)" in message and str(tmp_path) in message


@pytest.mark.parametrize("where", ["length", "length checksum", "data", "data checksum"])
def test_a_corrupted_byte_is_detected_by_tensorflows_reader(tmp_path, where):
    record = records.make_sequence_example(RANDOM_FRAMES[:2], 1, "b", "video")
    path = tmp_path / "shard.tfrecord"
    with records.ShardWriter(path) as writer:
        writer.write(record)
    offset = {"length": 0, "length checksum": 9, "data": 12 + len(record) // 2, "data checksum": -1}
    data = bytearray(path.read_bytes())
    data[offset[where]] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset(str(path)))


def test_shard_writer_renames_only_a_whole_shard(tmp_path):
    path = tmp_path / "train-00000-of-00001.tfrecord"
    with pytest.raises(KeyboardInterrupt):
        with records.ShardWriter(path) as writer:
            writer.write(b"record")
            assert pathlib.Path(writer.temporary_path).is_file() and not path.exists()
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_shard_writer_refuses_the_pure_python_crc32c(tmp_path, monkeypatch):
    monkeypatch.setattr(google_crc32c, "implementation", "python")
    with pytest.raises(RuntimeError, match="without its C extension") as error:
        records.ShardWriter(tmp_path / "shard.tfrecord").__enter__()
    assert "\n" not in str(error.value) and list(tmp_path.iterdir()) == []


def test_prepare_folder_never_imports_tensorflow(tmp_path):
    for class_name in ("jump", "run"):
        write_video(tmp_path / "videos" / class_name / f"v_{class_name}_g01_c01.avi", num_frames=4)
    command = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "pipelines.prepare",
        "folder",
        str(tmp_path / "videos"),
        "--out",
        str(tmp_path / "out"),
        "--workers",
        "2",
        "--short-side",
        "0",
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    # `-X importtime` lines end in the module name; spawned workers inherit the flag.
    imported = re.findall(r"^import time:.*\|\s*(\S+)$", done.stderr, re.MULTILINE)
    assert imported.count("pipelines.records") >= 2, "expected the main process and a worker"
    assert [name for name in imported if name.split(".")[0] == "tensorflow"] == []
    assert records.read_dataset_info(tmp_path / "out")["splits"]["train"]["videos"] == 2
    assert len(list(tf.data.TFRecordDataset(records.list_shards(tmp_path / "out", "train")))) == 2
