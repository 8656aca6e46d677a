"""Dataset sources: each turns a dataset on disk into labelled video lists per split.

A source returns a `SourceListing`; `pipelines.prepare` decodes the listed videos and writes
them as TFRecord shards (`pipelines.records`). The embedded `synthetic` source generates its
videos instead of listing files.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class VideoItem:
    """One labelled video file.

    Attributes:
        media_id: str, unique within the dataset (e.g. `ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01`).
        label: int, index into the listing's `class_names`.
        path: str, the video file.
    """

    media_id: str
    label: int
    path: str


@dataclasses.dataclass
class SourceListing:
    """What a source found: class names, videos per split, and problems met while listing.

    Attributes:
        class_names: list of str; `class_names[label]` names a label.
        splits: dict of split name (`train`, `validation`, `test`) to a list of `VideoItem`.
        problems: list of dicts (`path`, `reason`, and `line` where a split file named it) for
            entries that could not be listed; `prepare` writes them to `failures.jsonl`.
    """

    class_names: list
    splits: dict
    problems: list = dataclasses.field(default_factory=list)
