"""Tests for `python -m kerasrrn.evaluate` on a tiny run trained once per session."""

import csv
import json
import pathlib
import shutil

import numpy as np
import pytest

from kerasrrn import evaluate
from pipelines import records

from tests.kerasrrn.tiny_run import CLIP_LENGTH, IMAGE_SIZE, NUM_TEST_CLIPS
from tests.pipelines.test_records import write_tf_shards


def run_evaluate(model_path, out, *flags):
    assert evaluate.main([str(model_path), "--split", "validation", "--out", str(out),
                          "--verbose", "0", *flags]) == 0
    return json.loads((out / "metrics.json").read_text()), read_predictions(out / "predictions.csv")


def read_predictions(path):
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        pairs = [entry.rsplit(":", 1) for entry in row["top5"].split(";")]
        row["top5"] = [(name, float(score)) for name, score in pairs]
    return rows


@pytest.fixture(scope="module")
def evaluated(tiny_run, tmp_path_factory):
    """(metrics.json dict, predictions.csv rows, out dir) of the run on its validation split."""
    out = tmp_path_factory.mktemp("eval")
    metrics, rows = run_evaluate(tiny_run, out)
    return metrics, rows, out


def validation_videos(run_path):
    return records.read_dataset_info(run_path.parent / "data")["splits"]["validation"]["videos"]


def test_metrics_agree_with_a_recount_of_predictions_csv(tiny_run, evaluated):
    metrics, rows, _ = evaluated
    assert len(rows) == validation_videos(tiny_run) == metrics["num_samples"]
    assert len({row["video"] for row in rows}) == len(rows)
    hits = np.array([row["true"] == row["predicted"] for row in rows])
    assert [int(row["correct"]) for row in rows] == hits.astype(int).tolist()
    assert metrics["top1"] == pytest.approx(hits.mean())
    classes = list(metrics["per_class"])
    per_class = [hits[[row["true"] == name for row in rows]].mean() for name in classes]
    assert [metrics["per_class"][name]["accuracy"] for name in classes] == pytest.approx(per_class)
    assert metrics["mean_class_accuracy"] == pytest.approx(np.mean(per_class))
    confusion = np.zeros((len(classes), len(classes)), int)
    for row in rows:
        confusion[classes.index(row["true"]), classes.index(row["predicted"])] += 1
    np.testing.assert_array_equal(metrics["confusion_matrix"], confusion)
    top5_hits = [row["true"] in [name for name, _ in row["top5"]] for row in rows]
    assert metrics["top5"] == pytest.approx(np.mean(top5_hits))


def test_top5_lists_are_sorted_probabilities_led_by_the_prediction(evaluated):
    metrics, rows, _ = evaluated
    for row in rows:
        scores = [score for _, score in row["top5"]]
        assert len(scores) == min(5, len(metrics["per_class"]))
        assert scores == sorted(scores, reverse=True)
        # Six decimals per score: their sum may round up by at most 5e-7 each.
        assert sum(scores) <= 1 + 5e-7 * len(scores)
        assert row["top5"][0][0] == row["predicted"]


def test_writes_the_report_files_and_the_split_settings(evaluated):
    metrics, _, out = evaluated
    for name in ("confusion_matrix.png", "per_class_accuracy.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert metrics["split"] == "validation"
    assert metrics["num_test_clips"] == NUM_TEST_CLIPS
    assert 0 <= metrics["clip_top1"] <= 1


def test_test_clips_and_three_crop_multiply_the_views(tiny_run, tmp_path, evaluated):
    videos = validation_videos(tiny_run)
    assert evaluated[0]["num_views"] == videos * NUM_TEST_CLIPS
    one_clip, _ = run_evaluate(tiny_run, tmp_path / "clip", "--num-test-clips", "1")
    assert one_clip["num_views"] == videos and one_clip["num_test_clips"] == 1
    three_crops, rows = run_evaluate(tiny_run, tmp_path / "crops", "--num-test-clips", "1", "--three-crop")
    assert three_crops["num_views"] == videos * 3 and three_crops["three_crop"] is True
    assert len(rows) == videos


def assert_usage_error(capsys, argv, *expected):
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and all(text in error for text in expected), error


def test_a_run_without_checkpoint_is_a_usage_error(tiny_run, tmp_path, capsys):
    (tmp_path / "checkpoints").mkdir()
    shutil.copy(tiny_run / "config.json", tmp_path / "config.json")
    assert_usage_error(capsys, [str(tmp_path)], str(tmp_path), "no checkpoint")


def test_a_missing_dataset_is_a_usage_error(tiny_run, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert_usage_error(capsys, [str(tiny_run), "--data", str(missing)], str(missing), "dataset.json")


def test_an_unknown_split_is_a_usage_error(tiny_run, capsys):
    assert_usage_error(capsys, [str(tiny_run), "--split", "holdout"], "holdout", "validation")


def model_garden_copy(run_path, out, media_id):
    """The run's dataset with its validation videos written again as TF Model Garden writes
    them (`tf.train.SequenceExample`, no label text), in two shards; `media_id(index)` gives
    the id of the index-th video, None for none."""
    import tensorflow as tf

    shutil.copytree(run_path.parent / "data", out)
    shards = records.list_shards(out, "validation")
    examples = [tf.train.SequenceExample.FromString(record.numpy()) for record in tf.data.TFRecordDataset(shards)]
    for shard in shards:
        pathlib.Path(shard).unlink()
    videos = []
    for index, example in enumerate(examples):
        frames = example.feature_lists.feature_list[records.FRAMES_KEY].feature
        label = example.context.feature[records.LABEL_KEY].int64_list.value[0]
        videos.append(([frame.bytes_list.value[0] for frame in frames], label, None, media_id(index)))
    write_tf_shards(out, "validation", [videos[0::2], videos[1::2]])
    return out


def test_videos_without_media_ids_are_evaluated_one_by_one(tiny_run, tmp_path, capsys):
    data = model_garden_copy(tiny_run, tmp_path / "data", lambda index: None)
    metrics, rows = run_evaluate(tiny_run, tmp_path / "eval", "--data", str(data))
    videos = validation_videos(tiny_run)
    assert metrics["num_samples"] == len({row["video"] for row in rows}) == videos
    assert {row["video"].split(":")[0] for row in rows} == {
        records.shard_filename("validation", index, 2) for index in range(2)
    }
    warnings = [line for line in capsys.readouterr().err.splitlines() if "clip/media_id" in line]
    assert warnings == [
        f"warning: {videos} records in split validation of {data} have no clip/media_id; using <shard>:<index>"
    ]


def test_videos_sharing_a_media_id_are_a_usage_error(tiny_run, tmp_path, capsys):
    data = model_garden_copy(tiny_run, tmp_path / "data", lambda index: "twin" if index < 2 else f"v{index}")
    assert_usage_error(
        capsys, [str(tiny_run), "--data", str(data), "--split", "validation"], "'validation'", "twin"
    )


@pytest.fixture(scope="module")
def saved_model(tiny_run, tmp_path_factory):
    """A SavedModel of the run's best checkpoint with the export's interface: `serving_default`
    maps uint8 `frames (B, T, S, S, 3)` to `probabilities`; class names in assets/labels.txt.
    In a TF Serving layout `<model>/<version>/`."""
    import keras
    import tensorflow as tf

    model = keras.saving.load_model(tiny_run / "checkpoints" / "best.keras")

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[
            tf.TensorSpec([None, CLIP_LENGTH, IMAGE_SIZE, IMAGE_SIZE, 3], tf.uint8, name="frames")
        ])
        def serve(self, frames):
            return {"probabilities": self.model(tf.cast(frames, tf.float32), training=False)}

    out = tmp_path_factory.mktemp("saved_models") / "rrn" / "1"
    module = Serving()
    tf.saved_model.save(module, str(out), signatures={"serving_default": module.serve})
    class_names = records.read_dataset_info(tiny_run.parent / "data")["class_names"]
    write_labels(out, class_names)
    return out


def write_labels(saved_model_path, class_names):
    (saved_model_path / "assets").mkdir(exist_ok=True)
    (saved_model_path / "assets" / "labels.txt").write_text("".join(f"{name}\n" for name in class_names))


def test_a_saved_model_evaluates_like_its_checkpoint(tiny_run, evaluated, saved_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Clip length and image size come from the signature's static shape; the output folder
    # defaults to ./eval-<model>-<version>.
    assert evaluate.main([str(saved_model), "--data", str(tiny_run.parent / "data"),
                          "--split", "validation", "--num-test-clips", str(NUM_TEST_CLIPS),
                          "--frame-step", "1", "--verbose", "0"]) == 0
    out = tmp_path / "eval-rrn-1"
    rows = read_predictions(out / "predictions.csv")
    checkpoint_rows = evaluated[1]
    assert [row["video"] for row in rows] == [row["video"] for row in checkpoint_rows]
    # The synthetic frames are stored at the image size: views are whole pixel values, so the
    # uint8 serving input loses nothing.
    for row, checkpoint_row in zip(rows, checkpoint_rows):
        assert [name for name, _ in row["top5"]] == [name for name, _ in checkpoint_row["top5"]]
        np.testing.assert_allclose([score for _, score in row["top5"]],
                                   [score for _, score in checkpoint_row["top5"]], atol=1e-5)
    assert json.loads((out / "metrics.json").read_text())["top1"] == evaluated[0]["top1"]


def test_a_saved_model_with_other_classes_is_a_usage_error(tiny_run, saved_model, tmp_path, capsys):
    other = shutil.copytree(saved_model, tmp_path / "other")
    write_labels(other, ["a", "b", "c", "d"])
    assert_usage_error(
        capsys, [str(other), "--data", str(tiny_run.parent / "data")], "labels.txt", "differ"
    )


def test_a_saved_model_without_data_is_a_usage_error(saved_model, capsys):
    assert_usage_error(capsys, [str(saved_model)], "--data")
