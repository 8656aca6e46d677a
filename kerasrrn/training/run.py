"""One training run, start to end of training: the checks that need the data, the model
built and restored from its backup, the run directory's config and history, and the phases.

`python -m kerasrrn.fit` evaluates and exports what this trains, then removes the backup; the
skip search trains its trials from the same `prepare_run`.
"""

import dataclasses
import time

from kerasrrn import config as config_lib
from kerasrrn.models import build_model
from kerasrrn.runs.data import load_run_data
from kerasrrn.runs.layout import RunLayout
from kerasrrn.training import distribution, history, runtime
from kerasrrn.training.backup import TrainingBackup
from kerasrrn.training.callbacks import run_callbacks
from kerasrrn.training.compile import compile_model
from kerasrrn.training.phases import fit_phases


@dataclasses.dataclass
class TrainedModel:
    """What a finished training run hands over.

    Attributes:
        model: the trained `keras.Model` (last weights; the best is in the run's checkpoint).
        batch_size: int, the global batch size it trained with.
        seconds: float, wall time of the training phases.
    """

    model: object
    batch_size: int
    seconds: float


def prepare_run(config, global_batch_size):
    """Checks `config` (`config.validate()`) and what needs the data, and opens the dataset
    (generating the synthetic dataset on first use).

    Returns:
        `kerasrrn.runs.data.RunData`.

    Raises:
        ValueError (ConfigError) or FileNotFoundError with one line naming the flag or file.
    """
    config.validate()
    data = load_run_data(config)
    train_videos = data.videos(data.train_split)
    # Training batches are full batches only (also with --steps-per-epoch): fewer videos than
    # one batch would train no step at all.
    if train_videos < global_batch_size:
        raise config_lib.ConfigError(
            f"--batch-size {config.train.batch_size}: a global batch of {global_batch_size} is "
            f"larger than the {train_videos} training videos"
        )
    return data


def train(config, data, strategy):
    """Trains `config`'s model on `data` (a `RunData`) under `strategy`, or resumes it from
    its backup, filling the run directory (the chief's; other workers of a cluster write to a
    temporary directory). The backup is left for the caller to remove once the run is
    evaluated: a backup at the run's last step trains nothing.

    Returns:
        `TrainedModel`.
    """
    layout, chief = RunLayout(config.run_path), distribution.is_chief(strategy)
    policy = runtime.set_up(config.train.seed, config.train.precision)
    batch_size = distribution.global_batch_size(config.train.batch_size, strategy)
    steps_per_epoch = data.steps_per_epoch(batch_size, config.train.steps_per_epoch)
    num_classes = len(data.class_names)
    with strategy.scope():
        model = build_model(config, num_classes)
        compile_model(model, config.train, steps_per_epoch, num_classes)
    # Every worker starts from the chief's backup and history.
    done_steps = TrainingBackup(layout.backup).restore(model)
    completed_epochs = done_steps // steps_per_epoch
    best_so_far = history.best_val_top1(layout.history, completed_epochs)
    if chief:
        layout.path.mkdir(parents=True, exist_ok=True)
        config_lib.save(config, layout.config)
        history.truncate_history(layout.history, completed_epochs)
        announce(config, data, model, policy, strategy, batch_size, done_steps, steps_per_epoch)
    # Repeated, so that an epoch is exactly `steps_per_epoch` steps and a resumed run can
    # finish an interrupted epoch with its remaining steps.
    train_dataset = distribution.shard_by_worker(
        data.train_dataset(batch_size).repeat(), data.num_shards(data.train_split), strategy
    )
    val_dataset = distribution.shard_by_worker(
        data.val_dataset(batch_size), data.num_shards(data.val_split), strategy
    )
    started = time.time()
    with distribution.worker_directory(layout.path, strategy) as write_path:
        written = RunLayout(write_path)
        backup = TrainingBackup(written.backup, config.train.backup_every)
        callbacks = run_callbacks(written, config.train, backup, best_so_far)
        fit_phases(
            model, config.train, num_classes, strategy, train_dataset, val_dataset,
            steps_per_epoch, done_steps, callbacks,
        )
    return TrainedModel(model, batch_size, time.time() - started)


def announce(config, data, model, policy, strategy, batch_size, done_steps, steps_per_epoch):
    """Prints what trains on what, and where a resumed run continues."""
    print(
        f"Training {config.model.model} ({model.count_params():,} parameters, precision {policy}, "
        f"{strategy.num_replicas_in_sync} replica(s), batch {batch_size}) on {data.path} "
        f"[{data.train_split}: {data.videos(data.train_split)} videos, {data.val_split}: "
        f"{data.videos(data.val_split)} videos, {len(data.class_names)} classes]; "
        f"run directory {config.run_path}",
        flush=True,
    )
    planned_steps = config.train.epochs * steps_per_epoch
    if done_steps >= planned_steps:
        print(f"Training finished earlier (backup at step {done_steps} of {planned_steps}); "
              "finishing the evaluation and export only", flush=True)
    elif done_steps:
        print(f"Resuming from the backup at step {done_steps} of {planned_steps} "
              f"(epoch {done_steps // steps_per_epoch + 1}, step {done_steps % steps_per_epoch})", flush=True)
