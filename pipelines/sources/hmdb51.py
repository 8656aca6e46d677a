"""HMDB51 in its official layout, listed for one of the three official splits.

Layout under `root` (the official archives extracted there):

    <class>/<video>.avi
    testTrainMulti_7030_splits/<class>_test_split<N>.txt     "<video>.avi 1"

The class folders may also lie in `hmdb51_org/`, and mmaction2 keeps them as `videos/<class>/`
with the split files in `annotations/`; `--videos` and `--splits` name the two folders where
they lie elsewhere.

In a split file 1 marks a training video, 2 a test video and 0 a video unused in that split.
Classes are the sorted class names of the split files; labels index them. A listed video that
does not exist is reported in `SourceListing.problems`; a malformed line is an error naming the
split file and line.
"""

import pathlib
import re

from pipelines.sources import SourceListing, VideoItem
from pipelines.sources.layouts import find_layout, none_found
from pipelines.sources.ucf101 import listed_but_missing

SPLITS_DIR = "testTrainMulti_7030_splits"
# (videos, split files) under ROOT, most specific first: ROOT itself holds the class folders in
# the official layout, so it comes last.
LAYOUTS = [("hmdb51_org", SPLITS_DIR), ("videos", "annotations"), (".", SPLITS_DIR)]
SPLIT_OF_MARK = {"1": "train", "2": "test"}


def list_hmdb51(root, split=1, videos=None, splits=None):
    """Lists HMDB51 for one official split.

    Args:
        root: str or path-like, the folder holding the class folders (or `hmdb51_org/` holding
            them) and `testTrainMulti_7030_splits/`, or mmaction2's `videos/` and `annotations/`.
        split: int, 1, 2 or 3.
        videos, splits: str or None, the class folders' and the split files' folders where
            they lie elsewhere (`--videos`, `--splits`).

    Returns:
        `SourceListing` with the classes of the split files and splits `train` and `test`.

    Raises:
        FileNotFoundError, one line, where the split files are missing or none of the listed
        videos exists.
    """
    if split not in (1, 2, 3):
        raise ValueError(f"HMDB51 has the official splits 1, 2 and 3. Received: split={split}")
    videos_dir, splits_dir = find_layout(root, LAYOUTS, videos, splits)
    pattern = re.compile(rf"(.+)_test_split{split}\.txt")
    split_files = {
        match.group(1): path
        for path in sorted(splits_dir.glob(f"*_test_split{split}.txt"))
        if (match := pattern.fullmatch(path.name))
    }
    if not split_files:
        raise FileNotFoundError(
            f"no *_test_split{split}.txt in {splits_dir}: expected the extracted official "
            "test_train_splits.rar"
        )
    class_names = sorted(split_files)
    splits, problems = {"train": [], "test": []}, []
    for label, class_name in enumerate(class_names):
        split_file = split_files[class_name]
        for number, line in enumerate(split_file.read_text().splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise ValueError(
                    f"{split_file}:{number}: expected '<video>.avi <0|1|2>', found {line.strip()!r}"
                )
            if fields[1] == "0":
                continue
            video = videos_dir / class_name / fields[0]
            if not video.is_file():
                problems.append(listed_but_missing(video, split_file, number))
                continue
            media_id = f"{class_name}/{video.stem}"
            splits[SPLIT_OF_MARK[fields[1]]].append(
                VideoItem(media_id=media_id, label=label, path=str(video))
            )
    if problems and not any(splits.values()):
        raise none_found(videos_dir, [problem["path"] for problem in problems])
    return SourceListing(class_names=class_names, splits=splits, problems=problems)
