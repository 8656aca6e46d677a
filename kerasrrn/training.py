"""How a model is compiled and which callbacks a training run writes its run directory with."""

import keras

from kerasrrn import metrics

# Batch-norm parameters and biases get no weight decay.
NO_DECAY_NAMES = ["gamma", "beta", "bias"]


def learning_rate_schedule(train_config, steps_per_epoch):
    """Linear warm-up to `learning_rate`, then cosine decay to zero (or constant).

    Returns:
        `keras.optimizers.schedules.CosineDecay` stepping once per batch.
    """
    warmup_steps = train_config.warmup_epochs * steps_per_epoch
    decay_steps = max(1, train_config.epochs * steps_per_epoch - warmup_steps)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=train_config.learning_rate / 10 if warmup_steps else train_config.learning_rate,
        decay_steps=decay_steps,
        alpha=1.0 if train_config.schedule == "constant" else 0.0,
        warmup_target=train_config.learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


def make_optimizer(train_config, steps_per_epoch):
    schedule = learning_rate_schedule(train_config, steps_per_epoch)
    if train_config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(
            schedule, momentum=train_config.momentum, nesterov=True,
            weight_decay=train_config.weight_decay or None,
        )
    else:
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=train_config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY_NAMES)
    return optimizer


def compile_model(model, train_config, steps_per_epoch, num_classes):
    """Compiles `model` (which outputs probabilities) with the run's optimizer, sparse
    cross-entropy and the `top1`/`top5` metrics."""
    model.compile(
        optimizer=make_optimizer(train_config, steps_per_epoch),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=metrics.training_metrics(num_classes),
    )
    return model


def run_callbacks(run_path):
    """The callbacks that fill a run directory.

    - `backup/`: `BackupAndRestore` state, so a killed run continues where it stopped;
    - `checkpoints/best.keras` (best `val_top1`) and `checkpoints/last.keras`;
    - `history.csv` (appended across resumes) and TensorBoard logs in `logs/`.
    """
    checkpoints = run_path / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    return [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.BackupAndRestore(str(run_path / "backup")),
        keras.callbacks.ModelCheckpoint(
            str(checkpoints / "best.keras"), monitor="val_top1", mode="max", save_best_only=True
        ),
        keras.callbacks.ModelCheckpoint(str(checkpoints / "last.keras")),
        keras.callbacks.CSVLogger(str(run_path / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(run_path / "logs")),
    ]
