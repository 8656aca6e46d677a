import csv
import json

import keras
import numpy as np
import pytest

from kerasrrn import config as config_lib
from kerasrrn.cli import flags
from kerasrrn.fit import build_parser, main
from tests.kerasrrn.tiny_run import tiny_run_argv

def test_run_directory_holds_every_artifact(tiny_run):
    run = tiny_run
    argv = tiny_run_argv(run.parent, run.name)
    config = config_lib.load(run / "config.json")
    assert config == flags.parse_config(build_parser(), argv)[1]
    for name in ("best.keras", "last.keras"):
        model = keras.saving.load_model(run / "checkpoints" / name)
        skip = model.get_layer("conv4_block2_temporal_skip")
        assert (skip.delay, skip.kind, skip.init) == (config.model.skip_delay, config.model.skip_kind, config.model.skip_init)
        assert model.output.shape == (None, 4)
    with open(run / "history.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert {"loss", "top1", "top5", "val_loss", "val_top1", "val_top5"} <= set(rows[0])
    assert list((run / "logs").rglob("events.out.tfevents.*"))
    assert not (run / "backup").exists()  # removed once training completed
    for png in ("curves.png", "confusion_matrix.png", "per_class_accuracy.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_are_the_video_level_evaluation_of_the_best_checkpoint(tiny_run):
    run = tiny_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "validation"
    assert metrics["num_samples"] == 16  # 4 classes x max(4, 4 // 3) validation videos
    assert metrics["num_views"] == 32  # 2 test clips per video
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.sum() == 16
    assert metrics["top1"] == pytest.approx(np.trace(confusion) / 16)


def test_rerun_with_another_config_under_the_same_name_is_refused(tiny_run, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*tiny_run_argv(tiny_run.parent, tiny_run.name), "--skip-delay", "3"])
    assert exit_info.value.code == 2
    assert "holds a run with a different config" in capsys.readouterr().err


def test_a_compiled_checkpoint_loads_after_a_plain_package_import(tiny_run):
    """The optimizer's schedule and the loss are custom objects: `import kerasrrn` alone must
    register them (as TF Serving users and other processes do)."""
    import subprocess
    import sys

    code = ("import keras, kerasrrn, sys; m = keras.saving.load_model(sys.argv[1]); "
            "print(m.optimizer.get_config()['learning_rate']['class_name'], type(m.loss).__name__)")
    result = subprocess.run([sys.executable, "-c", code, str(tiny_run / "checkpoints" / "last.keras")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["WarmupDecay", "SparseSmoothedCrossentropy"]


def test_resume_takes_the_run_directory_and_nothing_else(tiny_run, tmp_path, capsys):
    assert main(["--resume", str(tiny_run)]) == 0
    assert "is complete" in capsys.readouterr().out
    for argv, message in [
        (["--resume", str(tiny_run), "--epochs", "9"], "the run keeps its own config; drop --epochs"),
        (["--resume", str(tmp_path)], "no config.json there"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
