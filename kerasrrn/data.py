"""The data side of a run: make sure the dataset exists, then build its tf.data pipelines."""

import dataclasses

from pipelines import records
from pipelines.dataset import ClipSpec, build_dataset, build_eval_dataset, resolve_split
from pipelines.sources import synthetic


@dataclasses.dataclass
class RunData:
    """The prepared dataset a run uses.

    Attributes:
        path: pathlib.Path, the dataset directory.
        class_names: list of str.
        spec: `pipelines.dataset.ClipSpec`.
        train_split: str; val_split: str (resolved: `validation` falls back to `test`).
    """

    path: object
    class_names: list
    spec: ClipSpec
    train_split: str
    val_split: str

    def videos(self, split):
        return records.read_dataset_info(self.path)["splits"][split]["videos"]

    def num_shards(self, split):
        return len(records.list_shards(self.path, split))

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
        """`kerasrrn.evaluation.predict_views` over every test view of `split`, with a progress
        bar of known length.

        Returns:
            (video ids `(V,)`, labels `(V,)`, probabilities `(V, C)`) per view.
        """
        from kerasrrn import evaluation

        split = resolve_split(self.path, split)
        return evaluation.predict_views(
            model, self.eval_dataset(split, batch_size), verbose, self.num_views(split)
        )

    def eval_dataset(self, split, batch_size):
        """All test views with video ids, for video-level multi-clip evaluation."""
        return build_eval_dataset(self.path, resolve_split(self.path, split), self.spec, batch_size)


def load_run_data(config):
    """Generates the synthetic dataset on first use, then describes the dataset of `config`."""
    path = config.data_path
    if config.data.source == "synthetic":
        d = config.data
        synthetic.write_synthetic_dataset(
            path, d.synthetic_num_classes, d.synthetic_videos_per_class, d.synthetic_frame_size,
            d.synthetic_frames, config.train.seed,
        )
    info = records.read_dataset_info(path)
    return RunData(
        path=path,
        class_names=list(info["class_names"]),
        spec=ClipSpec.from_config(config.data),
        train_split=resolve_split(path, config.data.train_split),
        val_split=resolve_split(path, config.data.val_split),
    )
