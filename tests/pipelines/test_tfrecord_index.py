"""Tests for `pipelines.tfrecord_index` and `python -m pipelines.prepare tfrecord`: TF Model
Garden shards (plain and GZIP, its file names, no media id, an audio feature list) indexed where
they are and read through the same pipeline as prepared shards."""

import json
import os
import re

import pytest

from pipelines import dataset, prepare, records, tfrecord_index
from tests.pipelines.model_garden import jpeg_frames, write_model_garden_shards

RUN, JUMP = "run", "jump"


@pytest.fixture
def garden(tmp_path):
    """A Model Garden dataset: train in two GZIP shards with label texts, validation in one plain
    shard without any; classes 0 `run`, 1 `jump`, 2 `swim`."""
    train = write_model_garden_shards(tmp_path / "mg", "train", [
        [(jpeg_frames(0), [0], RUN), (jpeg_frames(1, 3), [1], JUMP)],
        [(jpeg_frames(2), [2], "swim"), (jpeg_frames(3), [1], JUMP), (jpeg_frames(4), [0], RUN)],
    ], compressed=True)
    validation = write_model_garden_shards(tmp_path / "mg", "val", [[(jpeg_frames(5), [2]), (jpeg_frames(6), [0])]])
    return tmp_path / "mg", train, validation


def patterns_of(directory):
    return {"train": str(directory / "train.tfrecord*"), "validation": str(directory / "val.tfrecord*")}


def test_shards_are_indexed_where_they_are_and_read_back(garden, tmp_path):
    directory, train, validation = garden
    before = sorted(os.listdir(directory))
    info = tfrecord_index.index_shards(tmp_path / "index", patterns_of(directory))
    assert info["class_names"] == [RUN, JUMP, "swim"]
    assert info["splits"]["train"] == {"videos": 5, "shards": 2, "frames": 27, "files": train, "compression": "GZIP"}
    assert info["splits"]["validation"] == {
        "videos": 2, "shards": 1, "frames": 12, "files": validation, "compression": ""
    }
    assert os.listdir(tmp_path / "index") == [records.DATASET_JSON] and sorted(os.listdir(directory)) == before
    assert records.read_dataset_info(tmp_path / "index") == json.loads((tmp_path / "index" / "dataset.json").read_text())

    read = dataset.read_records(tmp_path / "index", "train", shuffle=False, deterministic=True)
    examples = [(example["media_id"].numpy().decode(), int(example["label"]), int(example["frames"].shape[0]))
                for example in read]
    first, second = (os.path.basename(path) for path in train)
    assert sorted(examples) == sorted([
        (f"{first}:0", 0, 6), (f"{first}:1", 1, 3), (f"{second}:0", 2, 6), (f"{second}:1", 1, 6), (f"{second}:2", 0, 6)
    ])
    assert dataset.resolve_split(tmp_path / "index", "validation") == "validation"


@pytest.mark.parametrize("lines", [["run", "jump", "swim", "dive"], ["swim: 2", "run: 0", "dive: 3", "jump:1"]])
def test_a_label_map_names_the_classes(garden, tmp_path, lines):
    (tmp_path / "labels.txt").write_text("\n".join(lines) + "\n\n")
    info = tfrecord_index.index_shards(tmp_path / "index", patterns_of(garden[0]), tmp_path / "labels.txt")
    assert info["class_names"] == ["run", "jump", "swim", "dive"]


@pytest.mark.parametrize("lines, message", [
    (["a: 0", "b"], "labels.txt:2: expected 'name: index' as on the other lines"),
    (["a: 0", "b: 0"], "labels.txt:2: index 0 given twice"),
    (["a: 0", "b: 2"], "labels.txt: indices must be 0..1, each once (missing 1)"),
    ([], "labels.txt: an empty label map"),
    (None, "label map {tmp_path}/labels.txt: no such file"),
])
def test_a_bad_label_map_is_one_line(tmp_path, lines, message):
    if lines is not None:
        (tmp_path / "labels.txt").write_text("\n".join(lines))
    with pytest.raises(ValueError, match=re.escape(message.format(tmp_path=tmp_path))):
        tfrecord_index.read_label_map(tmp_path / "labels.txt")


def test_labels_outside_the_label_map_name_the_record(garden, tmp_path):
    (tmp_path / "labels.txt").write_text("run\njump\n")
    with pytest.raises(ValueError) as error:
        tfrecord_index.index_shards(tmp_path / "index", patterns_of(garden[0]), tmp_path / "labels.txt")
    assert str(error.value) == (
        f"{garden[1][1]}: record 0 has label 2, outside the 2 classes of {tmp_path / 'labels.txt'} (expected 0..1)"
    )


def test_labels_without_text_are_named_by_index_with_one_warning(tmp_path, capsys):
    write_model_garden_shards(tmp_path / "mg", "train", [[(jpeg_frames(0), [2]), (jpeg_frames(1), [0], RUN)]])
    info = tfrecord_index.index_shards(tmp_path / "index", {"train": str(tmp_path / "mg" / "train*")})
    assert info["class_names"] == [RUN, "1", "2"]
    assert capsys.readouterr().err == (
        "warning: 2 of 3 labels have no clip/label/text (e.g. 1); named by their index (pass --label-map FILE for names)\n"
    )


@pytest.mark.parametrize("labels, count", [([], 0), ([1, 0], 2)])
@pytest.mark.parametrize("compressed", [False, True])
def test_a_record_without_exactly_one_label_is_one_line_naming_it(tmp_path, capsys, labels, count, compressed):
    paths = write_model_garden_shards(tmp_path / "mg", "train", [
        [(jpeg_frames(0), [0], RUN)],
        [(jpeg_frames(1), [1], JUMP), (jpeg_frames(2), labels), (jpeg_frames(3), [0], RUN)],
    ], compressed)
    argv = ["tfrecord", f"train={tmp_path / 'mg' / 'train.tfrecord-*'}", "--out", str(tmp_path / "index")]
    with pytest.raises(SystemExit) as exit:
        prepare.main(argv)
    assert exit.value.code == 2
    assert capsys.readouterr().err == (
        f"python -m pipelines.prepare: error: {paths[1]}: record 1 has {count} clip/label/index values, "
        "expected exactly 1 (kerasrrn models are single-label; keep one label per record)\n"
    )
    assert not (tmp_path / "index" / records.DATASET_JSON).exists()


def test_prepare_tfrecord_prints_the_counts(garden, tmp_path, capsys):
    directory = garden[0]
    argv = ["tfrecord", f"train={directory}/train.tfrecord*", f"validation={directory}/val.tfrecord*",
            "--out", str(tmp_path / "index")]
    assert prepare.main(argv) == 0
    assert capsys.readouterr().out == (
        f"indexed train 5, validation 2 videos of 3 classes in 3 shards (left where they are) "
        f"into {tmp_path / 'index' / records.DATASET_JSON}\n"
    )


@pytest.mark.parametrize("argument, message", [
    ("train", " tfrecord: error: argument SPLIT=PATTERN: expected SPLIT=PATTERN (e.g. "
              "'train=/data/train*.tfrecord*'), got 'train'"),
    ("train=/nowhere/train*", ": error: split train: no file matches /nowhere/train*"),
])
def test_bad_patterns_are_one_usage_line(tmp_path, capsys, argument, message):
    with pytest.raises(SystemExit) as exit:
        prepare.main(["tfrecord", argument, "--out", str(tmp_path / "index")])
    assert exit.value.code == 2
    assert capsys.readouterr().err == f"python -m pipelines.prepare{message}\n"


def test_a_split_given_twice_is_one_usage_line(garden, tmp_path, capsys):
    pattern = f"{garden[0]}/train*"
    with pytest.raises(SystemExit) as exit:
        prepare.main(["tfrecord", f"train={pattern}", f"train={pattern}", "--out", str(tmp_path / "index")])
    assert exit.value.code == 2
    assert capsys.readouterr().err == "python -m pipelines.prepare: error: argument SPLIT=PATTERN: a split is given twice\n"


def test_a_split_mixing_plain_and_gzip_files_is_refused(tmp_path):
    plain = write_model_garden_shards(tmp_path / "a", "train", [[(jpeg_frames(0), [0], RUN)]])
    gzip = write_model_garden_shards(tmp_path / "b", "train2", [[(jpeg_frames(1), [0], RUN)]], compressed=True)
    with pytest.raises(ValueError, match=f"split train: mixes plain \\({plain[0]}\\) and GZIP \\({gzip[0]}\\) files"):
        tfrecord_index.index_shards(tmp_path / "index", {"train": str(tmp_path / "*" / "train*")})


def test_a_file_that_is_no_tfrecord_is_named(tmp_path):
    (tmp_path / "train.tfrecord").write_bytes(b"PK\x03\x04 a zip archive, not records")
    with pytest.raises(ValueError, match="train.tfrecord: not a TFRecord file"):
        tfrecord_index.compression_of(str(tmp_path / "train.tfrecord"))


def test_a_truncated_shard_is_one_line_naming_it(tmp_path):
    path = write_model_garden_shards(tmp_path / "mg", "train", [[(jpeg_frames(0), [0], RUN), (jpeg_frames(1), [1], JUMP)]])[0]
    with open(path, "r+b") as stream:
        stream.truncate(os.path.getsize(path) - 10)
    with pytest.raises(ValueError) as error:
        tfrecord_index.index_shards(tmp_path / "index", {"train": path})
    message = str(error.value)
    assert message.startswith(f"{path}: unreadable after 0 records") and "\n" not in message


def test_ensure_index_reads_again_only_when_the_shards_change(garden, tmp_path, monkeypatch):
    directory = garden[0]
    first = tfrecord_index.ensure_index(tmp_path / "index", patterns_of(directory))
    monkeypatch.setattr(tfrecord_index, "scan_split", lambda *args: pytest.fail("read again"))
    assert tfrecord_index.ensure_index(tmp_path / "index", patterns_of(directory)) == first
    monkeypatch.undo()
    write_model_garden_shards(directory, "val", [[(jpeg_frames(7), [1], JUMP)]])  # the shard is replaced
    again = tfrecord_index.ensure_index(tmp_path / "index", patterns_of(directory))
    assert again["splits"]["validation"]["videos"] == 1 and again["fingerprint"] != first["fingerprint"]
