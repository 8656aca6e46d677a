"""Issue #14 item 18: every command answers `--help` and usage errors (a bad choice, number or
flag, a config rule) at once and cleanly, without importing TensorFlow or Keras; checked in real
processes, with `python -X importtime` listing every module they imported."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[2]
COMMANDS = ["kerasrrn", "kerasrrn.fit", "kerasrrn.evaluate", "kerasrrn.predict", "kerasrrn.export", "kerasrrn.fuse",
            "kerasrrn.stream", "kerasrrn.preview", "kerasrrn.serve_client", "tuning", "tuning.search"]
# (command, argv, what the error line names)
USAGE_ERRORS = [
    ("kerasrrn", ["--epochs", "0"], "--epochs: expected a value >= 1, got 0"),
    ("kerasrrn.fit", ["--skip-kind", "bogus"], "--skip-kind: expected one of identity, scalar, channel, conv"),
    ("kerasrrn.fit", ["--epochs", "0"], "--epochs: expected a value >= 1, got 0"),
    ("kerasrrn.fit", ["--skip-units", "conv9_block1"], "--skip-units conv9_block1: Unknown residual unit"),
    ("kerasrrn.fit", ["--bogus"], "unrecognized arguments: --bogus"),
    ("kerasrrn.evaluate", ["RUN", "--num-test-clips", "0"], "--num-test-clips: expected an integer >= 1, got '0'"),
    ("kerasrrn.predict", ["RUN", "VIDEO", "--top-k", "0"], "--top-k: expected an integer >= 1, got '0'"),
    ("kerasrrn.export", ["RUN", "--version", "next"], "--version: invalid int value: 'next'"),
    ("kerasrrn.fuse", ["--streams", "A", "B", "--batch-size", "many"], "--batch-size: invalid int value: 'many'"),
    ("kerasrrn.stream", ["RUN", "SOURCE", "--every", "0"], "--every: expected an integer >= 1, got '0'"),
    ("kerasrrn.preview", ["DATA", "--train-crop", "bogus"], "--train-crop: invalid choice: 'bogus'"),
    ("kerasrrn.serve_client", ["VIDEO", "--url", "URL", "--signature", "bogus"], "--signature: invalid choice"),
    ("tuning.search", ["skip", "--epochs", "0"], "--epochs: expected a value >= 1, got 0"),
    ("tuning.search", ["fusion", "--streams", "A", "B", "C", "--tuner", "hyperband"], "--tuner: invalid choice"),
]


def run(command, argv):
    """(exit status, stdout, stderr lines that are not importtime's, modules imported)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", command, *argv],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    lines = result.stderr.splitlines()
    # `import time: self [us] | cumulative | <indented module name>`
    modules = {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}
    return result.returncode, result.stdout, [line for line in lines if not line.startswith("import time:")], modules


def heavy(modules):
    return sorted(name for name in modules if name.split(".")[0] in ("tensorflow", "keras", "keras_tuner"))


@pytest.mark.parametrize("command", COMMANDS)
def test_help_answers_without_tensorflow(command):
    status, out, errors, modules = run(command, ["--help"])
    assert status == 0 and errors == []
    assert out.startswith("usage: python -m ")
    assert "pipelines.cli" in modules and heavy(modules) == []


@pytest.mark.parametrize("command, argv, message", USAGE_ERRORS)
def test_a_usage_error_is_one_line_without_tensorflow(command, argv, message):
    status, out, errors, modules = run(command, argv)
    assert status == 2 and out == ""
    assert len(errors) == 1 and errors[0].startswith("python -m ") and ": error: " in errors[0], errors
    assert message in errors[0]
    assert heavy(modules) == []


def test_a_plain_import_still_registers_every_custom_object():
    """Only `python -m` skips the registration; `-c` (as any program that imports the package)
    gets every custom object and the public names."""
    code = ("import keras, kerasrrn; "
            "print(keras.saving.get_registered_object('kerasrrn>WarmupDecay') is kerasrrn.WarmupDecay)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True"]
