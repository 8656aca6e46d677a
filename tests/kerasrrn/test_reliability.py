"""Issue #14 for `kerasrrn`: a kill at any moment of `fit`, `evaluate` or `export` loses
nothing and is not silently wrong. Kills are simulated by the state they leave: an exception
at the named moment (nothing of the run is cleaned up on the way out), a truncated checkpoint,
a backup's temporary file."""

import errno
import json
import os
import pathlib
import re
import shutil

import keras
import pytest
import tensorflow as tf

from kerasrrn import evaluate, export, fit, predict
from kerasrrn.commands import export as export_work, fit as fit_work
from kerasrrn.evaluation import reports
from kerasrrn.runs import fusion
from kerasrrn.runs.loading import TrainedRun
from kerasrrn.training.callbacks import AtomicModelCheckpoint
from pipelines import records
from pipelines.sources import synthetic
from tests.kerasrrn.tiny_run import tiny_run_argv
from tests.pipelines.test_reliability import damaged_dataset


class Killed(BaseException):
    """Stands for SIGKILL: raised at the named moment, caught by no `except Exception`."""


def kill(*args, **kwargs):
    raise Killed


def copied_run(tiny_run, tmp_path):
    """A copy of the session's tiny run, to damage (it resumes with `--resume`)."""
    return pathlib.Path(shutil.copytree(tiny_run, tmp_path / tiny_run.name))


@pytest.mark.slow
def test_a_run_killed_after_training_finishes_evaluation_and_export_only(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # fit exports to ./saved_models
    argv = [flag for flag in tiny_run_argv(tmp_path, "k") if flag != "--no-export"]
    run, model_path = tmp_path / "k", tmp_path / "saved_models" / "k"
    monkeypatch.setattr(fit_work, "evaluate_best", kill)
    with pytest.raises(Killed):
        fit.main(argv)
    history = (run / "history.csv").read_text()
    best = (run / "checkpoints" / "best.keras").read_bytes()
    assert (run / "backup" / "state.weights.h5").is_file() and not (run / "metrics.json").exists()

    # Killed again, this time while exporting: a staging directory of a dead process is left.
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    stale = model_path / ".1.tmp-999999999-x"

    def killed_export(run_path):
        (stale / "saved_model").mkdir(parents=True)
        raise Killed

    monkeypatch.setattr(fit_work, "export_run", killed_export)
    with pytest.raises(Killed):
        fit.main(argv)
    assert "Training finished earlier" in capsys.readouterr().out
    assert (run / "metrics.json").is_file() and (run / "backup").is_dir()

    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert fit.main(argv) == 0
    printed = capsys.readouterr().out
    assert "Training finished earlier" in printed and "Exported" in printed
    assert (run / "history.csv").read_text() == history  # not retrained
    assert (run / "checkpoints" / "best.keras").read_bytes() == best
    steps_per_epoch = records.read_dataset_info(tmp_path / "data")["splits"]["train"]["videos"] // 4
    assert json.loads((run / "metrics.json").read_text())["steps"] == 2 * steps_per_epoch
    assert (model_path / "1" / "saved_model.pb").is_file() and not stale.exists()
    assert not (run / "backup").exists()
    assert fit.main(argv) == 0 and "is complete" in capsys.readouterr().out


def test_a_backup_temporary_file_does_not_make_a_complete_run_train_again(tiny_run, tmp_path, capsys):
    run = copied_run(tiny_run, tmp_path)
    (run / "backup").mkdir()
    (run / "backup" / "tmp-12345.weights.h5").write_bytes(b"killed while saving")
    history = (run / "history.csv").read_text()
    assert fit.main(["--resume", str(run)]) == 0
    assert "is complete" in capsys.readouterr().out
    assert not (run / "backup").exists() and (run / "history.csv").read_text() == history


def test_a_kill_while_a_checkpoint_is_written_keeps_the_previous_one(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    path = tmp_path / "last.keras"
    callback = AtomicModelCheckpoint(path)
    callback.set_model(model)
    callback.on_epoch_end(0, {"loss": 1.0})
    whole = path.read_bytes()

    def killed_while_saving(filepath, *args, **kwargs):
        pathlib.Path(filepath).write_bytes(whole[: len(whole) // 2])
        raise Killed

    monkeypatch.setattr(model, "save", killed_while_saving)
    with pytest.raises(Killed):
        callback.on_epoch_end(1, {"loss": 0.5})
    assert path.read_bytes() == whole


def test_a_truncated_best_checkpoint_falls_back_to_the_last_with_a_warning(tiny_run, tmp_path, capsys):
    run = copied_run(tiny_run, tmp_path)
    best = run / "checkpoints" / "best.keras"
    best.write_bytes(best.read_bytes()[:1000])
    assert evaluate.main([str(run), "--split", "validation", "--out", str(tmp_path / "eval"), "--verbose", "0"]) == 0
    captured = capsys.readouterr()
    warning = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and str(best) in warning[0] and "last.keras instead" in warning[0]
    assert "(checkpoints/last.keras)" in captured.out


def test_labels_outside_the_classes_fail_fit_with_one_line(tmp_path, capsys):
    data = tmp_path / "data"
    synthetic.write_synthetic_dataset(data, 4, 4, 32, 8, 0)
    info = records.read_dataset_info(data)
    info["class_names"] = info["class_names"][:2]  # labels 2 and 3 are now out of range
    records.write_dataset_info(data, info)
    argv = [*tiny_run_argv(tmp_path, "labels"), "--source", "prepared"]
    assert fit.main(argv) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "a label outside the classes" in error and "split train:" in error, error


@pytest.mark.parametrize("command, flag", [(fit, "--run-dir"), (evaluate, "--out")])
def test_an_output_directory_that_is_a_file_is_one_line_before_any_work(command, flag, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    argv = tiny_run_argv(tmp_path) if command is fit else [str(tmp_path / "no-run")]
    with pytest.raises(SystemExit) as exit_info:
        command.main([*argv, flag, str(tmp_path / "file")])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and error.count("\n") == 1 and "is not a directory" in error
    assert not (tmp_path / "data").exists()


def one_error_line(capsys):
    """stderr's only line (asserting there is exactly one, no traceback)."""
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    return error


@pytest.mark.parametrize("damage, expected", [
    ("truncated", r"train-00000-of-00001\.tfrecord: record 1 \(byte \d+\): truncated"),
    ("more_listed", r"dataset\.json: split train lists 17 videos, its shards hold 16 records"),
    ("fewer_listed", r"dataset\.json: split train lists 15 videos, its shards hold 16 records"),
    ("garbled_data", r"train-00000-of-00001\.tfrecord: record 1 \(byte \d+\): garbled, its data"),
    ("bad_jpeg", r"train-00000-of-00001\.tfrecord: record 1 \(media id [^)]+\): a frame is not a decodable JPEG"),
])
def test_a_damaged_dataset_stops_fit_with_one_line_naming_the_shard(damage, expected, tmp_path, capsys):
    damaged_dataset(tmp_path / "data", damage)
    argv = [*tiny_run_argv(tmp_path, "damaged"), "--source", "prepared"]
    assert fit.main(argv) == 1
    assert re.search(expected, one_error_line(capsys))
    assert not (tmp_path / "damaged" / "metrics.json").exists()


@pytest.mark.parametrize("damage, expected", [
    ("fewer_listed", r"dataset\.json: split validation lists 15 videos"),
    ("bad_jpeg", r"validation-00000-of-00001\.tfrecord: record 1 \(media id [^)]+\): a frame is not"),
    ("bad_label", "a label outside the classes in .*, split validation: dataset.json lists 4"),
])
def test_a_damaged_dataset_stops_evaluate_with_one_line(damage, expected, tiny_run, tmp_path, capsys):
    data = tmp_path / "data"
    damaged_dataset(data, damage, split="validation")
    argv = [str(tiny_run), "--data", str(data), "--split", "validation", "--out", str(tmp_path / "eval"),
            "--verbose", "0"]
    assert evaluate.main(argv) == 1
    assert re.search(expected, one_error_line(capsys))
    assert not (tmp_path / "eval" / "metrics.json").exists()


PARTIAL = b"PK\x03\x04 half a file"


def full_disk():
    """What a write on a full disk raises (a failed write names no file)."""
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("writer, named", [
    ("checkpoint", "checkpoints/best.keras"), ("backup", "backup/state.weights.h5"), ("history", ""),
])
def test_a_full_disk_while_fit_writes_is_one_line_and_leaves_no_partial_file(
        writer, named, tmp_path, monkeypatch, capsys):
    def partly_written(self, filepath, *args, **kwargs):
        pathlib.Path(filepath).write_bytes(b"PK\x03\x04 half a file")
        raise full_disk()

    def history_row(self, epoch, logs=None):
        raise full_disk()

    target = {"checkpoint": (keras.Model, "save", partly_written),
              "backup": (keras.Model, "save_weights", partly_written),
              "history": (keras.callbacks.CSVLogger, "on_epoch_end", history_row)}[writer]
    monkeypatch.setattr(*target)
    run = tmp_path / "full"
    assert fit.main(tiny_run_argv(tmp_path, "full")) == 1
    assert one_error_line(capsys).endswith(f"error: no space left on device writing {run / named}".rstrip("/") + "\n")
    files = [path for path in run.rglob("*") if path.is_file()]
    partial = [path for path in files if "tmp" in path.name or path.read_bytes() == PARTIAL]
    assert not partial


def test_a_metrics_file_cut_short_by_a_full_disk_is_not_trusted_by_the_rerun(tmp_path, monkeypatch, capsys):
    def partly_written(report, out_dir, prefix=""):
        (pathlib.Path(out_dir) / "metrics.json").write_text('{"top1": 0.')
        raise full_disk()

    monkeypatch.setattr(reports, "write_report", partly_written)
    argv, run = tiny_run_argv(tmp_path, "metrics"), tmp_path / "metrics"
    assert fit.main(argv) == 1
    assert one_error_line(capsys).endswith(f"no space left on device writing {run}\n")
    monkeypatch.undo()
    assert fit.main(argv) == 0
    assert "Training finished earlier" in capsys.readouterr().out
    assert json.loads((run / "metrics.json").read_text())["top1"] >= 0


def test_a_full_disk_while_exporting_is_one_line_and_leaves_no_version(tiny_run, tmp_path, monkeypatch, capsys):
    class FullDiskArchive:
        """Writes what TensorFlow's SaveV2 writes before the disk is full, then raises as it does."""

        def write_out(self, export_dir, **kwargs):
            pathlib.Path(export_dir, "variables").mkdir(parents=True)
            message = f"{export_dir}/variables/x.tempstate1; No space left on device"
            raise tf.errors.ResourceExhaustedError(None, None, message)

    monkeypatch.setattr(export_work, "build_archive", lambda *args: FullDiskArchive())
    out = tmp_path / "saved_models"
    assert export.main([str(tiny_run), "--out", str(out), "--name", "m"]) == 1
    assert one_error_line(capsys).endswith(f"error: no space left on device writing {out / 'm'}\n")
    assert [path.name for path in out.rglob("*")] == ["m"]  # no version, no staging directory


def test_fuse_loads_the_last_checkpoint_of_a_stream_whose_best_is_truncated(tiny_run, tmp_path, capsys):
    runs = [copied_run(tiny_run, tmp_path / name) for name in ("a", "b")]
    best = runs[1] / "checkpoints" / "best.keras"
    best.write_bytes(best.read_bytes()[:1000])
    models = fusion.load_stream_models([TrainedRun.open(run) for run in runs])
    assert len(models) == 2
    warning = one_error_line(capsys)
    assert warning.startswith("warning: ") and str(best) in warning and "last.keras instead" in warning


def test_a_dataset_json_that_is_not_json_stops_predict_with_one_line(tiny_run, tmp_path, capsys):
    (tmp_path / records.DATASET_JSON).write_text('{"class_names": [')
    assert predict.main([str(tiny_run), str(tmp_path / "video.avi"), "--data", str(tmp_path)]) == 1
    assert f"{tmp_path / records.DATASET_JSON}: not valid JSON" in one_error_line(capsys)
