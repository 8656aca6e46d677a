"""The on-disk dataset format: TFRecord shards of `tf.train.SequenceExample`.

The keys are those of the TF Model Garden video readers, so datasets prepared for it load
here and the reverse:

- context `clip/label/index` (int64), `clip/label/text` (bytes), `clip/media_id` (bytes)
- feature list `image/encoded`: one JPEG per stored frame

Beside the shards a dataset directory holds `dataset.json` (class names, counts per split,
frame step, frame size, source) and `failures.jsonl` (every video that could not be read).
Shards are written under a temporary name and renamed when complete, so a shard that exists
under its final name is always whole. Writing (`make_sequence_example`, `ShardWriter`) is pure
Python and never imports TensorFlow, so `python -m pipelines.prepare` runs without it; reading
(`parse_sequence_example`) is a tf.data op; `count_records` checks a shard's framing (truncated
or garbled records) in pure Python.
"""

import io
import json
import os
import pathlib
import struct

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
    # PIL only where frames are encoded (prepare's workers), not for readers of shards.
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
    """Serializes one video as a `tf.train.SequenceExample`, without TensorFlow.

    The protobuf wire format is written by hand (`_field`), so the prepare workers and the main
    process that writes the shards need not import TensorFlow. Map entries are in key order, as
    `SerializeToString(deterministic=True)` writes them.

    Args:
        jpeg_frames: list of bytes, one JPEG per stored frame.
        label: int >= 0, the class index.
        label_text: str, the class name.
        media_id: str, an identifier unique within the dataset (e.g. the relative path).

    Returns:
        bytes, the serialized example.
    """
    context = [  # Features{map<string, Feature> feature = 1}
        *_map_entry(LABEL_KEY, _field(3, _field(1, [_varint(_int64(label, "label"))]))),
        *_map_entry(LABEL_TEXT_KEY, _bytes_feature(label_text.encode("utf-8"))),
        *_map_entry(MEDIA_ID_KEY, _bytes_feature(media_id.encode("utf-8"))),
    ]
    frames = [part for jpeg in jpeg_frames for part in _field(1, _bytes_feature(jpeg))]
    feature_lists = _map_entry(FRAMES_KEY, frames)  # FeatureLists{map<string, FeatureList> = 1}
    return b"".join([*_field(1, context), *_field(2, feature_lists)])


def _varint(value):
    """The protobuf base-128 varint of an int >= 0: 7 bits a byte, low bits first."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _int64(value, name):
    """`value` as an int in [0, 2**63); negative int64s would need the 10-byte form, unused here."""
    value = int(value)
    if not 0 <= value < 2**63:
        raise ValueError(f"{name} must be an integer in [0, 2**63). Received: {name}={value}")
    return value


def _field(number, payload):
    """A length-delimited field (wire type 2) as a list of byte strings: its tag and length,
    then the `payload` parts, which are not copied; the caller joins the parts once."""
    length = sum(len(part) for part in payload)
    return [_varint(number << 3 | 2) + _varint(length), *payload]


def _map_entry(key, value):
    """One entry of a `map<string, Message>` field numbered 1: `{key = 1, value = 2}`."""
    return _field(1, [*_field(1, [key.encode("utf-8")]), *_field(2, value)])


def _bytes_feature(value):
    """`Feature{bytes_list = 1: BytesList{value = 1: [value]}}` as a list of parts."""
    return _field(1, _field(1, [value]))


def parse_sequence_example(serialized):
    """Parses one serialized example inside a tf.data pipeline.

    Returns:
        dict with `frames` (tf.string `(N,)`, JPEG bytes), `label` (int64 scalar),
        `label_text` (string scalar) and `media_id` (string scalar, "" where the example has
        none: `pipelines.dataset.read_records` gives those their place in the split instead).
    """
    # TensorFlow (3.6 s to import) only for readers: `prepare` writes shards without it.
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


def parse_media_id(serialized):
    """The `clip/media_id` of one serialized example inside a tf.data pipeline, without
    copying its frames.

    Returns:
        string scalar, "" for an example without one (the key is optional in the TF Model
        Garden format).
    """
    # As in `parse_sequence_example`: TensorFlow only for readers.
    import tensorflow as tf

    context, _ = tf.io.parse_single_sequence_example(
        serialized, context_features={MEDIA_ID_KEY: tf.io.FixedLenFeature([], tf.string, default_value="")}
    )
    return context[MEDIA_ID_KEY]


def shard_filename(split, shard_index, num_shards):
    """The final file name of one shard, e.g. `train-00003-of-00016.tfrecord`."""
    return f"{split}-{shard_index:05d}-of-{num_shards:05d}.tfrecord"


def list_shards(data_dir, split):
    """Sorted paths of the finished shards of `split` in `data_dir`, named as prepare names them."""
    return sorted(str(path) for path in pathlib.Path(data_dir).glob(f"{split}-*-of-*.tfrecord"))


def split_shards(data_dir, split):
    """The shards of `split` and how they are compressed.

    Returns:
        (list of str paths, str compression: "" or "GZIP"). A `dataset.json` that lists a split's
        `files` (written by `pipelines.tfrecord_index` for shards kept where they are) gives
        those, in its order, with its `compression`; otherwise `list_shards`, uncompressed.
    """
    path = pathlib.Path(data_dir) / DATASET_JSON
    split_info = json.loads(path.read_text()).get("splits", {}).get(split, {}) if path.is_file() else {}
    if "files" in split_info:
        return list(split_info["files"]), split_info.get("compression", "")
    return list_shards(data_dir, split), ""


class ShardWriter:
    """Writes one TFRecord shard under a temporary name and renames it only when closed cleanly.

    The framing of each record is written here, as `tf.io.TFRecordWriter` writes it (uint64
    length, masked CRC32C of the length, the data, masked CRC32C of the data), so writing a
    shard needs no TensorFlow; the CRC32C comes from `google-crc32c`'s C extension.

    Example:
    >>> with ShardWriter("/data/ucf101/train-00000-of-00004.tfrecord") as writer:
    ...     writer.write(serialized_example)
    """

    def __init__(self, path):
        self.path = str(path)
        self.temporary_path = f"{self.path}.tmp-{os.getpid()}"
        self.num_written = 0
        self._stream = None

    def __enter__(self):
        _crc32c_function()  # refuses the slow fallback before anything is written
        self._stream = open(self.temporary_path, "wb")
        return self

    def write(self, serialized):
        length = struct.pack("<Q", len(serialized))
        self._stream.write(length + masked_crc(length))
        self._stream.write(serialized)
        self._stream.write(masked_crc(serialized))
        self.num_written += 1

    def __exit__(self, exc_type, exc, traceback):
        try:
            self._stream.close()
        except OSError:  # e.g. no space left for the last buffered bytes
            os.remove(self.temporary_path)
            raise
        if exc_type is None:
            os.replace(self.temporary_path, self.path)
        else:
            os.remove(self.temporary_path)
        return False


def masked_crc(data):
    """The TFRecord checksum of `data`: its CRC32C, rotated right by 15 bits plus a constant,
    as 4 little-endian bytes."""
    crc = _crc32c_function()(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


class DatasetError(ValueError):
    """A prepared dataset that is damaged or inconsistent (a truncated or garbled shard, a
    `dataset.json` that is not JSON or whose counts are wrong); `str()` is one line naming
    the file and what was expected. Commands exit 1 on it, not 2: no flag is wrong."""

    exit_status = 1


def count_records(path, check_data=False):
    """The number of records in the TFRecord file `path`, checking its framing as
    `ShardWriter` writes it: reads each record's 12-byte header and seeks past its data (a
    split of thousands of videos takes milliseconds); with `check_data` also reads the data
    and checks its checksum.

    Raises:
        DatasetError naming the file, the record index and its byte offset: a file that
        ends inside a record (truncated), a header or data whose checksum does not match
        (garbled).
    """
    size, index = os.path.getsize(path), 0
    with open(path, "rb") as stream:
        while (offset := stream.tell()) < size:
            where = f"{path}: record {index} (byte {offset})"
            header = stream.read(12)
            if len(header) < 12:
                raise DatasetError(f"{where}: truncated, the file ends inside the record's 12-byte header")
            if masked_crc(header[:8]) != header[8:]:
                raise DatasetError(f"{where}: garbled, its length does not match its checksum")
            length = struct.unpack("<Q", header[:8])[0]
            if offset + length + 16 > size:
                raise DatasetError(
                    f"{where}: truncated, expected {length + 16} bytes, the file ends after {size - offset}"
                )
            if check_data:
                data, checksum = stream.read(length), stream.read(4)
                if masked_crc(data) != checksum:
                    raise DatasetError(f"{where}: garbled, its data does not match its checksum")
            else:
                stream.seek(length + 4, os.SEEK_CUR)
            index += 1
    return index


def _crc32c_function():
    """`google_crc32c.value`, refusing the package's pure-Python fallback, which would take
    minutes per GB of shards instead of a fraction of a second."""
    # Only writers frame records (prepare), readers go through TensorFlow.
    import google_crc32c

    if google_crc32c.implementation != "c":
        raise RuntimeError(
            "google-crc32c runs without its C extension (~1000x slower); reinstall it from a "
            "wheel: pip install --force-reinstall --only-binary :all: google-crc32c"
        )
    return google_crc32c.value


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
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(info, dict) or "class_names" not in info or "splits" not in info:
        raise ValueError(f"{path} is not a kerasrrn dataset description (needs class_names, splits)")
    return info


def append_failures(data_dir, failures):
    """Appends failure records (dicts with at least `path` and `reason`) to `failures.jsonl`."""
    path = pathlib.Path(data_dir) / FAILURES_JSONL
    with open(path, "a") as stream:
        for failure in failures:
            stream.write(json.dumps(failure) + "\n")
