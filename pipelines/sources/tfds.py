"""A TensorFlow Datasets video dataset already prepared in a data dir (e.g. `ucf101`).

TFDS stores decoded frames, not files, so this source differs from the others in one way: its
`TfdsListing` knows how many videos each split has, but reads labels and frames only when
`iter_frames` walks a range of a split. `pipelines.prepare` consumes that iterator instead of
decoding files. Nothing is downloaded: a dataset that is not prepared is a clear error.

Example:
>>> listing = list_tfds("ucf101", "~/tensorflow_datasets")
>>> for item, frames in listing.iter_frames("train", 0, 2):
...     print(item.media_id, item.label, frames.shape)     # frames: uint8 (N, H, W, 3)
"""

import dataclasses

from pipelines.sources import SourceListing, VideoItem

UNREAD_LABEL = -1


@dataclasses.dataclass
class TfdsListing(SourceListing):
    """A `SourceListing` whose items are read from TFDS.

    Items in `splits` have `label == UNREAD_LABEL` and `path` `tfds://<name>/<split>[<index>]`;
    `iter_frames` yields them with their real label.

    Attributes:
        name: str, the TFDS dataset name (with config, e.g. `ucf101/ucf101_1_256`).
        data_dir: str, the TFDS data dir.
        video_key: str, the `tfds.features.Video` feature.
        label_key: str, the `tfds.features.ClassLabel` feature.
    """

    name: str = ""
    data_dir: str = ""
    video_key: str = ""
    label_key: str = ""

    def item(self, split, index, label=UNREAD_LABEL):
        """The `VideoItem` of example `index` of `split`."""
        return VideoItem(
            media_id=f"{split}/{index:06d}",
            label=label,
            path=f"tfds://{self.name}/{split}[{index}]",
        )

    def iter_frames(self, split, start, stop):
        """Yields `(VideoItem, frames)` for examples `start..stop-1` of `split`, in order.

        `frames` is the uint8 array `(N, H, W, 3)` TFDS stores for the example.
        """
        # tensorflow-datasets imports TensorFlow (seconds): only the tfds source pays for it.
        import tensorflow_datasets as tfds

        dataset = tfds.load(
            self.name, split=f"{split}[{start}:{stop}]", data_dir=self.data_dir, download=False
        )
        for index, example in enumerate(tfds.as_numpy(dataset), start=start):
            yield self.item(split, index, int(example[self.label_key])), example[self.video_key]


def _feature_key(features, feature_type, name):
    """The single top-level feature of `feature_type`, or an error naming what was found."""
    keys = [key for key, feature in features.items() if isinstance(feature, feature_type)]
    if len(keys) != 1:
        raise ValueError(
            f"TFDS dataset {name}: expected one {feature_type.__name__} feature, found "
            f"{keys or 'none'} among {sorted(features)}"
        )
    return keys[0]


def list_tfds(name, data_dir):
    """Lists a prepared TFDS video dataset.

    Args:
        name: str, e.g. `ucf101` or `ucf101/ucf101_1_256`.
        data_dir: str, the TFDS data dir where it was prepared.

    Returns:
        `TfdsListing` with the dataset's splits and `ClassLabel` names.
    """
    # As above: only the tfds source imports tensorflow-datasets.
    import tensorflow_datasets as tfds

    how = f"prepare it with `tfds build {name} --data_dir {data_dir}`"
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise FileNotFoundError(
            f"TFDS dataset {name!r} is not known to TFDS nor found in {data_dir}"
        ) from error
    if not builder.is_prepared():
        raise FileNotFoundError(f"TFDS dataset {name} is not prepared in {data_dir}: {how}")
    features = builder.info.features
    listing = TfdsListing(
        class_names=[],
        splits={},
        name=name,
        data_dir=str(data_dir),
        video_key=_feature_key(features, tfds.features.Video, name),
        label_key=_feature_key(features, tfds.features.ClassLabel, name),
    )
    listing.class_names = list(features[listing.label_key].names)
    listing.splits = {
        split: [listing.item(split, index) for index in range(info.num_examples)]
        for split, info in sorted(builder.info.splits.items())
    }
    return listing
