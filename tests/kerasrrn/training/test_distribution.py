"""Tests of `kerasrrn.training.distribution`: the strategy choice, batch sizes, sharding, and training with
two MultiWorkerMirroredStrategy workers on 127.0.0.1 (CPU only) against Keras' own `model.fit`
under MirroredStrategy with two replicas (see `distributed_worker.py`)."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import tensorflow as tf

from kerasrrn.training import distribution as distribute
from tests.kerasrrn import distributed_worker

REPO = pathlib.Path(__file__).resolve().parents[3]
TIMEOUT_S = 360


def free_ports(count):
    """`count` distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def distributed_run(tmp_path_factory):
    """Runs two MWMS workers and the 2-replica reference at once; returns their output dir."""
    out_dir = tmp_path_factory.mktemp("distributed")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    env.update(CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    runs = {"reference": env}
    for index in range(2):
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        runs[f"worker{index}"] = {**env, "TF_CONFIG": json.dumps(task)}
    processes = {}
    try:
        for name, run_env in runs.items():
            role = "reference" if name == "reference" else "worker"
            with open(out_dir / f"{name}.log", "w") as log:
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "tests.kerasrrn.distributed_worker", str(out_dir), role],
                    cwd=REPO, env=run_env, stdout=log, stderr=subprocess.STDOUT,
                )
        deadline = time.monotonic() + TIMEOUT_S
        for name, process in processes.items():
            returncode = process.wait(timeout=max(1, deadline - time.monotonic()))
            log_tail = (out_dir / f"{name}.log").read_text()[-3000:]
            assert returncode == 0, f"{name} exited with {returncode}:\n{log_tail}"
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return out_dir


def load_result(out_dir, name):
    weights = {
        stage: [array for _, array in sorted(np.load(out_dir / name / f"{stage}.npz").items(),
                                             key=lambda item: int(item[0].split("_")[1]))]
        for stage in ("initial", "final")
    }
    return json.loads((out_dir / name / "result.json").read_text()), weights


@pytest.mark.slow
def test_plain_model_fit_still_fails_under_multi_worker(distributed_run):
    # When this fails, Keras' trainer handles MWMS (tensorflow/tensorflow#72388):
    # `distribute.fit` can then call model.fit for every strategy.
    for name in ("worker0", "worker1"):
        result, _ = load_result(distributed_run, name)
        assert result["fit_error"] is not None, f"{name}: model.fit now works under MWMS"
        assert "PerReplica" in result["fit_error"]


@pytest.mark.slow
def test_workers_train_identical_weights_as_keras_fit_would(distributed_run):
    worker0, weights0 = load_result(distributed_run, "worker0")
    worker1, weights1 = load_result(distributed_run, "worker1")
    reference, reference_weights = load_result(distributed_run, "reference")
    assert worker0["replicas"] == worker1["replicas"] == reference["replicas"] == 2
    assert any(not np.array_equal(i, f) for i, f in zip(weights0["initial"], weights0["final"]))
    trainable = worker0["trainable"]
    frozen = [name for name, is_trainable in zip(worker0["weight_names"], trainable) if not is_trainable]
    assert frozen and all(name.endswith(("/moving_mean", "/moving_variance")) for name in frozen)
    for w0, w1, is_trainable in zip(weights0["final"], weights1["final"], trainable):
        # Batch-norm moving statistics are each worker's own (as each replica's are under
        # MirroredStrategy, which reads the first one's); the trained weights are shared.
        if is_trainable:
            np.testing.assert_array_equal(w0, w1)
    # Same start, same per-replica batches as Keras' model.fit under MirroredStrategy, whose
    # first replica sees the chief's batches: all the chief's weights match.
    for mine, keras_fit in zip(weights0["initial"], reference_weights["initial"]):
        np.testing.assert_array_equal(mine, keras_fit)
    for mine, keras_fit in zip(weights0["final"], reference_weights["final"]):
        np.testing.assert_allclose(mine, keras_fit, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_logs_match_keras_fit_and_loss_decreases(distributed_run):
    worker0, _ = load_result(distributed_run, "worker0")
    worker1, _ = load_result(distributed_run, "worker1")
    reference, _ = load_result(distributed_run, "reference")
    assert worker0["history"] == worker1["history"]
    for key, values in reference["history"].items():
        np.testing.assert_allclose(worker0["history"][key], values, rtol=1e-3, atol=1e-4, err_msg=key)
    assert worker0["history"]["learning_rate"] == pytest.approx([3e-3] * distributed_worker.EPOCHS)
    losses = worker0["history"]["loss"]
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_only_the_chief_writes_into_the_run_directory(distributed_run):
    chief, _ = load_result(distributed_run, "worker0")
    other, _ = load_result(distributed_run, "worker1")
    assert chief["is_chief"] and not other["is_chief"]
    # Both ran the checkpoint and CSV callbacks; the other worker into a temporary directory.
    assert chief["wrote"] == other["wrote"] == ["history.csv", "last.keras"]
    assert sorted(p.name for p in (distributed_run / "worker0" / "run").iterdir()) == chief["wrote"]
    assert not (distributed_run / "worker1" / "run").exists()
    rows = (distributed_run / "worker0" / "run" / "history.csv").read_text().splitlines()
    assert len(rows) == 1 + distributed_worker.EPOCHS


@pytest.fixture
def no_cluster(monkeypatch):
    for name in ("TF_CONFIG", "TPU_NAME"):
        monkeypatch.delenv(name, raising=False)


def test_auto_without_cluster_or_tpu_is_the_default_strategy(no_cluster):
    strategy = distribute.strategy_for("auto")
    if len(tf.config.list_physical_devices("GPU")) > 1:
        assert isinstance(strategy, tf.distribute.MirroredStrategy)
    else:
        assert strategy is tf.distribute.get_strategy()
        assert strategy.num_replicas_in_sync == 1
    assert distribute.is_chief(strategy) and distribute.worker_count(strategy) == 1


def test_one_device_strategy(no_cluster):
    strategy = distribute.strategy_for("one_device")
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert strategy.num_replicas_in_sync == 1


@pytest.mark.parametrize("name, message", [
    ("tpu", "--strategy tpu: no TPU found"),
    ("multi_worker", "--strategy multi_worker: TF_CONFIG must name the cluster"),
    ("parameter_server", "--strategy parameter_server: expected one of auto, one_device"),
])
def test_unavailable_strategy_is_a_one_line_error(no_cluster, name, message):
    with pytest.raises(ValueError, match=message) as error:
        distribute.strategy_for(name)
    assert "\n" not in str(error.value)


def test_cluster_task_count_reads_tf_config(monkeypatch):
    cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"], "evaluator": ["d:1"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "chief", "index": 0}}))
    assert distribute.cluster_task_count() == 3
    monkeypatch.setenv("TF_CONFIG", "{cluster: worker}")
    with pytest.raises(ValueError, match="TF_CONFIG: expected JSON like"):
        distribute.cluster_task_count()


def test_global_batch_size_is_per_replica_times_replicas():
    assert distribute.global_batch_size(8, types.SimpleNamespace(num_replicas_in_sync=4)) == 32
    assert distribute.global_batch_size(8, tf.distribute.get_strategy()) == 8


@pytest.mark.parametrize("num_files, num_workers, expected", [
    (4, 2, tf.data.experimental.AutoShardPolicy.FILE),
    (2, 2, tf.data.experimental.AutoShardPolicy.FILE),
    (1, 2, tf.data.experimental.AutoShardPolicy.DATA),
    (0, 1, tf.data.experimental.AutoShardPolicy.DATA),
])
def test_shard_policy(num_files, num_workers, expected):
    assert distribute.shard_policy(num_files, num_workers) == expected


def test_shard_by_worker_sets_the_dataset_option():
    dataset = distribute.shard_by_worker(tf.data.Dataset.range(4), 3, tf.distribute.get_strategy())
    assert dataset.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.FILE


def test_single_worker_writes_into_the_run_directory(tmp_path):
    with distribute.worker_directory(tmp_path / "run", tf.distribute.get_strategy()) as write_path:
        assert write_path == tmp_path / "run"


def test_fit_distributed_refuses_to_run_inside_a_scope():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope(), pytest.raises(RuntimeError, match="outside `strategy.scope\\(\\)`"):
        distribute.fit_distributed(None, None, epochs=1, steps_per_epoch=1, strategy=strategy)
