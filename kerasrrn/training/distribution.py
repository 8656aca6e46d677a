"""Distribution for `python -m kerasrrn.fit`: the `--strategy` choice, global batch size, per-worker input
sharding, and a training loop for multi-worker runs.

`--strategy auto` picks `TPUStrategy` on a TPU, `MultiWorkerMirroredStrategy` (MWMS) when
`TF_CONFIG` names a cluster of more than one task, `MirroredStrategy` for several GPUs, and
otherwise the default (one-device) strategy, i.e. no distribution at all.

`model.fit` works under `MirroredStrategy` (also over 2 CPU devices), `OneDeviceStrategy`, the
default strategy and (by Keras' design) `TPUStrategy`. Under MWMS it fails on TF 2.21 /
Keras 3.15 inside Keras' trainer (tensorflow/tensorflow#72388), so `fit` runs MWMS through
`fit_distributed`: a loop over `strategy.run` that uses public APIs only and calls the same
Keras callbacks, compiled loss and optimizer as `model.fit` would.

Under MWMS every worker runs every callback, because saving a model can read distributed
variables collectively; only the chief's files count. `worker_directory` gives the other
workers a temporary directory to write theirs to. Trained weights are the same on every worker;
batch-norm moving statistics are each worker's own (Keras does not synchronise them, as under
`MirroredStrategy`, where the first replica's are the ones read and saved).
"""

import contextlib
import json
import os
import pathlib
import tempfile

import keras
import tensorflow as tf

from kerasrrn.choices import STRATEGIES
from kerasrrn.training.compile import training_metrics

TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type": "worker", "index": 0}}'
)


def cluster_task_count():
    """Training tasks (chief and workers) of the cluster that `TF_CONFIG` names; 0 if unset.

    Raises:
        ValueError naming `TF_CONFIG` when it is not JSON with a `cluster` mapping.
    """
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return 0
    try:
        cluster = json.loads(text).get("cluster", {})
    except (json.JSONDecodeError, AttributeError):
        cluster = None
    if not isinstance(cluster, dict):
        raise ValueError(f"TF_CONFIG: expected JSON like {TF_CONFIG_EXAMPLE}, got {text!r}")
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def tpu_cluster_resolver():
    """A `TPUClusterResolver`, or None when this machine has no TPU.

    `TPUClusterResolver()` finds a TPU named by `TPU_NAME`, on Colab or on GCE; a TPU VM
    shows its TPUs as local devices instead.
    """
    try:
        return tf.distribute.cluster_resolver.TPUClusterResolver()
    except ValueError:
        pass
    if tf.config.list_physical_devices("TPU"):
        return tf.distribute.cluster_resolver.TPUClusterResolver("local")
    return None


def _tpu_strategy(resolver):
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _multi_worker_strategy():
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:
        raise RuntimeError(
            f"--strategy multi_worker: create the strategy before any TensorFlow op runs ({error})"
        ) from error


def strategy_for(name):
    """The `tf.distribute.Strategy` that `--strategy name` asks for.

    Args:
        name: one of `STRATEGIES`. `auto`: TPU > multi-worker (TF_CONFIG with > 1 task) >
            mirrored (> 1 GPU) > the default strategy. `one_device`: `OneDeviceStrategy` on
            the first GPU, else the CPU. `mirrored`: `MirroredStrategy` over all GPUs (the
            CPU when there are none).

    MWMS must be created before any TensorFlow op runs (TensorFlow's rule): call this first.

    Raises:
        ValueError naming `--strategy` when the strategy cannot be had.
    """
    if name not in STRATEGIES:
        raise ValueError(f"--strategy {name}: expected one of {', '.join(STRATEGIES)}")
    if name in ("auto", "tpu"):
        resolver = tpu_cluster_resolver()
        if resolver is not None:
            return _tpu_strategy(resolver)
        if name == "tpu":
            raise ValueError(
                "--strategy tpu: no TPU found (set TPU_NAME, or run on Colab or a TPU VM)"
            )
    tasks = cluster_task_count()
    if name == "multi_worker" or (name == "auto" and tasks > 1):
        if not tasks:
            raise ValueError(
                "--strategy multi_worker: TF_CONFIG must name the cluster and this task, e.g. "
                f"TF_CONFIG='{TF_CONFIG_EXAMPLE}'"
            )
        return _multi_worker_strategy()
    gpus = tf.config.list_physical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    return tf.distribute.get_strategy()


def global_batch_size(per_replica, strategy):
    """Clips per training step over all replicas: `per_replica x strategy.num_replicas_in_sync`.

    Datasets handed to `model.fit` or `fit_distributed` are batched with this size; the
    strategy splits every batch into one `per_replica` batch per replica.
    """
    return per_replica * strategy.num_replicas_in_sync


def is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def worker_count(strategy):
    """Input pipelines: the chief and worker tasks of an MWMS cluster, else 1."""
    if not is_multi_worker(strategy):
        return 1
    spec = strategy.cluster_resolver.cluster_spec()
    return sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs)


def is_chief(strategy):
    """Whether this task's files count: True except on the non-chief workers of MWMS."""
    return strategy.extended.should_checkpoint


def shard_policy(num_files, num_workers):
    """`FILE` when every worker can get at least one whole file, else `DATA`.

    FILE: each worker reads and decodes only its own shards (no wasted work), which needs
    `num_files >= num_workers`: a worker without a file would have no data at all. DATA:
    every worker reads everything and keeps its part of each global batch.
    """
    policy = tf.data.experimental.AutoShardPolicy
    return policy.FILE if num_files >= num_workers else policy.DATA


def shard_by_worker(dataset, num_files, strategy):
    """`dataset` (read from `num_files` files) with the `shard_policy` for `strategy`'s
    workers; the strategy applies it when it distributes the dataset."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = shard_policy(num_files, worker_count(strategy))
    return dataset.with_options(options)


@contextlib.contextmanager
def worker_directory(run_path, strategy):
    """The directory this task writes its run files to: `run_path` on the chief, a temporary
    directory (removed on exit) on the other workers.

    Yields:
        pathlib.Path.
    """
    run_path = pathlib.Path(run_path)
    if is_chief(strategy):
        yield run_path
        return
    with tempfile.TemporaryDirectory(prefix="kerasrrn-worker-") as scratch:
        yield pathlib.Path(scratch) / run_path.name


def fit(model, train_dataset, val_dataset, *, strategy, epochs, steps_per_epoch, initial_epoch=0,
        callbacks=(), verbose=1):
    """`model.fit` under the strategies Keras' trainer supports, `fit_distributed` under MWMS.

    Returns:
        `keras.callbacks.History`.
    """
    if is_multi_worker(strategy):
        return fit_distributed(
            model, train_dataset, val_dataset, epochs=epochs, steps_per_epoch=steps_per_epoch,
            initial_epoch=initial_epoch, callbacks=callbacks, strategy=strategy, verbose=verbose,
        )
    return model.fit(
        train_dataset, validation_data=val_dataset, epochs=epochs, steps_per_epoch=steps_per_epoch,
        initial_epoch=initial_epoch, callbacks=list(callbacks), verbose=verbose,
        shuffle=False,  # tf.data shuffles; Keras cannot shuffle a dataset.
    )


def _regularization(model):
    """Sum of the model's added losses (a float32 scalar, 0 when it has none)."""
    return tf.add_n([tf.cast(loss, tf.float32) for loss in model.losses]) if model.losses else tf.constant(0.0)


def _make_train_step(model, strategy):
    """A compiled step: one batch per replica, the mean gradient applied everywhere.

    Returns:
        callable(iterator) -> (labels `(B,)`, probabilities `(B, C)`, regularization `()`)
        gathered over all replicas, `B` the global batch.
    """

    def replica_step(clips, labels):
        with tf.GradientTape() as tape:
            probabilities = model(clips, training=True)
            # The optimizer sums gradients over replicas. Keras losses divide themselves by
            # the number of replicas inside `strategy.run` (as in model.fit), so the sum is the
            # gradient of the global batch's mean loss; the added losses need the same scale.
            loss = model.loss(labels, probabilities)
            loss += _regularization(model) / strategy.num_replicas_in_sync
            scaled_loss = model.optimizer.scale_loss(loss)  # loss scaling for mixed_float16
        gradients = tape.gradient(scaled_loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return labels, probabilities, _regularization(model)

    @tf.function
    def train_step(iterator):
        return _gather(strategy, strategy.run(replica_step, args=next(iterator)))

    return train_step


def _make_val_step(model, strategy):
    """Like `_make_train_step` without training, on one distributed batch (replicas may hold
    fewer clips, or none, at the end of the validation set)."""

    def replica_step(clips, labels):
        return labels, model(clips, training=False), _regularization(model)

    @tf.function
    def val_step(batch):
        return _gather(strategy, strategy.run(replica_step, args=batch))

    return val_step


def _gather(strategy, replica_outputs):
    labels, probabilities, regularization = replica_outputs
    return (
        strategy.gather(labels, axis=0),
        strategy.gather(probabilities, axis=0),
        strategy.reduce(tf.distribute.ReduceOp.MEAN, regularization, axis=None),
    )


class _Trackers:
    """The running `loss`, `top1`, `top5` of an epoch over whole global batches, as Keras logs
    them: the loss is the mean per-clip compiled loss plus the added losses."""

    def __init__(self, model):
        self.model = model
        self.metrics = [keras.metrics.Mean(name="loss"), *training_metrics(model.output_shape[-1])]

    def reset(self):
        for metric in self.metrics:
            metric.reset_state()

    def update(self, labels, probabilities, regularization):
        loss_tracker, *accuracies = self.metrics
        loss = self.model.loss(labels, probabilities) + regularization
        loss_tracker.update_state(loss, sample_weight=tf.shape(labels)[0])
        for accuracy in accuracies:
            accuracy.update_state(labels, probabilities)

    def results(self, prefix=""):
        return {prefix + metric.name: float(metric.result()) for metric in self.metrics}


def fit_distributed(model, train_dataset, val_dataset=None, *, epochs, steps_per_epoch,
                    initial_epoch=0, callbacks=(), strategy, verbose=1):
    """Trains a compiled `model` under `strategy` with a `strategy.run` loop (for MWMS, where
    `model.fit` fails on TF 2.21 / Keras 3.15).

    The model must have been built and compiled under `strategy.scope()`; call this outside it.
    It uses `model.loss` and `model.optimizer` and fresh `kerasrrn.training.compile.training_metrics`
    objects that see the predictions of all replicas, so every worker logs the same global
    values and takes the same callback decisions (best checkpoint, NaN stop).

    Args:
        model: compiled `keras.Model`, clips `(B, T, S, S, 3)` -> probabilities `(B, C)`.
        train_dataset: `tf.data.Dataset` of (clips, labels `(B,)`) batched with the global
            batch size and repeated (at least `steps_per_epoch` batches per epoch).
        val_dataset: None or a finite `tf.data.Dataset` like `train_dataset`.
        epochs: int, the epoch to stop before; training runs epochs `initial_epoch..epochs-1`.
        steps_per_epoch: int, batches per epoch.
        initial_epoch: int, default 0; the first epoch (to resume a run).
        callbacks: Keras callbacks; get `on_train_begin`, `on_epoch_begin`,
            `on_train_batch_begin/end` (logs `loss`, `top1`, `top5`), `on_epoch_end` (adds
            `val_loss`, `val_top1`, `val_top5`, `learning_rate`) and `on_train_end`.
        strategy: the `tf.distribute.Strategy` the model was built under.
        verbose: 0, 1 or 2 as for `model.fit`; non-chief workers are silent.

    Returns:
        `keras.callbacks.History`.
    """
    if tf.distribute.has_strategy():
        raise RuntimeError("fit_distributed: call it outside `strategy.scope()`")
    if not isinstance(model.loss, keras.losses.Loss):
        raise TypeError(f"fit_distributed: compile the model with a keras.losses.Loss, not {model.loss!r}")
    verbose = verbose if is_chief(strategy) else 0
    if not model.optimizer.built:  # its variables cannot be created inside the step function
        with strategy.scope():
            model.optimizer.build(model.trainable_variables)
    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*callbacks, history], add_progbar=verbose != 0, model=model,
        verbose=verbose, epochs=epochs, steps=steps_per_epoch,
    )
    train_step, val_step = _make_train_step(model, strategy), _make_val_step(model, strategy)
    trackers = _Trackers(model)
    train_batches = iter(strategy.experimental_distribute_dataset(train_dataset))
    val_batches = None if val_dataset is None else strategy.experimental_distribute_dataset(val_dataset)

    model.stop_training = False
    callback_list.on_train_begin()
    logs = {}
    for epoch in range(initial_epoch, epochs):
        trackers.reset()
        callback_list.on_epoch_begin(epoch)
        for step in range(steps_per_epoch):
            callback_list.on_train_batch_begin(step)
            trackers.update(*train_step(train_batches))
            logs = trackers.results()
            callback_list.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        if val_batches is not None:
            logs.update(_validate(val_step, val_batches, trackers))
        # float() of a distributed variable fails; its numpy value does not.
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return history


def _validate(val_step, val_batches, trackers):
    """One pass over the distributed validation set; returns `val_loss`, `val_top1`, `val_top5`.

    `get_next_as_optional` agrees across workers on whether any worker still has data, so
    workers whose shard ends first keep stepping (with empty batches) instead of hanging.
    """
    trackers.reset()
    batches = iter(val_batches)
    while True:
        batch = batches.get_next_as_optional()
        if not batch.has_value():
            break
        trackers.update(*val_step(batch.get_value()))
    return trackers.results(prefix="val_")
