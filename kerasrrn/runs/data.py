"""The dataset side of a run: the prepared dataset it reads and its tf.data pipelines."""

import dataclasses
import pathlib

from kerasrrn.evaluation import views
from pipelines import records, tfrecord_index
from pipelines.dataset import (
    ClipSpec, build_dataset, build_eval_dataset, check_counts, check_media_ids, resolve_split,
)
from pipelines.sources import synthetic


@dataclasses.dataclass
class RunData:
    """A prepared dataset, read with one `ClipSpec`.

    Attributes:
        path: pathlib.Path, the dataset directory.
        info: dict, its `dataset.json`.
        spec: `pipelines.dataset.ClipSpec`.
        train_split, val_split: str or None, resolved (`validation` falls back to `test`);
            None where the caller trains or validates on nothing (evaluation, prediction).
    """

    path: pathlib.Path
    info: dict
    spec: ClipSpec
    train_split: str = None
    val_split: str = None

    @classmethod
    def open(cls, path, spec, train_split=None, val_split=None):
        """Reads `path/dataset.json` and resolves the splits that are given; their record
        counts (`check_counts`) and the validation split's media ids (`check_media_ids`) are
        checked now, not after training.

        Raises:
            FileNotFoundError or ValueError, one line naming the dataset or the split;
            `pipelines.records.DatasetError` (a ValueError) naming the shard or `dataset.json`
            of a damaged dataset.
        """
        path = pathlib.Path(path)
        info = records.read_dataset_info(path)
        resolved = [resolve_split(path, split) if split else None for split in (train_split, val_split)]
        for split in filter(None, resolved):
            check_counts(path, split)
        if resolved[1]:
            check_media_ids(path, resolved[1])
        return cls(path, info, spec, *resolved)

    @property
    def class_names(self):
        return list(self.info["class_names"])

    @property
    def stored_frame_step(self):
        """The frame step the dataset was prepared with (1 when not recorded)."""
        return self.info.get("frame_step", 1)

    @property
    def stored_short_side(self):
        """The shorter side frames were stored at (0: kept as decoded)."""
        return self.info.get("short_side", 0)

    def videos(self, split):
        return self.info["splits"][split]["videos"]

    def num_shards(self, split):
        return len(records.split_shards(self.path, split)[0])

    def num_views(self, split):
        """Test views of `split`: videos x clips per video x crops per clip."""
        return self.videos(split) * self.spec.views_per_video

    def train_dataset(self, batch_size):
        return build_dataset(self.path, self.train_split, self.spec, batch_size, training=True)

    def steps_per_epoch(self, batch_size, configured=0):
        """`configured` steps, or one pass over the training videos (full batches only)."""
        return configured or self.videos(self.train_split) // batch_size

    def val_dataset(self, batch_size):
        """The validation `fit` logs after every epoch: the centre clip of every validation
        video, one crop (cheaper than the multi-clip evaluation of `eval_dataset`)."""
        spec = dataclasses.replace(self.spec, num_test_clips=1, three_crop=False)
        return build_dataset(self.path, self.val_split, spec, batch_size, training=False)

    def predict_views(self, model, split, batch_size, verbose=1):
        """`kerasrrn.evaluation.views.predict_views` over every test view of `split`, with a
        progress bar of known length.

        Returns:
            (video ids `(V,)`, labels `(V,)`, probabilities `(V, C)`) per view.
        """
        split = resolve_split(self.path, split)
        return views.predict_views(model, self.eval_dataset(split, batch_size), verbose, self.num_views(split))

    def eval_dataset(self, split, batch_size):
        """All test views with video ids, for video-level multi-clip evaluation."""
        return build_eval_dataset(self.path, resolve_split(self.path, split), self.spec, batch_size)


def index_tfrecord_source(config):
    """Indexes the shards of a `tfrecord` source into `config.data_path`
    (`pipelines.tfrecord_index.ensure_index`: read again only when they changed); nothing for
    other sources.

    Raises:
        ValueError, one line naming the split, file or record, where the shards cannot be indexed.
    """
    if config.data.source == "tfrecord":
        tfrecord_index.ensure_index(config.data_path, config.tfrecord_patterns, config.data.label_map or None)


def load_run_data(config):
    """Generates the synthetic dataset on first use or indexes a `tfrecord` source
    (`index_tfrecord_source`), then opens the dataset of `config` (a `kerasrrn.config.Config`)
    with its train and validation splits."""
    path, d = config.data_path, config.data
    if d.source == "synthetic":
        synthetic.write_synthetic_dataset(
            path, d.synthetic_num_classes, d.synthetic_videos_per_class, d.synthetic_frame_size,
            d.synthetic_frames, config.train.seed,
        )
    index_tfrecord_source(config)
    return RunData.open(path, ClipSpec.from_config(config.data), config.data.train_split, config.data.val_split)
