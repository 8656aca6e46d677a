"""Any folder of videos with one sub-folder per class, optionally split into train/validation.

Layout: `<root>/<class>/**/<video>.<ext>` with the extensions in `VIDEO_EXTENSIONS`. Classes are
the sorted sub-folder names. With `validation_fraction > 0` whole groups of videos go to
`validation`: videos whose names share a group id (by default UCF-style `_gXX_`, or the first
capture group of `group_pattern`, else the whole match) are clips of one source video, so they
never land on both sides. A video whose name does not match is a group of its own. The choice is
deterministic (a hash of class and group id), stratified per class.
"""

import errno
import hashlib
import os
import pathlib
import re

from pipelines.sources import SourceListing, VideoItem

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v")
UCF_GROUP_PATTERN = r"_(g\d+)_"


def group_id(name, pattern):
    """The group id in a file name: the first capture group of `pattern`, else the name."""
    match = pattern.search(name)
    if match is None:
        return name
    return match.group(1) if pattern.groups else match.group(0)


def _validation_groups(class_name, groups, validation_fraction):
    """The groups of one class that go to validation: `round(fraction * len(groups))` of them,
    at least one and never all when there are two or more, picked by a stable hash."""
    if validation_fraction == 0 or len(groups) < 2:
        return set()
    count = min(max(1, round(validation_fraction * len(groups))), len(groups) - 1)

    def rank(group):
        return hashlib.sha1(f"{class_name}/{group}".encode()).hexdigest()

    return set(sorted(groups, key=rank)[:count])


def list_folder(root, validation_fraction=0.0, group_pattern=UCF_GROUP_PATTERN):
    """Lists a folder of class sub-folders.

    Args:
        root: str or path-like.
        validation_fraction: float in [0, 1), default 0. Share of groups per class held out.
        group_pattern: str, a regular expression finding the group id in a file name.

    Returns:
        `SourceListing` with split `train`, and `validation` when `validation_fraction > 0`.
    """
    if not 0 <= validation_fraction < 1:
        raise ValueError(
            f"Expected 0 <= validation_fraction < 1. Received: validation_fraction={validation_fraction}"
        )
    root = pathlib.Path(root)
    class_dirs = sorted(path for path in root.iterdir() if path.is_dir()) if root.is_dir() else []
    if not class_dirs:
        raise FileNotFoundError(f"{root}: expected a folder with one sub-folder per class")
    try:
        pattern = re.compile(group_pattern)
    except re.error as error:
        raise ValueError(
            f"--group-pattern {group_pattern!r}: expected a regular expression ({error})"
        ) from error
    splits = {"train": []}
    if validation_fraction > 0:
        splits["validation"] = []
    problems = []
    for label, class_dir in enumerate(class_dirs):
        candidates = sorted(
            path for path in class_dir.rglob("*") if path.suffix.lower() in VIDEO_EXTENSIONS
        )
        problems.extend(
            {"path": str(path), "reason": reason}
            for path, reason in ((path, unreadable_link(path)) for path in candidates)
            if reason
        )
        videos = [path for path in candidates if path.is_file()]
        groups = {video: group_id(video.name, pattern) for video in videos}
        held_out = _validation_groups(class_dir.name, set(groups.values()), validation_fraction)
        for video in videos:
            media_id = video.relative_to(root).with_suffix("").as_posix()
            split = "validation" if groups[video] in held_out else "train"
            splits[split].append(VideoItem(media_id=media_id, label=label, path=str(video)))
    return SourceListing(
        class_names=[path.name for path in class_dirs], splits=splits, problems=problems
    )


def unreadable_link(path):
    """Why a listed symlink leads to no file (`broken symlink to ...`, `symlink loop`), or None."""
    if not path.is_symlink():
        return None
    try:
        path.resolve(strict=True)
    except FileNotFoundError:
        return f"broken symlink to {os.readlink(path)} (no such file)"
    except (RuntimeError, OSError) as error:
        if isinstance(error, RuntimeError) or error.errno == errno.ELOOP:
            return "symlink loop (the link leads back to itself)"
        return f"symlink that cannot be followed ({error.strerror})"
    return None
