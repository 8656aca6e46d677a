"""End-to-end tests for `python -m pipelines.prepare` on tiny trees with bad files."""

import json
import math
import shutil

import numpy as np
import pytest
import tensorflow as tf

from pipelines import prepare, records
from tests.pipelines.video_fixtures import (
    frame_colour,
    make_hmdb51_tree,
    make_tfds_dataset,
    make_ucf101_tree,
    truncate,
    write_video,
)

GOOD_FRAMES = {
    "jump/v_jump_g01_c01": 10,
    "jump/v_jump_g02_c01": 11,
    "run/v_run_g01_c01": 12,
    "run/v_run_g02_c01": 13,
    "run/v_run_g03_c01": 14,
}
BAD_REASONS = {
    "jump/empty": "empty file",
    "run/text": "not a video",
    "run/trunc": "truncated",
    "jump/short": "too short",
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A folder dataset: 5 good videos in classes `jump`, `run` and 4 bad ones."""
    root = tmp_path_factory.mktemp("videos")
    for media_id, num_frames in GOOD_FRAMES.items():
        write_video(root / f"{media_id}.avi", num_frames=num_frames)
    (root / "jump" / "empty.avi").write_bytes(b"")
    (root / "run" / "text.avi").write_text("not a video\n" * 100)
    truncate(write_video(root / "run" / "trunc.avi"))
    write_video(root / "jump" / "short.avi", num_frames=2)
    return root


def run(source, root, out, *flags):
    """Runs the command in-process; returns its exit code."""
    try:
        return prepare.main([source, str(root), "--out", str(out), "--workers", "1", *flags])
    except SystemExit as exit:
        return exit.code


def read_examples(data_dir, split):
    """`{media_id: (label, label_text, frames uint8 (N, H, W, 3))}` from the shards."""
    dataset = tf.data.TFRecordDataset(records.list_shards(data_dir, split))
    examples = {}
    for example in dataset.map(records.parse_sequence_example):
        frames = np.stack([tf.io.decode_jpeg(jpeg).numpy() for jpeg in example["frames"]])
        examples[example["media_id"].numpy().decode()] = (
            int(example["label"]),
            example["label_text"].numpy().decode(),
            frames,
        )
    return examples


def read_failures(data_dir):
    lines = (data_dir / records.FAILURES_JSONL).read_text().splitlines()
    return {json.loads(line)["media_id"]: json.loads(line) for line in lines}


def test_prepare_folder_end_to_end_with_bad_files(tree, tmp_path):
    out = tmp_path / "out"
    flags = [
        "--frame-step",
        "3",
        "--short-side",
        "12",
        "--min-frames",
        "3",
        "--videos-per-shard",
        "2",
    ]
    assert run("folder", tree, out, *flags, "--workers", "2", "--max-failures", "0.5") == 0
    examples = read_examples(out, "train")
    assert sorted(examples) == sorted(GOOD_FRAMES)
    for media_id, (label, label_text, frames) in examples.items():
        assert label_text == media_id.split("/")[0] and label == ["jump", "run"].index(label_text)
        assert frames.shape == (math.ceil(GOOD_FRAMES[media_id] / 3), 12, 16, 3)
        expected = [frame_colour(index) for index in range(0, GOOD_FRAMES[media_id], 3)]
        np.testing.assert_allclose(frames.mean(axis=(1, 2)), expected, atol=8)
    failures = read_failures(out)
    assert sorted(failures) == sorted(BAD_REASONS)
    for media_id, reason in BAD_REASONS.items():
        assert reason in failures[media_id]["reason"]
        assert failures[media_id]["path"] == str(tree / f"{media_id}.avi")
    info = records.read_dataset_info(out)
    assert info["class_names"] == ["jump", "run"]
    assert info["splits"] == {
        "train": {
            "videos": 5,
            "shards": 5,
            "frames": sum(math.ceil(frames / 3) for frames in GOOD_FRAMES.values()),
        }
    }
    assert (info["frame_step"], info["short_side"], info["source"], info["quality"]) == (
        3,
        12,
        "folder",
        90,
    )


@pytest.mark.parametrize("max_failures, code", [("0.5", 0), ("0.45", 0), ("0.44", 1), ("0", 1)])
def test_exit_code_is_1_only_past_max_failures(tree, tmp_path, max_failures, code, capsys):
    # 4 of 9 videos fail: 44.4%.
    assert (
        run("folder", tree, tmp_path / "out", "--min-frames", "3", "--max-failures", max_failures)
        == code
    )
    assert "4 failed" in capsys.readouterr().out


def test_resume_rewrites_only_a_deleted_shard(tree, tmp_path):
    out = tmp_path / "out"
    flags = ["--short-side", "0", "--shards-per-split", "3", "--max-failures", "1"]
    assert run("folder", tree, out, *flags) == 0
    shards = records.list_shards(out, "train")
    before = {path: (out / path).stat().st_mtime_ns for path in shards}
    failures_before = read_failures(out)
    (out / shards[1]).unlink()
    assert run("folder", tree, out, *flags) == 0
    after = {path: (out / path).stat().st_mtime_ns for path in records.list_shards(out, "train")}
    assert sorted(after) == sorted(before)
    assert [path for path in shards if after[path] != before[path]] == [shards[1]]
    assert read_failures(out) == failures_before
    assert sorted(read_examples(out, "train")) == sorted([*GOOD_FRAMES, "jump/short"])


def test_resume_with_other_settings_is_refused(tree, tmp_path, capsys):
    out = tmp_path / "out"
    assert run("folder", tree, out, "--short-side", "0", "--max-failures", "1") == 0
    assert run("folder", tree, out, "--short-side", "16", "--max-failures", "1") == 2
    assert "other settings" in capsys.readouterr().err


def test_two_machines_merged_equal_one_machine(tree, tmp_path):
    flags = ["--short-side", "0", "--videos-per-shard", "2", "--max-failures", "1"]
    assert run("folder", tree, tmp_path / "single", *flags) == 0
    for index in (0, 1):
        part_flags = ["--shard-index", str(index), "--num-shards", "2"]
        assert run("folder", tree, tmp_path / f"part{index}", *flags, *part_flags) == 0
    assert (
        prepare.main(
            [
                "merge",
                str(tmp_path / "part0"),
                str(tmp_path / "part1"),
                "--out",
                str(tmp_path / "merged"),
                "--max-failures",
                "1",
            ]
        )
        == 0
    )
    single, merged = tmp_path / "single", tmp_path / "merged"
    names = [path.rsplit("/", 1)[1] for path in records.list_shards(single, "train")]
    assert [path.rsplit("/", 1)[1] for path in records.list_shards(merged, "train")] == names
    for name in names:
        assert (merged / name).read_bytes() == (single / name).read_bytes()
    assert records.read_dataset_info(merged) == records.read_dataset_info(single)
    assert read_failures(merged) == read_failures(single)


def test_merge_refuses_a_missing_part(tree, tmp_path, capsys):
    flags = [
        "--videos-per-shard",
        "2",
        "--max-failures",
        "1",
        "--shard-index",
        "1",
        "--num-shards",
        "2",
    ]
    assert run("folder", tree, tmp_path / "part1", *flags) == 0
    with pytest.raises(SystemExit) as exit:
        prepare.main(["merge", str(tmp_path / "part1"), "--out", str(tmp_path / "merged")])
    assert exit.value.code == 2 and "expected the parts [0, 1]" in capsys.readouterr().err


def test_ucf101_missing_video_counts_as_failure(tmp_path):
    listed = make_ucf101_tree(tmp_path / "ucf")
    (tmp_path / "ucf" / "UCF-101" / listed["test"][0]).unlink()
    assert run("ucf101", tmp_path / "ucf", tmp_path / "out", "--short-side", "0") == 1
    info = records.read_dataset_info(tmp_path / "out")
    assert info["splits"]["train"]["videos"] == 2 and info["splits"]["test"]["videos"] == 3
    [failure] = (tmp_path / "out" / records.FAILURES_JSONL).read_text().splitlines()
    assert "testlist01.txt:1 but not found" in json.loads(failure)["reason"]
    labels = {
        media_id: label
        for media_id, (label, _, _) in read_examples(tmp_path / "out", "test").items()
    }
    assert labels == {
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01": 0,
        "Basketball/v_Basketball_g01_c01": 1,
        "Basketball/v_Basketball_g02_c01": 1,
    }


def test_prepare_tfds(tmp_path):
    name = make_tfds_dataset(tmp_path / "tfds", videos_per_split=3)
    out = tmp_path / "out"
    assert (
        run(
            "tfds",
            tmp_path / "tfds",
            out,
            "--name",
            name,
            "--frame-step",
            "4",
            "--short-side",
            "12",
            "--workers",
            "2",
            "--videos-per-shard",
            "2",
        )
        == 0
    )
    info = records.read_dataset_info(out)
    assert info["class_names"] == ["a", "b"]
    assert info["splits"]["train"] == {"videos": 3, "shards": 2, "frames": 9}
    for label, label_text, frames in read_examples(out, "test").values():
        assert label_text == ["a", "b"][label] and frames.shape == (3, 12, 16, 3)
        np.testing.assert_allclose(
            frames.mean(axis=(1, 2)), [frame_colour(i) for i in (0, 4, 8)], atol=8
        )


@pytest.mark.parametrize(
    "arguments, named",
    [
        (["folder", "{root}", "--out", "{out}", "--frame-step", "0"], "--frame-step"),
        (["folder", "{root}", "--out", "{out}", "--quality", "101"], "--quality"),
        (["folder", "{root}", "--out", "{out}", "--max-failures", "2"], "--max-failures"),
        (["folder", "{root}", "--out", "{out}", "--workers", "x"], "--workers"),
        (["ucf101", "{root}", "--out", "{out}", "--split", "4"], "--split"),
        (
            ["folder", "{root}", "--out", "{out}", "--shard-index", "2", "--num-shards", "2"],
            "--shard-index",
        ),
        (["folder", "{root}/nowhere", "--out", "{out}"], "ROOT"),
        (["folder", "{root}"], "--out"),
        (["ucf101", "{root}", "--out", "{out}"], "UCF-101 not found"),
    ],
)
def test_usage_errors_exit_2_with_one_line_naming_the_flag(
    tree, tmp_path, capsys, arguments, named
):
    argv = [argument.format(root=tree, out=tmp_path / "out") for argument in arguments]
    with pytest.raises(SystemExit) as exit:
        prepare.main(argv)
    error = capsys.readouterr().err
    assert exit.value.code == 2 and named in error and error.count("\n") == 1


def assert_same_records(outs):
    """Every prepared dataset in `outs` holds the records of the first, split by split."""
    for split in ("train", "test"):
        reference = read_examples(outs[0], split)
        assert reference
        for out in outs[1:]:
            examples = read_examples(out, split)
            assert sorted(examples) == sorted(reference)
            for media_id, (label, label_text, frames) in examples.items():
                assert (label, label_text) == reference[media_id][:2]
                np.testing.assert_array_equal(frames, reference[media_id][2])


def relocate(official, root, moves):
    """A copy of the `official` tree under `root` with folders moved: {from: to}, relative."""
    for source, target in moves.items():
        shutil.copytree(official / source, root / target)
    return root


def test_ucf101_layouts_prepare_to_the_same_records(tmp_path):
    official = tmp_path / "official"
    make_ucf101_tree(official)
    mmaction2 = relocate(
        official, tmp_path / "mmaction2", {"UCF-101": "videos", "ucfTrainTestlist": "annotations"}
    )
    elsewhere = relocate(
        official, tmp_path / "elsewhere", {"UCF-101": "clips", "ucfTrainTestlist": "lists"}
    )
    outs = [tmp_path / name for name in ("out-official", "out-mmaction2", "out-flags")]
    assert run("ucf101", official, outs[0]) == 0
    assert run("ucf101", mmaction2, outs[1]) == 0
    flags = ["--videos", str(elsewhere / "clips"), "--splits", str(elsewhere / "lists")]
    assert run("ucf101", tmp_path, outs[2], *flags) == 0
    assert_same_records(outs)


def test_hmdb51_layouts_prepare_to_the_same_records(tmp_path):
    official = tmp_path / "official"
    make_hmdb51_tree(
        official, {"wave": {"w1.avi": 1, "w2.avi": 2}, "brush_hair": {"b1.avi": 2, "b2.avi": 1}}
    )
    splits_dir = "testTrainMulti_7030_splits"
    classes = {"wave": "hmdb51_org/wave", "brush_hair": "hmdb51_org/brush_hair", splits_dir: splits_dir}
    hmdb51_org = relocate(official, tmp_path / "hmdb51_org", classes)
    mmaction2 = relocate(official, tmp_path / "mmaction2", {
        "wave": "videos/wave", "brush_hair": "videos/brush_hair", splits_dir: "annotations"
    })
    outs = [tmp_path / name for name in ("out-official", "out-hmdb51_org", "out-mmaction2", "out-flags")]
    assert run("hmdb51", official, outs[0]) == 0
    assert run("hmdb51", hmdb51_org, outs[1]) == 0
    assert run("hmdb51", mmaction2, outs[2]) == 0
    assert run("hmdb51", tmp_path, outs[3], "--videos", str(hmdb51_org / "hmdb51_org"),
               "--splits", str(mmaction2 / "annotations")) == 0
    assert_same_records(outs)


def test_no_listed_video_found_stops_with_one_line(tmp_path, capsys):
    make_ucf101_tree(tmp_path / "nested")
    # An archive extracted into a folder of its own name: UCF-101/UCF-101/<Class>/.
    root = relocate(
        tmp_path / "nested", tmp_path / "root",
        {"UCF-101": "UCF-101/UCF-101", "ucfTrainTestlist": "ucfTrainTestlist"},
    )
    assert run("ucf101", root, tmp_path / "out") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    assert f"none of the 6 listed videos is in {root / 'UCF-101'}" in error
    assert "found there instead: UCF-101" in error
    assert not (tmp_path / "out" / records.DATASET_JSON).exists()
