"""Issue #14 for `pipelines`: nothing lost, nothing silently wrong (disk full, changed plans,
killed workers, broken links, size changes, memory)."""

import errno
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

from pipelines import dataset, decode, prepare, records
from pipelines.sources import VideoItem
from tests.pipelines.test_prepare import read_examples, run, tree  # noqa: F401 - fixture
from tests.pipelines.video_fixtures import write_size_changing_video, write_video


def test_a_frame_size_change_is_a_decode_error(tmp_path):
    video = write_size_changing_video(tmp_path / "spliced.mpg")
    with pytest.raises(decode.VideoDecodeError, match="frame size changes mid-stream"):
        decode.read_video(video)
    with pytest.raises(decode.VideoDecodeError, match="frame size changes"):
        decode.count_frames(video)


def test_read_frames_at_keeps_only_the_wanted_frames(tmp_path):
    video = write_video(tmp_path / "v.avi", num_frames=12)
    everything = decode.read_video(video, frame_step=2)
    assert decode.count_frames(video, frame_step=2) == len(everything) == 6
    np.testing.assert_array_equal(decode.read_frames_at(video, [0, 3, 5], 2), everything[[0, 3, 5]])


def peak_bytes(function, *arguments):
    """Peak traced memory (numpy arrays included) of one call."""
    tracemalloc.start()
    try:
        function(*arguments)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """15 frames of 640x480: 13.8 MB as raw RGB, 15 times one frame."""
    return write_video(tmp_path_factory.mktemp("long") / "long.avi", 15, width=640, height=480)


RAW_VIDEO_BYTES = 15 * 640 * 480 * 3


def test_prepare_worker_holds_one_raw_frame_not_the_video(long_video):
    item = VideoItem(media_id="c/long", label=0, path=str(long_video))
    options = {"selection": {"frame_step": 1, "short_side": 0}, "min_frames": 1, "quality": 90}
    _, example, num_frames, reason = prepare.encode_video((item, "c", None, options))
    assert reason is None and num_frames == 15
    assert peak_bytes(prepare.encode_video, (item, "c", None, options)) < RAW_VIDEO_BYTES / 4


def test_reading_a_few_frames_holds_those_frames_only(long_video):
    assert peak_bytes(decode.read_frames_at, long_video, [1, 7, 14]) < RAW_VIDEO_BYTES / 4


def test_a_size_change_is_a_prepare_failure(tmp_path):
    root = tmp_path / "videos"
    write_video(root / "a" / "good.avi")
    write_size_changing_video(root / "a" / "spliced.mpg")
    assert run("folder", root, tmp_path / "out", "--max-failures", "1") == 0
    failure = json.loads((tmp_path / "out" / records.FAILURES_JSONL).read_text())
    assert "frame size changes" in failure["reason"]


def test_broken_symlinks_and_loops_are_listed_as_failures(tmp_path):
    root = tmp_path / "videos"
    write_video(root / "a" / "good.avi")
    (root / "a" / "broken.avi").symlink_to("nowhere.avi")
    (root / "a" / "loop1.avi").symlink_to("loop2.avi")
    (root / "a" / "loop2.avi").symlink_to("loop1.avi")
    assert run("folder", root, tmp_path / "out", "--max-failures", "1") == 0
    lines = (tmp_path / "out" / records.FAILURES_JSONL).read_text().splitlines()
    reasons = {os.path.basename(entry["path"]): entry["reason"] for entry in map(json.loads, lines)}
    assert "broken symlink" in reasons["broken.avi"]
    assert "symlink loop" in reasons["loop1.avi"] and "symlink loop" in reasons["loop2.avi"]


def test_a_rerun_with_another_shard_plan_is_refused(tree, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "out"
    assert run("folder", tree, out, "--shards-per-split", "2", "--max-failures", "1") == 0
    capsys.readouterr()
    before = sorted(os.listdir(out))
    assert run("folder", tree, out, "--shards-per-split", "3", "--max-failures", "1") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "another shard plan" in error
    assert sorted(os.listdir(out)) == before


def test_a_rerun_with_another_validation_split_redoes_the_shards(tree, tmp_path):  # noqa: F811
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    flags = ["--shards-per-split", "1", "--max-failures", "1", "--validation-fraction"]
    assert run("folder", tree, out, *flags, "0.0") == 0
    assert run("folder", tree, out, *flags, "0.5") == 0
    assert run("folder", tree, fresh, *flags, "0.5") == 0
    train, validation = set(read_examples(out, "train")), set(read_examples(out, "validation"))
    assert validation and not train & validation
    assert train == set(read_examples(fresh, "train"))


def test_a_removed_video_redoes_its_shard(tmp_path):
    root = tmp_path / "videos"
    for name in ("v_a_g01_c01", "v_a_g02_c01", "v_a_g03_c01"):
        write_video(root / "a" / f"{name}.avi")
    out = tmp_path / "out"
    assert run("folder", root, out, "--shards-per-split", "1") == 0
    (root / "a" / "v_a_g02_c01.avi").unlink()
    assert run("folder", root, out, "--shards-per-split", "1") == 0
    assert sorted(read_examples(out, "train")) == ["a/v_a_g01_c01", "a/v_a_g03_c01"]


def test_no_space_left_ends_in_one_line_and_no_finished_shard(tree, tmp_path, monkeypatch, capsys):  # noqa: F811
    def full_disk(self, serialized):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(records.ShardWriter, "write", full_disk)
    out = tmp_path / "out"
    assert run("folder", tree, out, "--max-failures", "1") == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no space left" in error and str(out) in error
    assert os.listdir(out) == []


@pytest.mark.parametrize(
    "flags, named",
    [(["--group-pattern", "("], "--group-pattern"), (["--out-is-a-file"], "--out")],
)
def test_bad_group_pattern_or_out_file_is_one_usage_line(tree, tmp_path, capsys, flags, named):  # noqa: F811
    out = tmp_path / "out"
    if flags == ["--out-is-a-file"]:
        out.write_text("a file")
        flags = []
    assert run("folder", tree, out, *flags) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and named in error


def test_a_killed_worker_raises_worker_died():
    tasks = [0.0, signal.SIGKILL, 0.0]
    with pytest.raises(prepare.WorkerDied):
        list(prepare.map_ordered(kill_or_sleep, tasks, 2))


def kill_or_sleep(task):
    """Worker task: SIGKILL (9) kills the worker, as the OOM killer would; else sleeps."""
    if task == signal.SIGKILL:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(task)
    return task


PARENT = """
import multiprocessing, sys, time
from pipelines import prepare
results = prepare.map_ordered(time.sleep, [60, 60], 2)
time.sleep(1)
while len(multiprocessing.active_children()) < 2:
    time.sleep(0.1)
print(*[child.pid for child in multiprocessing.active_children()], flush=True)
next(results)
"""


def alive(pid):
    """True while `pid` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_workers_die_with_the_main_process():
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(workers) == 2 and all(map(alive, workers))
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(alive, workers))


# Damaged datasets (#11): a helper that damages the train shard of a synthetic dataset, shared
# with the command tests in tests/kerasrrn/test_reliability.py.

def damaged_dataset(data_dir, damage, split="train"):
    """A 4-class synthetic dataset (16 videos a split, one shard each) in `data_dir` whose
    `split` shard is damaged: `truncated`, `garbled_header` (record 1's length), `garbled_data`
    (a byte of record 1's data), `bad_jpeg` (every frame of record 1), `bad_label` (record 1's
    label 4, outside the 4 classes), `more_listed` /
    `fewer_listed` (`dataset.json` lists one video more or fewer). Returns the shard's path."""
    from pipelines.sources import synthetic

    synthetic.write_synthetic_dataset(data_dir, 4, 4, 32, 8, 0)
    shard = records.list_shards(data_dir, split)[0]
    content = bytearray(open(shard, "rb").read())
    second = 16 + struct.unpack("<Q", content[:8])[0]  # record 1's offset
    if damage == "truncated":
        del content[second + 100:]
    elif damage == "garbled_header":
        content[second] ^= 0x01
    elif damage == "garbled_data":
        content[second + 12 + 50] ^= 0xFF
    elif damage in ("bad_jpeg", "bad_label"):
        import tensorflow as tf

        serialized = [record.numpy() for record in tf.data.TFRecordDataset(shard)]
        example = tf.train.SequenceExample.FromString(serialized[1])
        if damage == "bad_label":
            example.context.feature[records.LABEL_KEY].int64_list.value[0] = 4
        for frame in example.feature_lists.feature_list[records.FRAMES_KEY].feature:
            if damage == "bad_jpeg":
                frame.bytes_list.value[0] = b"\xff\xd8\xff\xe0 not a JPEG"
        serialized[1] = example.SerializeToString()
        with records.ShardWriter(shard) as writer:
            for record in serialized:
                writer.write(record)
        return shard
    else:
        info = records.read_dataset_info(data_dir)
        info["splits"][split]["videos"] += {"more_listed": 1, "fewer_listed": -1}[damage]
        records.write_dataset_info(data_dir, info)
        return shard
    open(shard, "wb").write(bytes(content))
    return shard


@pytest.mark.parametrize("damage, reason", [
    ("truncated", "truncated, expected"),
    ("garbled_header", "garbled, its length does not match its checksum"),
])
def test_count_records_names_the_shard_and_record_of_broken_framing(tmp_path, damage, reason):
    shard = damaged_dataset(tmp_path, damage)
    with pytest.raises(records.DatasetError) as error:
        records.count_records(shard)
    message = str(error.value)
    assert "\n" not in message and re.match(rf"{re.escape(shard)}: record 1 \(byte \d+\): {reason}", message)


def test_count_records_checks_the_data_only_when_asked(tmp_path):
    shard = damaged_dataset(tmp_path, "garbled_data")
    assert records.count_records(shard) == 16
    with pytest.raises(records.DatasetError, match=r"record 1 \(byte \d+\): garbled, its data does not match"):
        records.count_records(shard, check_data=True)


@pytest.mark.parametrize("damage, held", [("more_listed", "lists 17 videos"), ("fewer_listed", "lists 15 videos")])
def test_a_count_in_dataset_json_that_differs_from_the_shards_is_refused(tmp_path, damage, held):
    damaged_dataset(tmp_path, damage)
    with pytest.raises(records.DatasetError) as error:
        dataset.check_counts(tmp_path, "train")
    message = str(error.value)
    assert message.startswith(str(tmp_path / records.DATASET_JSON)) and held in message
    assert "shards hold 16 records (train-00000-of-00001.tfrecord: 16)" in message


@pytest.mark.parametrize("damage, expected", [
    ("garbled_data", r"train-00000-of-00001\.tfrecord: record 1 \(byte \d+\): garbled, its data"),
    ("bad_jpeg", r"train-00000-of-00001\.tfrecord: record 1 \(media id [^)]+\): a frame is not a decodable JPEG"),
])
def test_locate_bad_record_names_the_shard_and_record(tmp_path, damage, expected):
    damaged_dataset(tmp_path, damage)
    assert dataset.locate_bad_record(tmp_path, ["validation"]) is None
    assert re.search(expected, dataset.locate_bad_record(tmp_path, ["validation", "train"]))


def test_dataset_json_that_is_not_json_is_one_line_naming_it(tmp_path):
    (tmp_path / records.DATASET_JSON).write_text("{not json")
    expected = f"^{re.escape(str(tmp_path / records.DATASET_JSON))}: not valid JSON"
    with pytest.raises(records.DatasetError, match=expected):
        records.read_dataset_info(tmp_path)
