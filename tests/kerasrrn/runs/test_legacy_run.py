"""A run directory written by the main branch before the package layout changed (commit
20b9d58: `kerasrrn.fit` of the tiny run at width 0.0625, killed by SIGKILL after its first
epoch and backup; `tests/fixtures/legacy_run/`) still loads, evaluates and resumes."""

import csv
import json
import pathlib
import shutil

import keras
import numpy as np
import pytest

import kerasrrn  # noqa: F401  (registers the custom objects)
from kerasrrn import evaluate, fit
from kerasrrn.runs.loading import TrainedRun, load_model

FIXTURE = pathlib.Path(__file__).parents[2] / "fixtures" / "legacy_run"


@pytest.fixture
def legacy_run(tmp_path, monkeypatch):
    """The fixture copied to `tmp_path/runs/legacy`; its config names `data` and `runs`
    relatively, so the synthetic dataset is regenerated under `tmp_path`."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURE, tmp_path / "runs" / "legacy")
    return tmp_path / "runs" / "legacy"


def history_rows(run):
    with open(run / "history.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def test_the_old_checkpoint_loads_and_predicts_like_its_weights(legacy_run):
    run = TrainedRun.open(legacy_run)
    model = run.load_model()
    assert model.name == "rrn" and any(isinstance(layer, kerasrrn.TemporalSkip) for layer in model.layers)
    assert model.output_shape == (None, 4)
    clips = np.random.default_rng(0).integers(0, 256, (2, 4, 32, 32, 3)).astype("float32")
    probabilities = np.asarray(model(clips, training=False))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # The compiled optimizer (WarmupDecay schedule) and loss come back too.
    assert int(model.optimizer.iterations) == 4 and isinstance(model.loss, kerasrrn.SparseSmoothedCrossentropy)


def test_the_old_run_evaluates_and_resumes_to_completion(legacy_run, capsys):
    first_epoch = history_rows(legacy_run)
    assert fit.main(["--resume", str(legacy_run)]) == 0
    out = capsys.readouterr().out
    assert "Resuming from the backup at step 4 of 8 (epoch 2, step 0)" in out
    rows = history_rows(legacy_run)
    assert [row["epoch"] for row in rows] == ["0", "1"] and rows[0] == first_epoch[0]
    assert not (legacy_run / "backup").exists()
    report = json.loads((legacy_run / "metrics.json").read_text())
    assert report["steps"] == 8 and report["num_samples"] == 16
    loaded = load_model(legacy_run)
    assert len(loaded.class_names) == 4 and loaded.data.path.name == "data"
    assert evaluate.main([str(legacy_run), "--split", "validation", "--verbose", "0"]) == 0
    assert keras.saving.load_model(legacy_run / "checkpoints" / "last.keras").optimizer.iterations == 8
