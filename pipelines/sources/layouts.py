"""Where a dataset's videos and split files lie: the official layout or one users often have.

A source names its candidate layouts as `(videos folder, split files folder)` pairs relative to
ROOT, most usual first; `--videos DIR` and `--splits DIR` override the search.
"""

import itertools
import pathlib

# How many of the entries found instead an error names.
SHOWN_ENTRIES = 5


def find_layout(root, candidates, videos=None, splits=None):
    """The videos and split files folders of a dataset.

    Args:
        root: str or path-like, the dataset folder (ROOT).
        candidates: list of (str, str), folders relative to `root`, e.g.
            `[("UCF-101", "ucfTrainTestlist"), ("videos", "annotations")]`.
        videos, splits: str or None, `--videos` and `--splits`; each given one is used as is,
            the other one is searched among `candidates`.

    Returns:
        (pathlib.Path videos folder, pathlib.Path split files folder): the first candidate whose
        two folders exist, or the first candidate where none does.
    """
    root = pathlib.Path(root)
    pairs = [
        (pathlib.Path(videos or root / videos_dir), pathlib.Path(splits or root / splits_dir))
        for videos_dir, splits_dir in candidates
    ]
    return next((pair for pair in pairs if pair[0].is_dir() and pair[1].is_dir()), pairs[0])


def none_found(videos_dir, listed):
    """The one-line FileNotFoundError for a split listing none of whose videos exists.

    Args:
        videos_dir: pathlib.Path, where the videos were looked for.
        listed: list of str, the listed relative paths (at least one).
    """
    found = []
    if videos_dir.is_dir():  # a few hundred entries are enough to name some
        found = sorted(path.name for path in itertools.islice(videos_dir.iterdir(), 200))
    instead = ", ".join(found[:SHOWN_ENTRIES]) + (", ..." if len(found) > SHOWN_ENTRIES else "")
    return FileNotFoundError(
        f"none of the {len(listed)} listed videos is in {videos_dir} (e.g. {listed[0]}); found there "
        f"instead: {instead or 'nothing'} (point --videos at the folder of the class folders)"
    )
