"""UCF-101 in its official layout, listed for one of the three official splits.

Layout under `root` (the two official archives extracted side by side):

    UCF-101/<Class>/v_<Class>_gXX_cYY.avi
    ucfTrainTestlist/classInd.txt            "1 ApplyEyeMakeup"   (1-based index, class name)
    ucfTrainTestlist/trainlist0N.txt         "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    ucfTrainTestlist/testlist0N.txt          "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

mmaction2 keeps the same files as `videos/<Class>/*.avi` and `annotations/*.txt`; `--videos`
and `--splits` name the two folders where they lie elsewhere.

Labels are 0-based (`classInd` index - 1). Test lines carry no label: it comes from the class
folder. A listed video that does not exist is reported in `SourceListing.problems`; a class
name or label that contradicts `classInd.txt` is an error naming the split file and line.
"""

import pathlib

from pipelines.sources import SourceListing, VideoItem
from pipelines.sources.layouts import find_layout, none_found

# (videos, split files) under ROOT: the official archives extracted side by side; mmaction2's.
LAYOUTS = [("UCF-101", "ucfTrainTestlist"), ("videos", "annotations")]


def _lines(path):
    """`(line_number, fields)` for the non-empty lines of a whitespace-separated list file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: expected the official UCF-101 split files")
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            yield number, line.split()


def read_class_index(path):
    """Class names from `classInd.txt`, in label order; an error names a malformed line."""
    class_names = []
    for number, fields in _lines(path):
        if len(fields) != 2 or fields[0] != str(len(class_names) + 1):
            raise ValueError(
                f"{path}:{number}: expected '<index> <ClassName>' with index "
                f"{len(class_names) + 1}, found {' '.join(fields)!r}"
            )
        class_names.append(fields[1])
    return class_names


def listed_but_missing(video, list_file, line):
    """The `SourceListing.problems` record of a video a list file names but that is missing."""
    return {
        "path": str(video),
        "reason": f"listed in {list_file}:{line} but not found",
        "line": line,
        "list_file": str(list_file),
    }


def _read_split_file(path, videos_dir, class_names, problems):
    """The `VideoItem`s a train/test list names; missing videos are appended to `problems`."""
    label_of = {name: label for label, name in enumerate(class_names)}
    items = []
    for number, fields in _lines(path):
        relative = fields[0]
        class_name = relative.split("/")[0]
        if class_name not in label_of or "/" not in relative:
            raise ValueError(
                f"{path}:{number}: unknown class {class_name!r} in {relative!r} "
                f"(expected '<Class>/<video>.avi' with a class from classInd.txt)"
            )
        label = label_of[class_name]
        if len(fields) > 1 and fields[1] != str(label + 1):
            raise ValueError(
                f"{path}:{number}: label {fields[1]} contradicts class {class_name!r}, "
                f"which is {label + 1} in classInd.txt"
            )
        video = videos_dir / relative
        if not video.is_file():
            problems.append(listed_but_missing(video, path, number))
            continue
        media_id = relative.rsplit(".", 1)[0]
        items.append(VideoItem(media_id=media_id, label=label, path=str(video)))
    return items


def list_ucf101(root, split=1, videos=None, splits=None):
    """Lists UCF-101 for one official split.

    Args:
        root: str or path-like, the folder holding `UCF-101/` and `ucfTrainTestlist/`, or
            mmaction2's `videos/` and `annotations/`.
        split: int, 1, 2 or 3.
        videos, splits: str or None, the class folders' and the split files' folders where
            they lie elsewhere (`--videos`, `--splits`).

    Returns:
        `SourceListing` with 101 classes (as many as `classInd.txt` names) and splits `train`
        and `test`.

    Raises:
        FileNotFoundError, one line, where the split files are missing or none of the listed
        videos exists.
    """
    if split not in (1, 2, 3):
        raise ValueError(f"UCF-101 has the official splits 1, 2 and 3. Received: split={split}")
    videos_dir, splits_dir = find_layout(root, LAYOUTS, videos, splits)
    if not videos_dir.is_dir():
        raise FileNotFoundError(
            f"{videos_dir} not found: expected the extracted UCF101.rar (or --videos DIR)"
        )
    class_names = read_class_index(splits_dir / "classInd.txt")
    problems = []
    splits = {
        name: _read_split_file(
            splits_dir / f"{name}list0{split}.txt", videos_dir, class_names, problems
        )
        for name in ("train", "test")
    }
    if problems and not any(splits.values()):
        raise none_found(videos_dir, [problem["path"] for problem in problems])
    return SourceListing(class_names=class_names, splits=splits, problems=problems)
