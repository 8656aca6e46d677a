"""`fit --source tfrecord` and `evaluate` on shards written as TF Model Garden writes them (GZIP and
plain, its file names, no media id, an audio feature list, label texts on some records only): one
command trains, the index is read once, every video is evaluated on its own."""

import json
import re

import pytest

from kerasrrn import config as config_lib
from kerasrrn import evaluate, fit
from kerasrrn.runs.data import load_run_data
from pipelines import records, tfrecord_index
from tests.kerasrrn.tiny_run import CLIP_LENGTH, IMAGE_SIZE
from tests.pipelines.model_garden import jpeg_frames, write_model_garden_shards

NAMES = ["run", "jump", "swim"]
TRAIN_VIDEOS, VALIDATION_VIDEOS, TEST_VIDEOS = 12, 5, 4


def videos(count, seed):
    """`count` Model Garden videos cycling through the classes; every other one has its text."""
    return [(jpeg_frames(seed + index, num_frames=6, size=IMAGE_SIZE), [index % 3],
             NAMES[index % 3] if index % 2 == 0 else None) for index in range(count)]


def tiny_tfrecord_argv(root, shards):
    return [
        "--source", "tfrecord", "--train-pattern", f"{shards}/train.tfrecord*",
        "--val-pattern", f"{shards}/validation.tfrecord*", "--test-pattern", f"{shards}/test.tfrecord*",
        "--data-dir", str(root / "index"), "--run-dir", str(root), "--name", "mg",
        "--image-size", str(IMAGE_SIZE), "--clip-length", str(CLIP_LENGTH), "--frame-step", "1",
        "--width", "0.125", "--epochs", "1", "--batch-size", "4", "--num-test-clips", "2",
        "--skip-units", "conv4_block2", "--verbose", "0", "--no-export",
    ]


@pytest.fixture(scope="module")
def garden_run(tmp_path_factory):
    """(run directory, shard directory) of one tiny fit on a Model Garden dataset."""
    root = tmp_path_factory.mktemp("garden")
    shards = root / "shards"
    every = videos(TRAIN_VIDEOS + VALIDATION_VIDEOS + TEST_VIDEOS, 0)
    train, validation, test = (every[:TRAIN_VIDEOS], every[TRAIN_VIDEOS:-TEST_VIDEOS], every[-TEST_VIDEOS:])
    write_model_garden_shards(shards, "train", [train[:7], train[7:]], compressed=True)
    write_model_garden_shards(shards, "validation", [validation[:3], validation[3:]])
    write_model_garden_shards(shards, "test", [test], compressed=True)
    assert fit.main(tiny_tfrecord_argv(root, shards)) == 0
    return root / "mg", shards


def test_fit_trains_on_the_shards_as_they_are_and_reports_every_validation_video(garden_run):
    run, shards = garden_run
    info = records.read_dataset_info(run.parent / "index")
    assert info["class_names"] == NAMES
    assert {split: entry["videos"] for split, entry in info["splits"].items()} == {
        "train": TRAIN_VIDEOS, "validation": VALIDATION_VIDEOS, "test": TEST_VIDEOS
    }
    assert info["splits"]["train"]["compression"] == "GZIP" and info["splits"]["validation"]["compression"] == ""
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_samples"] == VALIDATION_VIDEOS
    assert sum(map(sum, metrics["confusion_matrix"])) == VALIDATION_VIDEOS


def test_evaluate_scores_every_test_video_on_its_own(garden_run, tmp_path):
    run, shards = garden_run
    assert evaluate.main([str(run), "--split", "test", "--out", str(tmp_path), "--verbose", "0"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["num_samples"] == TEST_VIDEOS and metrics["num_views"] == 2 * TEST_VIDEOS
    ids = [line.split(",")[0] for line in (tmp_path / "predictions.csv").read_text().splitlines()[1:]]
    assert sorted(ids) == [f"test.tfrecord-00000-of-00001:{index}" for index in range(TEST_VIDEOS)]


def test_the_run_reads_its_index_as_it_is_while_the_shards_are_unchanged(garden_run, monkeypatch):
    run, shards = garden_run
    monkeypatch.setattr(tfrecord_index, "scan_split", lambda *args: pytest.fail("read again"))
    data = load_run_data(config_lib.load(run / "config.json"))
    assert data.videos(data.train_split) == TRAIN_VIDEOS and data.num_shards(data.val_split) == 2


def test_a_record_with_two_labels_stops_fit_with_one_line(tmp_path, capsys):
    shards = tmp_path / "shards"
    paths = write_model_garden_shards(shards, "train", [videos(4, 0) + [(jpeg_frames(9), [0, 2], "run")]])
    write_model_garden_shards(shards, "validation", [videos(2, 5)])
    write_model_garden_shards(shards, "test", [videos(2, 7)])
    with pytest.raises(SystemExit) as exit:
        fit.main(tiny_tfrecord_argv(tmp_path, shards))
    assert exit.value.code == 2
    assert capsys.readouterr().err == (
        f"python -m kerasrrn.fit: error: {paths[0]}: record 4 has 2 clip/label/index values, expected "
        "exactly 1 (kerasrrn models are single-label; keep one label per record)\n"
    )
    assert not (tmp_path / "mg").exists()


@pytest.mark.parametrize("flags, message", [
    (["--source", "tfrecord"], "--source tfrecord: needs --train-pattern GLOB"),
    (["--train-pattern", "/data/train*"], "--train-pattern: only with --source tfrecord (got --source synthetic)"),
    (["--source", "prepared", "--data-dir", "d", "--label-map", "l.txt"], "--label-map: only with --source tfrecord"),
])
def test_pattern_flags_belong_to_the_tfrecord_source(flags, message):
    config = config_lib.Config()
    for flag, value in zip(flags[::2], flags[1::2]):
        setattr(config.data, flag[2:].replace("-", "_"), value)
    with pytest.raises(config_lib.ConfigError, match=re.escape(message)):
        config.validate()


def test_the_index_of_a_tfrecord_source_is_named_by_its_patterns():
    config = config_lib.Config()
    config.data.source, config.data.train_pattern = "tfrecord", "/data/train*"
    first = config.data_path
    config.data.val_pattern = "/data/val*"
    assert first.parent.name == "data" and first.name.startswith("tfrecord-") and config.data_path != first


def test_evaluate_indexes_shards_that_changed_since_fit(garden_run, tmp_path):
    """Last in this file: it replaces the test shard of the run's dataset."""
    run, shards = garden_run
    write_model_garden_shards(shards, "test", [videos(3, 40)])
    assert evaluate.main([str(run), "--split", "test", "--out", str(tmp_path), "--verbose", "0"]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["num_samples"] == 3
