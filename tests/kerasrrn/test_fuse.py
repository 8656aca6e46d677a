import json

import keras
import numpy as np
import pytest

from kerasrrn import config as config_lib
from kerasrrn import fit, fuse
from kerasrrn.commands import fuse as fuse_work
from kerasrrn.evaluation import metrics, views as evaluation
from kerasrrn.runs.data import load_run_data
from tests.kerasrrn.tiny_run import CLIP_LENGTH, IMAGE_SIZE, tiny_run_argv

STREAMS = ("low", "mid", "high")


@pytest.fixture(scope="session")
def stream_runs(tmp_path_factory):
    """Three MRRN streams trained for one epoch on the tiny synthetic dataset."""
    root = tmp_path_factory.mktemp("streams")
    for stream in STREAMS:
        fit.main([*tiny_run_argv(root, stream), "--epochs", "1", "--model", "mrrn", "--stream", stream,
                  "--sru-units", "8", "--sru-layers", "1"])
    return [root / stream for stream in STREAMS]


def run_fuse(capsys, *argv):
    """Runs the command; returns (exit status, stdout, stderr)."""
    try:
        status = fuse.main(list(argv))
    except SystemExit as exit:
        status = exit.code
    return (status, *capsys.readouterr())


@pytest.mark.slow
def test_fuse_writes_a_run_directory_with_the_evaluated_fused_model(stream_runs, tmp_path, capsys):
    out = tmp_path / "fused"
    capsys.readouterr()
    status, printed, _ = run_fuse(capsys, "--streams", *map(str, stream_runs), "--weights", "2,3,5",
                                  "--out", str(out), "--verbose", "0")
    assert status == 0
    assert "fused" in printed and "mrrn_mid" in printed
    weights = [0.2, 0.3, 0.5]
    fusion = json.loads((out / "fusion.json").read_text())["streams"]
    assert [entry["weight"] for entry in fusion] == pytest.approx(weights)
    assert [entry["model"] for entry in fusion] == [f"mrrn_{stream}" for stream in STREAMS]
    for name in ("metrics.json", "confusion_matrix.png", "per_class_accuracy.png"):
        assert (out / name).is_file()

    config = config_lib.load(out / "config.json")
    assert (config.data.clip_length, config.data.image_size, config.run_path) == (CLIP_LENGTH, IMAGE_SIZE, out)
    streams = [keras.saving.load_model(run / "checkpoints" / "best.keras") for run in stream_runs]
    fused = keras.saving.load_model(out / "checkpoints" / "best.keras")
    clips = np.random.default_rng(0).uniform(0, 255, (2, CLIP_LENGTH, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    expected = sum(w * np.asarray(model(clips)) for w, model in zip(weights, streams))
    np.testing.assert_allclose(np.asarray(fused(clips)), expected, atol=1e-6)

    report = json.loads((out / "metrics.json").read_text())
    # Each stream scores as `fit` evaluated it (same checkpoint, split and views).
    for entry, run in zip(report["streams"], stream_runs):
        own = json.loads((run / "metrics.json").read_text())
        assert (entry["top1"], entry["mean_class_accuracy"]) == pytest.approx((own["top1"], own["mean_class_accuracy"]))
    # The fused report equals the weighted average of the streams' view scores, averaged per video.
    data = load_run_data(config)
    views = [evaluation.predict_views(model, data.eval_dataset(data.val_split, 4), verbose=0) for model in streams]
    video_ids, video_scores = metrics.aggregate_clip_scores(views[0][0], sum(w * v[2] for w, v in zip(weights, views)))
    label_of = dict(zip(views[0][0], views[0][1]))
    video_labels = np.array([label_of[video] for video in video_ids])
    assert report["top1"] == pytest.approx(metrics.top_k_accuracy(video_labels, video_scores, 1))
    assert report["confusion_matrix"] == metrics.confusion_matrix(
        video_labels, video_scores.argmax(axis=1), len(data.class_names)).tolist()


def fake_run(root, name, **data_fields):
    """A run directory with a config, its synthetic dataset and an empty checkpoint file: all
    that `fuse` reads before it loads a model."""
    tiny_data = dict(data_dir=str(root / f"data-{name}"), image_size=IMAGE_SIZE, clip_length=CLIP_LENGTH,
                     synthetic_num_classes=4, synthetic_videos_per_class=2, synthetic_frames=8,
                     synthetic_frame_size=IMAGE_SIZE)
    config = config_lib.Config(data=config_lib.DataConfig(**{**tiny_data, **data_fields}))
    load_run_data(config)
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.keras").write_bytes(b"")
    config_lib.save(config, run / "config.json")
    return str(run)


@pytest.mark.parametrize("other, message", [
    (dict(clip_length=8), "has clip length 8"),
    (dict(image_size=48), "has image size 48"),
    (dict(synthetic_num_classes=3), "has class names"),
])
def test_streams_that_take_other_clips_or_data_exit_2_with_one_line(tmp_path, capsys, other, message):
    streams = [fake_run(tmp_path, "a"), fake_run(tmp_path, "b", **other)]
    status, _, error = run_fuse(capsys, "--streams", *streams)
    assert status == 2
    assert message in error and error.count("\n") == 1


@pytest.mark.parametrize("weights, message", [
    ("1", "expected one weight per stream (2), got 1"),
    ("-1,2", "non-negative"),
    ("0,0", "positive sum"),
    ("a,b", "comma-separated numbers"),
])
def test_bad_weights_exit_2_with_one_line(tmp_path, capsys, weights, message):
    streams = [fake_run(tmp_path, "a"), fake_run(tmp_path, "b")]
    status, _, error = run_fuse(capsys, "--streams", *streams, f"--weights={weights}")
    assert status == 2
    assert f"--weights {weights}: " in error and message in error and error.count("\n") == 1


def test_weights_are_normalised_and_default_to_equal():
    assert fuse_work.parse_weights("2,3,5", 3) == pytest.approx([0.2, 0.3, 0.5])
    assert fuse_work.parse_weights("", 4) == [0.25] * 4


def test_missing_checkpoints_single_streams_and_reused_outputs_exit_2(tmp_path, capsys):
    run = fake_run(tmp_path, "a")
    status, _, error = run_fuse(capsys, "--streams", run)
    assert (status, error.count("\n")) == (2, 1) and "at least 2 run directories" in error
    status, _, error = run_fuse(capsys, "--streams", run, str(tmp_path / "missing"))
    assert (status, error.count("\n")) == (2, 1) and "missing: no config.json" in error
    out = tmp_path / "out"
    out.mkdir()
    (out / "fusion.json").write_text(json.dumps({"streams": [{"run": run, "weight": 1.0}]}))
    status, _, error = run_fuse(capsys, "--streams", run, fake_run(tmp_path, "b"), "--out", str(out))
    assert (status, error.count("\n")) == (2, 1) and "holds a fusion of other streams" in error
