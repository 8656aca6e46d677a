"""`python -m tuning.search`: both commands end to end, failed trials, kill and resume, distribution."""

import csv
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from kerasrrn import config as config_lib
from kerasrrn.cli import flags
from kerasrrn.models.resnet import SkipSpec, check_skips
from tuning import fusion, search

REPO = pathlib.Path(__file__).resolve().parents[2]
SYNTHETIC = ["--synthetic-num-classes", "4", "--synthetic-videos-per-class", "4", "--synthetic-frames", "8",
             "--synthetic-frame-size", "32"]
TINY = ["--image-size", "32", "--clip-length", "4", "--frame-step", "1", "--width", "0.125", "--batch-size", "4",
        "--num-test-clips", "2", "--skip-units", "conv4_block2", "--verbose", "0"]
PROCESS_TIMEOUT = 240


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from kerasrrn import fit
    from kerasrrn.runs.data import load_run_data

    path = tmp_path_factory.mktemp("tuning") / "data"
    _, config = flags.parse_config(fit.build_parser(), ["--data-dir", str(path), *SYNTHETIC, *TINY])
    load_run_data(config)
    return path


@pytest.fixture(scope="module")
def trained_run(data_dir):
    from kerasrrn import fit

    runs = data_dir.parent / "runs"
    fit.main(["--run-dir", str(runs), "--name", "stream", "--data-dir", str(data_dir), *SYNTHETIC, *TINY,
              "--epochs", "1"])
    return runs / "stream"


def read_rows(csv_path):
    with open(csv_path, newline="") as csv_file:
        return list(csv.DictReader(csv_file))


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("python -m tuning.search")]


@pytest.mark.parametrize("arguments, message", [
    (["skip", "--tuner", "hyperband", "--max-trials", "3"], "--max-trials: Hyperband"),
    (["skip", "--max-trials", "0"], "argument --max-trials: expected an integer >= 1"),
    (["skip", "--worker", "chief2"], "--worker chief2"),
    (["skip", "--worker", "1", "--overwrite"], "--overwrite: only the chief"),
    (["skip", "--model", "resnet"], "--model resnet: the skip search tunes rrn models"),
    (["skip", "--clip-length", "1"], "--clip-length 1"),
    (["skip", "--freeze-backbone-epochs", "1"], "--freeze-backbone-epochs 1: not available"),
    (["fusion", "--streams", "runs/none", "runs/none", "runs/none"], "--streams runs/none: no config.json"),
])
def test_usage_errors_are_one_line_with_exit_status_2(capsys, arguments, message):
    with pytest.raises(SystemExit) as exit_info:
        search.main(arguments)
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert len(stderr.strip().splitlines()) == 1 and message in stderr


@pytest.mark.slow
def test_skip_search_writes_results_and_a_best_json_that_fit_trains(tmp_path, data_dir, capsys):
    from kerasrrn import fit

    directory = tmp_path / "search"
    code = search.main(["skip", "--tuner", "random", "--max-trials", "2", "--epochs", "1",
                        "--directory", str(directory), "--data-dir", str(data_dir), *SYNTHETIC, *TINY])
    assert code == 0
    project = directory / "skip"
    rows = read_rows(project / "results.csv")
    assert [row["trial_id"] for row in rows] == ["0", "1"]
    assert all(row["status"] == "COMPLETED" and 0 <= float(row["score"]) <= 1 for row in rows)
    assert (project / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best_row = max(rows, key=lambda row: float(row["score"]))

    best = config_lib.load(project / "best.json")
    assert best.model.skip_units == best_row["skip_units"].split()
    assert (best.model.skip_kind, best.model.skip_delay) == (best_row["kind"], int(best_row["delay"]))
    assert best.train.learning_rate == pytest.approx(float(best_row["learning_rate"]))
    spec = SkipSpec(best.model.skip_delay, best.model.skip_kind, best.model.skip_span)
    check_skips(18, {unit: spec for unit in best.model.skip_units}, 4)

    fit.main(["--config", str(project / "best.json"), "--epochs", "1", "--run-dir", str(tmp_path / "runs"),
              "--name", "best"])
    run = tmp_path / "runs" / "best"
    assert json.loads((run / "config.json").read_text())["model"] == json.loads(
        (project / "best.json").read_text())["model"]
    assert 0 <= json.loads((run / "metrics.json").read_text())["top1"] <= 1


@pytest.mark.slow
def test_a_shard_that_is_not_a_tfrecord_stops_the_search_before_any_trial(tmp_path, data_dir, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(data_dir, broken)
    for shard in broken.glob("train-*.tfrecord"):
        shard.write_bytes(b"not a tfrecord" * 100)
    # The data is checked as the base point is read; damaged data is not a usage error: exit 1.
    assert search.main(["skip", "--tuner", "random", "--max-trials", "3", "--epochs", "1", "--source", "prepared",
                        "--directory", str(tmp_path / "search"), "--data-dir", str(broken), *TINY]) == 1
    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and re.search(r"train-00000-of-00001\.tfrecord: record 0 .*garbled", errors[0]), errors
    assert not (tmp_path / "search" / "skip" / "results.csv").exists()


def test_failed_trials_make_the_search_exit_1_naming_the_count_and_first_error(tmp_path, data_dir, capsys):
    """Training records whose framing is sound but whose payload is not a SequenceExample:
    every trial fails when it parses them."""
    from pipelines import records

    broken = tmp_path / "broken"
    shutil.copytree(data_dir, broken)
    for shard in broken.glob("train-*.tfrecord"):
        count = records.count_records(shard)
        with records.ShardWriter(shard) as writer:
            for _ in range(count):
                writer.write(b"not a SequenceExample")
    code = search.main(["skip", "--tuner", "random", "--max-trials", "3", "--epochs", "1", "--source", "prepared",
                        "--directory", str(tmp_path / "search"), "--data-dir", str(broken), *TINY])
    assert code == 1
    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1
    assert re.fullmatch(r"python -m tuning\.search: error: 3 of 3 trials failed; first: trial 0: .*protocol message.*",
                        errors[0], flags=re.IGNORECASE), errors[0]
    rows = read_rows(tmp_path / "search" / "skip" / "results.csv")
    assert [row["status"] for row in rows] == ["FAILED"] * 3
    assert not (tmp_path / "search" / "skip" / "best.json").exists()


def fusion_command(stream, directory, max_trials, *extra):
    return [sys.executable, "-m", "tuning.search", "fusion", "--streams", str(stream), str(stream), str(stream),
            "--max-trials", str(max_trials), "--directory", str(directory), "--verbose", "1", *extra]


def subprocess_env():
    # Unbuffered: the log of a process that is killed holds every line it printed.
    return {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def trial_files(project):
    return sorted(project.glob("trial_*/trial.json"))


def completed(project):
    return [path for path in trial_files(project) if json.loads(path.read_text())["status"] == "COMPLETED"]


def wait_for_completed(project, count, processes, timeout=PROCESS_TIMEOUT):
    deadline = time.time() + timeout
    while len(completed(project)) < count:
        assert time.time() < deadline, f"fewer than {count} trials completed in {timeout} s"
        assert all(process.poll() is None for process in processes), "a search process ended early"
        time.sleep(0.05)


def check_every_trial_ran_once(project, max_trials):
    """Every trial of the project completed, and none twice, over a kill and a restart.

    Keras Tuner's `oracle.json` lists each trial's end in `end_order` and counts them in
    `run_times`: a completed trial run again after the restart would count twice. (The logs
    cannot show this alone: `Oracle.end_trial` saves the trial, then prints "Trial N Complete",
    and a kill between the two leaves a completed trial that no log reports.)
    """
    ids = sorted(json.loads(path.read_text())["trial_id"] for path in completed(project))
    assert len(ids) == len(trial_files(project)) == max_trials
    state = json.loads((project / "oracle.json").read_text())
    assert sorted(state["end_order"]) == ids and set(state["run_times"].values()) == {1}, state["run_times"]


def completed_numbers(log_path):
    """Trial numbers that Keras Tuner reported complete in a log (`Trial 7 Complete [...]`)."""
    return [int(number) for number in re.findall(r"^Trial (\d+) Complete", log_path.read_text(), re.MULTILINE)]


def start(command, log_path):
    """Starts a search process writing stdout and stderr to `log_path`."""
    with open(log_path, "w") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=subprocess_env(), cwd=REPO)


def stop(processes):
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


@pytest.mark.slow
def test_a_killed_fusion_search_continues_without_losing_or_repeating_trials(tmp_path, trained_run):
    max_trials = 30
    command = fusion_command(trained_run, tmp_path, max_trials)
    project = tmp_path / "fusion"
    first = start(command, tmp_path / "first.log")
    try:
        wait_for_completed(project, 3, [first])
    finally:
        stop([first])
    before = {path: path.read_text() for path in completed(project)}
    assert len(before) < max_trials

    second = subprocess.run(command, capture_output=True, text=True, env=subprocess_env(), cwd=REPO,
                            timeout=PROCESS_TIMEOUT)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    (tmp_path / "second.log").write_text(second.stdout)
    assert "Reloading Tuner" in second.stdout
    check_every_trial_ran_once(project, max_trials)
    # Trial N has id N - 1: the restart reports every trial that was not complete at the kill.
    numbers_before = {int(json.loads(text)["trial_id"]) + 1 for text in before.values()}
    assert completed_numbers(tmp_path / "second.log") == sorted(set(range(1, max_trials + 1)) - numbers_before)
    assert all(path.read_text() == text for path, text in before.items())

    summary = json.loads((project / "fusion.json").read_text())
    cache = next((tmp_path / "stream_scores").iterdir())
    labels, scores = np.load(cache / "labels.npy"), np.load(cache / "scores.npy")
    weights = np.array(summary["best"]["weights"])
    assert weights.min() >= 0 and weights.sum() == pytest.approx(1)
    # The streams are one run three times: every weighting fuses to that run's own scores.
    top1 = np.mean(np.einsum("s,vc->vc", weights, scores).argmax(axis=1) == labels)
    assert summary["best"]["top1"] == summary["equal"]["top1"] == summary["best_single"]["top1"] == pytest.approx(top1)
    assert summary["completed_trials"] == max_trials
    assert (pathlib.Path(summary["fused_run"]) / "checkpoints" / "best.keras").is_file()
    assert [row["status"] for row in read_rows(project / "results.csv")] == ["COMPLETED"] * max_trials


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_a_distributed_search_survives_a_restart_of_its_chief(tmp_path, trained_run):
    """A chief and two workers on 127.0.0.1; all three are killed after a few trials and started
    again: the chief reloads, every trial runs once, and the chief reports the best."""
    max_trials = 20
    fusion.cached_stream_scores(trained_run, tmp_path / "stream_scores")  # shared by all processes
    project = tmp_path / "fusion"
    distributed = ["--oracle-ip", "127.0.0.1", "--oracle-port", str(free_port())]
    roles = [["--chief"], ["--worker", "1"], ["--worker", "2"]]
    processes = []
    try:
        processes = [start(fusion_command(trained_run, tmp_path, max_trials, *distributed, *role),
                           tmp_path / f"first-{index}.log") for index, role in enumerate(roles)]
        wait_for_completed(project, 4, processes)
        stop(processes)
        done_before = len(completed(project))
        assert done_before < max_trials

        processes = [start(fusion_command(trained_run, tmp_path, max_trials, *distributed, *role),
                           tmp_path / f"second-{index}.log") for index, role in enumerate(roles)]
        chief = processes[0]
        assert chief.wait(timeout=PROCESS_TIMEOUT) == 0, (tmp_path / "second-0.log").read_text()[-3000:]
        for worker in processes[1:]:
            assert worker.wait(timeout=60) == 0
    finally:
        stop(processes)

    chief_log = (tmp_path / "second-0.log").read_text()
    assert "Reloading Tuner from" in chief_log and "chief.json" in chief_log
    check_every_trial_ran_once(project, max_trials)
    worker_trials = [int(re.search(r"ran (\d+) trials", (tmp_path / f"second-{index}.log").read_text()).group(1))
                     for index in (1, 2)]
    assert sum(worker_trials) == len(completed_numbers(tmp_path / "second-0.log"))
    assert re.search(r"^Fused top-1 on \d+ validation videos: searched weights", chief_log, re.MULTILINE)
    summary = json.loads((project / "fusion.json").read_text())
    assert summary["completed_trials"] == max_trials and sum(summary["best"]["weights"]) == pytest.approx(1)


def test_a_reload_does_not_retry_a_trial_that_ended(tmp_path):
    """The state a kill leaves between Keras Tuner's save in `end_trial` and the removal of the
    trial from the ongoing ones: reloading must not queue the ended trial again."""
    import keras_tuner

    from tuning.searches import drop_retries_of_ended_trials

    def oracle():
        space = keras_tuner.HyperParameters()
        space.Float("x", 0.0, 1.0)
        made = keras_tuner.oracles.RandomSearchOracle(
            objective=keras_tuner.Objective("score", "max"), max_trials=5, hyperparameters=space, seed=1)
        made._set_project_dir(str(tmp_path), "p")
        return made

    first = oracle()
    trial = first.create_trial("worker1")
    first.update_trial(trial.trial_id, {"score": 0.5})
    trial.status = "COMPLETED"
    first.end_order.append(trial.trial_id)  # what end_trial has done when it saves
    first._save_trial(trial)
    first.save()  # the trial is still listed as ongoing here

    reloaded = oracle()
    reloaded.reload()
    assert trial.trial_id in reloaded._retry_queue  # Keras Tuner's own reload would re-run it
    drop_retries_of_ended_trials(reloaded)
    assert reloaded._retry_queue == []
    assert reloaded.create_trial("worker1").trial_id != trial.trial_id
