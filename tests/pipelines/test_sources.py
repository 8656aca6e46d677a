"""Tests for the dataset sources on tiny trees in the official layouts."""

import pytest

from pipelines.sources.folder import list_folder
from pipelines.sources.hmdb51 import list_hmdb51
from pipelines.sources.tfds import UNREAD_LABEL, list_tfds
from pipelines.sources.ucf101 import list_ucf101
from tests.pipelines.video_fixtures import make_hmdb51_tree, make_tfds_dataset, make_ucf101_tree


def paths_by_split(listing, root):
    return {
        split: sorted(item.path[len(str(root)) + 1 :] for item in items)
        for split, items in listing.splits.items()
    }


def test_ucf101_classes_labels_and_split_membership(tmp_path):
    listed = make_ucf101_tree(tmp_path, class_names=("Zumba", "ApplyEyeMakeup"))
    listing = list_ucf101(tmp_path, split=1)
    assert listing.class_names == ["Zumba", "ApplyEyeMakeup"]  # classInd order, not sorted
    assert paths_by_split(listing, tmp_path / "UCF-101") == {
        split: sorted(paths) for split, paths in listed.items()
    }
    for items in listing.splits.values():
        for item in items:
            class_name = item.media_id.split("/")[0]
            assert listing.class_names[item.label] == class_name
            assert item.media_id == f"{class_name}/{item.path.rsplit('/', 1)[1][:-4]}"
    assert listing.problems == []


def test_ucf101_missing_video_is_reported_with_its_line(tmp_path):
    listed = make_ucf101_tree(tmp_path)
    (tmp_path / "UCF-101" / listed["test"][1]).unlink()
    listing = list_ucf101(tmp_path)
    assert len(listing.splits["test"]) == len(listed["test"]) - 1
    [problem] = listing.problems
    assert problem["path"] == str(tmp_path / "UCF-101" / listed["test"][1])
    assert problem["line"] == 2 and "testlist01.txt:2" in problem["reason"]


@pytest.mark.parametrize(
    "list_name, line, match",
    [
        (
            "trainlist01.txt",
            "Juggling/v_Juggling_g08_c01.avi 3",
            "trainlist01.txt:2: unknown class 'Juggling'",
        ),
        (
            "testlist01.txt",
            "Juggling/v_Juggling_g01_c01.avi",
            "testlist01.txt:2: unknown class 'Juggling'",
        ),
        (
            "trainlist01.txt",
            "Basketball/v_Basketball_g08_c02.avi 1",
            "trainlist01.txt:2: label 1 contradicts",
        ),
    ],
)
def test_ucf101_inconsistent_split_line_names_file_and_line(tmp_path, list_name, line, match):
    make_ucf101_tree(tmp_path)
    split_file = tmp_path / "ucfTrainTestlist" / list_name
    first_line = split_file.read_text().splitlines()[0]
    split_file.write_text(f"{first_line}\n{line}\n")
    with pytest.raises(ValueError, match=match):
        list_ucf101(tmp_path)


def test_ucf101_rejects_unknown_split_and_missing_layout(tmp_path):
    with pytest.raises(ValueError, match="split=4"):
        list_ucf101(tmp_path, split=4)
    with pytest.raises(FileNotFoundError, match="UCF-101 not found"):
        list_ucf101(tmp_path)
    (tmp_path / "UCF-101").mkdir()
    with pytest.raises(FileNotFoundError, match="classInd.txt not found"):
        list_ucf101(tmp_path)


def test_hmdb51_sorted_classes_and_marks(tmp_path):
    make_hmdb51_tree(
        tmp_path,
        {
            "wave": {"w1.avi": 1, "w2.avi": 2, "w3.avi": 0},
            "brush_hair": {"b1.avi": 2, "b2.avi": 1},
        },
    )
    listing = list_hmdb51(tmp_path, split=1)
    assert listing.class_names == ["brush_hair", "wave"]
    assert paths_by_split(listing, tmp_path) == {
        "train": ["brush_hair/b2.avi", "wave/w1.avi"],
        "test": ["brush_hair/b1.avi", "wave/w2.avi"],
    }
    assert {item.media_id: item.label for item in listing.splits["test"]} == {
        "brush_hair/b1": 0,
        "wave/w2": 1,
    }


def test_hmdb51_missing_video_reported_and_bad_mark_rejected_with_line(tmp_path):
    make_hmdb51_tree(tmp_path, {"wave": {"w1.avi": 1, "w2.avi": 2}})
    split_file = tmp_path / "testTrainMulti_7030_splits" / "wave_test_split1.txt"
    (tmp_path / "wave" / "w2.avi").unlink()
    [problem] = list_hmdb51(tmp_path).problems
    assert problem["line"] == 2 and f"{split_file}:2" in problem["reason"]
    split_file.write_text("w1.avi 1\nw2.avi 7\n")
    with pytest.raises(ValueError, match="wave_test_split1.txt:2: expected"):
        list_hmdb51(tmp_path)


def test_hmdb51_without_split_files_says_what_it_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="_test_split2.txt in .*testTrainMulti_7030_splits"):
        list_hmdb51(tmp_path, split=2)


def touch(root, relative_paths):
    for relative in relative_paths:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).touch()


def test_folder_classes_extensions_and_labels(tmp_path):
    touch(tmp_path, ["run/a.MP4", "run/sub/b.webm", "run/notes.txt", "jump/c.avi", "jump/d.mkv"])
    listing = list_folder(tmp_path)
    assert listing.class_names == ["jump", "run"]
    assert [(item.media_id, item.label) for item in listing.splits["train"]] == [
        ("jump/c", 0),
        ("jump/d", 0),
        ("run/a", 1),
        ("run/sub/b", 1),
    ]
    assert list(listing.splits) == ["train"]


def group_sides(listing, group_of):
    sides = {}
    for split, items in listing.splits.items():
        for item in items:
            sides.setdefault((item.label, group_of(item.media_id)), set()).add(split)
    return sides


def test_folder_validation_keeps_ucf_groups_together_deterministically(tmp_path):
    touch(
        tmp_path,
        [
            f"c{c}/v_X_g{g:02d}_c{clip:02d}.avi"
            for c in (0, 1)
            for g in range(1, 11)
            for clip in range(1, 4)
        ],
    )
    listing = list_folder(tmp_path, validation_fraction=0.3)
    sides = group_sides(listing, lambda media_id: media_id.split("_")[2])
    assert all(len(split_names) == 1 for split_names in sides.values())
    for label in (0, 1):
        held_out = [
            key
            for key, split_names in sides.items()
            if key[0] == label and "validation" in split_names
        ]
        assert len(held_out) == 3  # 30% of 10 groups, in every class
    again = list_folder(tmp_path, validation_fraction=0.3)
    assert again.splits == listing.splits


def test_folder_user_group_pattern_and_per_file_fallback(tmp_path):
    touch(
        tmp_path, [f"c/person{p}-take{t}.mp4" for p in range(4) for t in range(3)] + ["c/odd.mp4"]
    )
    listing = list_folder(tmp_path, validation_fraction=0.5, group_pattern=r"person(\d+)-")
    sides = group_sides(listing, lambda media_id: media_id.split("-")[0])
    assert all(len(split_names) == 1 for split_names in sides.values())
    held_out = {key for key, split_names in sides.items() if "validation" in split_names}
    assert len(held_out) == round(0.5 * 5)  # 4 persons and odd.mp4, a group of its own


def test_folder_rejects_a_folder_without_classes(tmp_path):
    with pytest.raises(FileNotFoundError, match="one sub-folder per class"):
        list_folder(tmp_path)


def test_tfds_lists_prepared_dataset_and_reads_frames(tmp_path):
    name = make_tfds_dataset(tmp_path, videos_per_split=3)
    listing = list_tfds(name, str(tmp_path))
    assert listing.class_names == ["a", "b"]
    assert {split: len(items) for split, items in listing.splits.items()} == {"test": 3, "train": 3}
    assert all(item.label == UNREAD_LABEL for item in listing.splits["train"])
    read = list(listing.iter_frames("train", 1, 3))
    assert [item.media_id for item, _ in read] == ["train/000001", "train/000002"]
    assert all(item.label in (0, 1) and frames.shape == (12, 24, 32, 3) for item, frames in read)


def test_tfds_not_prepared_says_where_and_how(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=f"ucf101 is not prepared in {tmp_path}: .*tfds build ucf101"
    ):
        list_tfds("ucf101", str(tmp_path))
