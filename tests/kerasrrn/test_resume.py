import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.kerasrrn.tiny_run import tiny_run_argv

STEPS_PER_EPOCH, EPOCHS = 6, 3


def history_epochs(run):
    path = run / "history.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as stream:
        return [row["epoch"] for row in csv.DictReader(stream)]


def kill_mid_epoch(process, run, timeout=240):
    """Pauses the run whenever it is inspected; kills it once a backup was taken in the
    middle of the second epoch (after epoch 0's files, before epoch 1's row)."""
    backup = run / "backup" / "state.weights.h5"
    last = run / "checkpoints" / "last.keras"
    deadline = time.time() + timeout
    epoch_end_backup = None
    while time.time() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGSTOP)
        rows = history_epochs(run)
        epoch_saved = last.stat().st_mtime_ns if last.is_file() else None
        backup_saved = backup.stat().st_mtime_ns if backup.is_file() else None
        if rows == ["0"] and epoch_saved and backup_saved and backup_saved > epoch_saved:
            if epoch_end_backup is None:
                epoch_end_backup = backup_saved  # written right after epoch 0's checkpoints
            elif backup_saved > epoch_end_backup:  # the next one: mid-epoch 1
                process.kill()
                process.wait()
                return
        process.send_signal(signal.SIGCONT)
        time.sleep(0.02)
    process.kill()
    pytest.fail("no mid-epoch backup appeared in time")


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_exactly_the_planned_steps(tmp_path):
    argv = [sys.executable, "-m", "kerasrrn.fit", *tiny_run_argv(tmp_path, "killed"),
            "--epochs", str(EPOCHS), "--steps-per-epoch", str(STEPS_PER_EPOCH), "--backup-every", "2"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = tmp_path / "killed"
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        kill_mid_epoch(process, run)
    finally:
        if process.poll() is None:
            process.kill()
    assert not (run / "metrics.json").exists()

    resumed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    line = next(l for l in resumed.stdout.splitlines() if l.startswith("Resuming from the backup"))
    done = int(line.split("at step ")[1].split()[0])
    assert STEPS_PER_EPOCH < done < 2 * STEPS_PER_EPOCH  # inside the second epoch

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == EPOCHS * STEPS_PER_EPOCH
    assert history_epochs(run) == ["0", "1", "2"]
    assert not (run / "backup").exists()

    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "is complete" in again.stdout
    assert history_epochs(run) == ["0", "1", "2"]
