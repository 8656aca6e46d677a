"""tf.data input pipelines over prepared TFRecord datasets (`pipelines.records`).

`build_dataset` gives what `model.fit` consumes. Training: batches of random clips
`(B, T, H, W, 3)`, uint8 frames as stored (every clip of a batch has the same frame size), and
sparse labels `(B,)`; the models crop, flip and jitter them themselves, on the accelerator
(`kerasrrn.layers.ClipCrop`, `ClipColorJitter`): on a CPU the resized crop and the jitter each
cost half to all of the JPEG decoding, so the pipeline only decodes. Evaluation: the centre
views `(B, T, S, S, 3)` (float32). `build_eval_dataset` gives every test view (clip x crop) of
every video with the video's id, for video-level (multi-clip) evaluation. Only the sampled
frames are JPEG-decoded.
"""

import collections
import functools
import os
import sys

import tensorflow as tf

from pipelines import clips, records
from pipelines.sampling import ClipSpec  # noqa: F401  (the spec every function here takes)

# Parsed splits smaller than this are cached in memory after the first epoch.
CACHE_LIMIT_BYTES = 1 << 30
# Starts the message of the error a label outside the dataset's classes raises when read.
LABEL_ERROR = "a label outside the classes"


def resolve_split(data_dir, split):
    """Returns `split`, or `test` when `split` is `validation` and the dataset has none.

    Raises:
        ValueError naming the dataset and its splits when the split does not exist, or when the
        directory holds only one machine's part of a multi-machine prepare.
    """
    info = records.read_dataset_info(data_dir)
    if "part" in info:
        raise ValueError(
            f"{data_dir} is part {info['part']['shard_index']} of a {info['part']['num_shards']}-machine "
            "prepare: combine the parts first with `python -m pipelines.prepare merge`"
        )
    available = info["splits"]
    if split in available and records.split_shards(data_dir, split)[0]:
        return split
    if split == "validation" and "test" in available:
        return "test"
    raise ValueError(
        f"{data_dir} has no split {split!r} (it has: {', '.join(sorted(available))})"
    )


def _indexed_records(shards, compression, shuffle, deterministic):
    """(shard file name, index in the shard, serialized example) of every record of `shards`
    (`compression`: "" or "GZIP"), interleaved (the shards shuffled when `shuffle`)."""
    files = tf.data.Dataset.from_tensor_slices(shards)
    if shuffle:
        files = files.shuffle(len(shards), reshuffle_each_iteration=True)

    def indexed(shard):
        name = tf.strings.regex_replace(shard, r"^.*/", "")
        return tf.data.TFRecordDataset(shard, compression).enumerate().map(lambda index, record: (name, index, record))

    return files.interleave(
        indexed,
        cycle_length=min(len(shards), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic or not shuffle,
    )


def media_id_or_place(media_id, shard_name, index):
    """`media_id`, or `<shard file name>:<index>` where it is "" (the key is optional in the TF
    Model Garden format), so that no two records of a split share an id by lacking one."""
    place = tf.strings.join([shard_name, tf.strings.as_string(index)], ":")
    return tf.where(tf.equal(media_id, ""), place, media_id)


def read_records(data_dir, split, shuffle, deterministic):
    """Parsed examples of a split (`records.parse_sequence_example` dicts, a missing media id
    replaced as in `media_id_or_place`), interleaved over its shards (shuffled when `shuffle`),
    cached in memory when the split is small."""
    shards, compression = records.split_shards(data_dir, split)
    if not shards:
        raise ValueError(f"{data_dir}: no shards for split {split!r}")

    num_classes = len(records.read_dataset_info(data_dir)["class_names"])
    # No quotes: TensorFlow escapes them in the error it raises.
    where = (f"{LABEL_ERROR} in {data_dir}, split {split}: dataset.json lists {num_classes}, "
             f"expected labels 0..{num_classes - 1}")

    def parse(shard_name, index, serialized):
        example = checked_label(records.parse_sequence_example(serialized), num_classes, where)
        return {**example, "media_id": media_id_or_place(example["media_id"], shard_name, index)}

    dataset = _indexed_records(shards, compression, shuffle, deterministic)
    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if sum(tf.io.gfile.stat(shard).length for shard in shards) < CACHE_LIMIT_BYTES:
        dataset = dataset.cache()
    return dataset


def check_media_ids(data_dir, split):
    """Reads the media ids of `split` (contexts only, not frames) and refuses ids that several
    records share: video-level evaluation averages the views of each id, so they would be
    scored as one video. Prints once per split how many records have no id.

    Raises:
        ValueError, one line naming the split and some of the shared ids.
    """
    _check_media_ids(str(data_dir), split)


@functools.lru_cache(maxsize=None)
def _check_media_ids(data_dir, split):
    """`check_media_ids`, read once per process and split (fuse and the tuner build the same
    split for several models); a refusal raises again each time, as it is not cached."""
    shards, compression = records.split_shards(data_dir, split)

    def media_id(shard_name, index, serialized):
        stored = records.parse_media_id(serialized)
        return media_id_or_place(stored, shard_name, index), tf.equal(stored, "")

    ids, num_missing = [], 0
    dataset = _indexed_records(shards, compression, shuffle=False, deterministic=True)
    for batch_ids, batch_missing in dataset.map(media_id, num_parallel_calls=tf.data.AUTOTUNE).batch(4096):
        ids.extend(batch_ids.numpy())
        num_missing += int(tf.math.count_nonzero(batch_missing))
    if num_missing:
        print(
            f"warning: {num_missing} records in split {split} of {data_dir} have no clip/media_id; "
            "using <shard>:<index>",
            file=sys.stderr,
        )
    counts = collections.Counter(ids)
    shared = sorted(media_id.decode("utf-8", "replace") for media_id, count in counts.items() if count > 1)
    if shared:
        raise ValueError(
            f"{data_dir}: split {split!r} has {len(shared)} clip/media_id values shared by several records "
            f"({', '.join(shared[:3])}{', ...' if len(shared) > 3 else ''}): each video needs its own id"
        )


def check_counts(data_dir, split):
    """Counts the records of `split`'s shards (`records.count_records`: headers only) and
    refuses a count that differs from `dataset.json`'s: the count sets the steps of a
    training epoch and the length of an evaluation pass, so a wrong one would silently
    change both.

    Raises:
        `records.DatasetError`, one line naming `dataset.json` or the shard.
    """
    _check_counts(str(data_dir), split)


@functools.lru_cache(maxsize=None)
def _check_counts(data_dir, split):
    """`check_counts`, read once per process and split, like `_check_media_ids`."""
    shards, compression = records.split_shards(data_dir, split)
    if compression:
        # GZIP shards are indexed where they are (`pipelines.tfrecord_index`), which counts
        # their records by reading them and indexes again when a file changes.
        return
    counts = {os.path.basename(shard): records.count_records(shard) for shard in shards}
    listed = records.read_dataset_info(data_dir)["splits"][split]["videos"]
    if sum(counts.values()) != listed:
        held = ", ".join(f"{name}: {count}" for name, count in counts.items())
        raise records.DatasetError(
            f"{os.path.join(data_dir, records.DATASET_JSON)}: split {split} lists {listed} videos, "
            f"its shards hold {sum(counts.values())} records ({held}); expected the same count "
            "(re-run `python -m pipelines.prepare` or correct the file)"
        )


def data_error(error, data_dir, splits):
    """The one-line message of a `tf.errors.OpError` that reading `splits` of `data_dir` raised:
    a label outside the classes (`label_error`), or a record that is garbled (checksum) or holds
    an undecodable JPEG frame, located by `locate_bad_record`. None for any other error."""
    line = label_error(error)
    if line is None and (
        isinstance(error, tf.errors.DataLossError)
        or isinstance(error, tf.errors.InvalidArgumentError) and "DecodeJpeg" in str(error)
    ):
        reason = str(error).split("}}")[-1].strip().splitlines()[0].split(" [Op:")[0]
        line = locate_bad_record(data_dir, splits) or (
            f"{data_dir}: unreadable data in split {' or '.join(splits)} ({reason})"
        )
    return line


def locate_bad_record(data_dir, splits):
    """The first record of `splits` that cannot be read, as one line naming its shard file,
    its index and what was expected; None where every record reads. Reads every record and
    decodes every frame (the whole split, once: for an error already raised).
    """
    for split in splits:
        shards, compression = records.split_shards(data_dir, split)
        for shard in shards:
            try:
                # GZIP framing is checked by zlib as it reads: count what reads.
                num_records = (sum(1 for _ in tf.data.TFRecordDataset(shard, compression).ignore_errors())
                               if compression else records.count_records(shard, check_data=True))
            except records.DatasetError as error:
                return str(error)
            decodable = tf.data.TFRecordDataset(shard, compression).enumerate().map(
                lambda index, serialized: (index, _all_frames_decode(serialized)),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
            ).ignore_errors()
            read = {int(index) for index, _ in decodable}
            missing = sorted(set(range(num_records)) - read)
            if missing:
                serialized = next(iter(tf.data.TFRecordDataset(shard, compression).skip(missing[0]).take(1)))
                media_id = records.parse_media_id(serialized).numpy().decode("utf-8", "replace")
                return (f"{shard}: record {missing[0]} (media id {media_id or 'none'}): a frame is not a "
                        f"decodable JPEG (expected one JPEG per frame in {records.FRAMES_KEY})")
    return None


def _all_frames_decode(serialized):
    """Decodes every frame of one serialized example, one after the other, raising on the first
    bad one (libjpeg prints a line to stderr for each frame it fails on)."""
    frames = records.parse_sequence_example(serialized)["frames"]
    return tf.reduce_sum(tf.map_fn(
        lambda jpeg: tf.size(tf.io.decode_jpeg(jpeg, channels=3)), frames, fn_output_signature=tf.int32,
        parallel_iterations=1,
    ))


def checked_label(example, num_classes, message):
    """`example` (a parsed dict) once its label is asserted to lie in `[0, num_classes)`: an
    out-of-range label would otherwise train silently as an all-zero target."""
    label = example["label"]
    checks = [
        tf.debugging.assert_non_negative(label, message=message),
        tf.debugging.assert_less(label, tf.constant(num_classes, label.dtype), message=message),
    ]
    with tf.control_dependencies(checks):
        return dict(example, label=tf.identity(label))


def label_error(error):
    """The one-line message of a `tf.errors.InvalidArgumentError` raised by `checked_label`,
    None for any other error."""
    text = str(error)
    start = text.find(LABEL_ERROR)
    if start < 0:
        return None
    return text[start:].splitlines()[0].split("]")[0].strip()


def _options(deterministic):
    options = tf.data.Options()
    options.deterministic = deterministic
    return options


def train_clip(example, spec):
    """One random training clip of a parsed example, decoded, not cropped (the model crops).

    Returns:
        (uint8 `(T, H, W, 3)` frames at their stored size, int32 label).
    """
    indices = clips.random_clip_indices(
        tf.shape(example["frames"])[0], spec.clip_length, spec.frame_step, spec.short_video
    )
    return clips.decode_frames(example["frames"], indices), tf.cast(example["label"], tf.int32)


def batch_by_frame_size(dataset, batch_size):
    """Full batches of clips `(B, T, H, W, 3)` whose frames share one size: clips of other sizes
    wait for a batch of their own (datasets prepared with `--short-side` mostly have one)."""
    def frame_size_key(clip, label):
        shape = tf.shape(clip, out_type=tf.int64)
        return shape[1] * (1 << 32) + shape[2]

    return dataset.group_by_window(
        frame_size_key, lambda key, clips: clips.batch(batch_size, drop_remainder=True), window_size=batch_size
    )


def test_clip_indices(num_frames, spec):
    """Frame indices `(num_test_clips, T)` of a video's evenly spaced test clips."""
    return clips.even_clip_indices(
        num_frames, spec.clip_length, spec.frame_step, spec.num_test_clips, spec.short_video
    )


def video_views(frames, spec):
    """Every test view of one decoded video, as `eval_views` takes them from stored frames.

    Args:
        frames: uint8 tensor `(N, H, W, 3)`, `N >= 1`.
        spec: `ClipSpec`.

    Returns:
        float32 tensor `(V, T, S, S, 3)`, `V = spec.views_per_video`.
    """
    indices = test_clip_indices(tf.shape(frames)[0], spec)
    selected = tf.gather(frames, tf.reshape(indices, [-1]))
    return clips.crop_views(selected, spec.clip_length, spec.image_size, spec.three_crop)


def eval_views(example, spec):
    """Every test view of one parsed example: `num_test_clips` evenly spaced clips, each as one
    centre crop or three crops. Only the selected frames are decoded.

    Returns:
        (float32 `(V, T, S, S, 3)`, int32 labels `(V,)`, string media ids `(V,)`) with
        `V = spec.views_per_video`.
    """
    indices = test_clip_indices(tf.shape(example["frames"])[0], spec)
    decoded = clips.decode_frames(example["frames"], tf.reshape(indices, [-1]))
    views = clips.crop_views(decoded, spec.clip_length, spec.image_size, spec.three_crop)
    count = tf.shape(views)[0]
    labels = tf.fill([count], tf.cast(example["label"], tf.int32))
    media_ids = tf.fill([count], example["media_id"])
    return views, labels, media_ids


def build_dataset(data_dir, split, spec, batch_size, training):
    """The dataset `model.fit` and `model.evaluate` consume.

    Args:
        data_dir: str, a prepared dataset directory.
        split: str, e.g. `train`, `validation`, `test`.
        spec: `ClipSpec`.
        batch_size: int, clips per batch.
        training: bool. True: shuffled, one random clip per video (`train_clip`), full
            batches of one frame size (`batch_by_frame_size`). False: the centre view(s) of
            each video in file order, as in `eval_views`.

    Returns:
        `tf.data.Dataset` of (pixel values, int32 `(B,)`): training, uint8 `(B, T, H, W, 3)`;
        evaluation, float32 `(B, T, S, S, 3)`.
    """
    dataset = read_records(data_dir, split, shuffle=training, deterministic=spec.deterministic)
    if training:
        dataset = dataset.shuffle(spec.shuffle_buffer, reshuffle_each_iteration=True)
        dataset = dataset.map(lambda example: train_clip(example, spec), num_parallel_calls=tf.data.AUTOTUNE)
        dataset = batch_by_frame_size(dataset, batch_size)
    else:
        dataset = dataset.map(lambda example: eval_views(example, spec)[:2], num_parallel_calls=tf.data.AUTOTUNE)
        dataset = _known_batches(dataset.unbatch().batch(batch_size), data_dir, split, spec, batch_size)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(_options(spec.deterministic or not training))


def build_eval_dataset(data_dir, split, spec, batch_size):
    """Every view of every video with its id, in file order, for video-level evaluation.

    Raises:
        ValueError where records of the split share an id (`check_media_ids`).

    Returns:
        `tf.data.Dataset` of (float32 `(B, T, S, S, 3)`, int32 labels `(B,)`, string ids `(B,)`).
    """
    check_media_ids(data_dir, split)
    dataset = read_records(data_dir, split, shuffle=False, deterministic=True)
    dataset = dataset.map(lambda example: eval_views(example, spec), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = _known_batches(dataset.unbatch().batch(batch_size), data_dir, split, spec, batch_size)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(_options(True))


def _known_batches(dataset, data_dir, split, spec, batch_size):
    """Declares the number of evaluation batches (from `dataset.json`), so that Keras knows
    where an evaluation pass ends instead of running into the end of the data."""
    videos = records.read_dataset_info(data_dir)["splits"][split]["videos"]
    return dataset.apply(tf.data.experimental.assert_cardinality(-(-videos * spec.views_per_video // batch_size)))
