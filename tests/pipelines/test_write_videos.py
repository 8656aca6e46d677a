"""Tests for `python -m pipelines.write_videos` on a tiny synthetic dataset."""

import csv

import numpy as np
import pytest

from pipelines import decode, write_videos
from pipelines.sources import synthetic

NUM_FRAMES, FRAME_SIZE = 6, 32


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    synthetic.write_synthetic_dataset(out, num_classes=4, videos_per_class=4, frame_size=FRAME_SIZE,
                                      num_frames=NUM_FRAMES, seed=7)
    return out


def test_the_first_videos_of_a_split_come_back_as_files_close_to_their_frames(dataset, tmp_path, capsys):
    out = tmp_path / "videos"
    assert write_videos.main([str(dataset), str(out), "--split", "test", "--count", "3"]) == 0
    assert capsys.readouterr().out == f"wrote 3 test videos and labels.csv to {out}\n"
    with open(out / "labels.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    expected = list(write_videos.split_examples(dataset, "test", 3))
    assert [row["label"] for row in rows] == [label for _, label, _ in expected]
    for row, (media_id, _, frames) in zip(rows, expected):
        assert row["video"] == str(out / f"{media_id.replace('/', '_')}.avi")
        decoded = decode.read_video(row["video"])
        assert decoded.shape == (NUM_FRAMES, FRAME_SIZE, FRAME_SIZE, 3)
        assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 8  # through the codec


def test_a_count_beyond_the_split_writes_what_it_has(dataset, tmp_path, capsys):
    assert write_videos.main([str(dataset), str(tmp_path), "--split", "validation", "--count", "100"]) == 0
    assert capsys.readouterr().out.startswith("wrote 16 validation videos")
    assert len(list(tmp_path.glob("*.avi"))) == 16


@pytest.mark.parametrize("argv, message", [
    (["{tmp}", "{tmp}/out"], "is not a prepared dataset"),
    (["{data}", "{tmp}/out", "--split", "nope"], "has no shards for split 'nope'"),
    (["{data}", "{tmp}/out", "--codec", "nope"], "--codec nope: not a codec"),
    (["{data}", "{data}/dataset.json"], "exists and is not a directory"),
    (["{data}", "{tmp}/out", "--count", "0"], "expected an integer >= 1"),
])
def test_usage_errors_are_one_line_exit_2(dataset, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        write_videos.main([arg.format(tmp=tmp_path, data=dataset) for arg in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
