"""tf.data input pipelines over prepared TFRecord datasets (`pipelines.records`).

`build_dataset` gives what `model.fit` consumes: batches of clips `(B, T, S, S, 3)`, RGB pixel
values in [0, 255] (uint8 for training clips cut with `train_crop="random"`, else float32),
and sparse labels `(B,)`. Colour jitter is not done here but in the model
(`kerasrrn.layers.ClipColorJitter`): on a CPU it cost as much as the JPEG decoding.
`build_eval_dataset` gives every test view (clip x crop) of every video with the video's id,
for video-level (multi-clip) evaluation. Only the sampled frames are JPEG-decoded.
"""

import dataclasses
import os

import tensorflow as tf

from pipelines import clips, records

# Parsed splits smaller than this are cached in memory after the first epoch.
CACHE_LIMIT_BYTES = 1 << 30


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """How clips are taken from videos and shaped (the data part of a run config).

    Attributes mirror `kerasrrn.config.DataConfig` of the same names.
    """

    clip_length: int = 8
    frame_step: int = 1
    image_size: int = 64
    num_test_clips: int = 1
    three_crop: bool = False
    flip: bool = False
    train_crop: str = "random_resized"
    min_crop_scale: float = 0.6
    short_video: str = "loop"
    shuffle_buffer: int = 512
    deterministic: bool = False

    @property
    def crops_per_clip(self):
        return 3 if self.three_crop else 1

    @property
    def views_per_video(self):
        """Test views of one video: clips x crops."""
        return self.num_test_clips * self.crops_per_clip

    @classmethod
    def from_config(cls, data_config):
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{name: getattr(data_config, name) for name in names})


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
    if split in available and records.list_shards(data_dir, split):
        return split
    if split == "validation" and "test" in available:
        return "test"
    raise ValueError(
        f"{data_dir} has no split {split!r} (it has: {', '.join(sorted(available))})"
    )


def read_records(data_dir, split, shuffle, deterministic):
    """Parsed examples of a split (`records.parse_sequence_example` dicts), interleaved over its
    shards (shuffled when `shuffle`), cached in memory when the split is small."""
    shards = records.list_shards(data_dir, split)
    if not shards:
        raise ValueError(f"{data_dir}: no shards for split {split!r}")
    files = tf.data.Dataset.from_tensor_slices(shards)
    if shuffle:
        files = files.shuffle(len(shards), reshuffle_each_iteration=True)
    dataset = files.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(shards), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic or not shuffle,
    )
    dataset = dataset.map(records.parse_sequence_example, num_parallel_calls=tf.data.AUTOTUNE)
    if sum(os.path.getsize(shard) for shard in shards) < CACHE_LIMIT_BYTES:
        dataset = dataset.cache()
    return dataset


def _options(deterministic):
    options = tf.data.Options()
    options.deterministic = deterministic
    return options


def train_clip(example, spec):
    """One augmented training clip from a parsed example.

    Returns:
        (`(T, S, S, 3)` pixel values, int32 label): uint8 with `train_crop="random"` (a slice
        of the decoded frames), float32 with `"random_resized"`.
    """
    indices = clips.random_clip_indices(
        tf.shape(example["frames"])[0], spec.clip_length, spec.frame_step, spec.short_video
    )
    clip = clips.decode_frames(example["frames"], indices)
    if spec.train_crop == "random":
        clip = clips.random_crop(clip, spec.image_size)
    else:
        clip = clips.random_resized_crop(clip, spec.image_size, spec.min_crop_scale)
    if spec.flip:
        clip = clips.random_flip(clip)
    return clip, tf.cast(example["label"], tf.int32)


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
        training: bool. True: shuffled, one random augmented clip per video, full batches
            only. False: the centre view(s) of each video in file order, as in `eval_views`.

    Returns:
        `tf.data.Dataset` of (`(B, T, S, S, 3)` pixel values, int32 `(B,)`); the clips are
        float32, or uint8 when `train_clip` gives uint8.
    """
    if spec.train_crop not in clips.TRAIN_CROPS:
        raise ValueError(f"train_crop must be one of {clips.TRAIN_CROPS}. Received: {spec.train_crop!r}")
    dataset = read_records(data_dir, split, shuffle=training, deterministic=spec.deterministic)
    if training:
        dataset = dataset.shuffle(spec.shuffle_buffer, reshuffle_each_iteration=True)
        dataset = dataset.map(lambda example: train_clip(example, spec), num_parallel_calls=tf.data.AUTOTUNE)
        dataset = dataset.batch(batch_size, drop_remainder=True)
    else:
        dataset = dataset.map(lambda example: eval_views(example, spec)[:2], num_parallel_calls=tf.data.AUTOTUNE)
        dataset = _known_batches(dataset.unbatch().batch(batch_size), data_dir, split, spec, batch_size)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(_options(spec.deterministic or not training))


def build_eval_dataset(data_dir, split, spec, batch_size):
    """Every view of every video with its id, in file order, for video-level evaluation.

    Returns:
        `tf.data.Dataset` of (float32 `(B, T, S, S, 3)`, int32 labels `(B,)`, string ids `(B,)`).
    """
    dataset = read_records(data_dir, split, shuffle=False, deterministic=True)
    dataset = dataset.map(lambda example: eval_views(example, spec), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = _known_batches(dataset.unbatch().batch(batch_size), data_dir, split, spec, batch_size)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(_options(True))


def _known_batches(dataset, data_dir, split, spec, batch_size):
    """Declares the number of evaluation batches (from `dataset.json`), so that Keras knows
    where an evaluation pass ends instead of running into the end of the data."""
    videos = records.read_dataset_info(data_dir)["splits"][split]["videos"]
    return dataset.apply(tf.data.experimental.assert_cardinality(-(-videos * spec.views_per_video // batch_size)))
