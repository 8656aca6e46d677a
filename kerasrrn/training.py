"""How a model is compiled and which callbacks a training run writes its run directory with."""

import csv

import keras

from kerasrrn import metrics
from kerasrrn.losses import SparseSmoothedCrossentropy
from kerasrrn.schedules import WarmupDecay

# Batch-norm parameters and biases get no weight decay.
NO_DECAY_NAMES = ["gamma", "beta", "bias"]


def make_optimizer(train_config, steps_per_epoch):
    """The optimizer of a run: AdamW or SGD with Nesterov momentum, decoupled weight decay,
    optional gradient clipping, and a `WarmupDecay` schedule (a constant rate when
    `reduce_lr_on_plateau` must be able to change it)."""
    if train_config.reduce_lr_on_plateau:
        learning_rate = train_config.learning_rate
    else:
        learning_rate = WarmupDecay(
            train_config.learning_rate,
            warmup_steps=train_config.warmup_epochs * steps_per_epoch,
            total_steps=train_config.epochs * steps_per_epoch,
            decay=train_config.schedule,
            step_every=train_config.step_decay_epochs * steps_per_epoch,
        )
    common = {"weight_decay": train_config.weight_decay or None,
              "clipnorm": train_config.clipnorm or None}
    if train_config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate, momentum=train_config.momentum, nesterov=True, **common)
    else:
        optimizer = keras.optimizers.AdamW(learning_rate, **common)
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY_NAMES)
    return optimizer


def compile_model(model, train_config, steps_per_epoch, num_classes, optimizer=None):
    """Compiles `model` (which outputs probabilities) with the run's optimizer (or `optimizer`,
    to keep its state across a recompilation), cross-entropy with the run's label smoothing,
    and the `top1`/`top5` metrics. The optimizer is built for *all* trainable weights, so that
    freezing part of the model later keeps the same optimizer state layout."""
    if optimizer is None:
        optimizer = make_optimizer(train_config, steps_per_epoch)
        optimizer.build(model.trainable_variables)
    model.compile(
        optimizer=optimizer,
        loss=SparseSmoothedCrossentropy(train_config.label_smoothing),
        metrics=metrics.training_metrics(num_classes),
    )
    return model


def set_backbone_trainable(model, trainable, is_backbone_layer):
    """Freezes or unfreezes the layers for which `is_backbone_layer(name)` holds (frozen
    batch-norm layers also stop updating their statistics)."""
    for layer in model.layers:
        if layer.weights and is_backbone_layer(layer.name):
            layer.trainable = trainable


def _history_rows(history_csv):
    if not history_csv.is_file():
        return []
    with open(history_csv, newline="") as stream:
        return list(csv.DictReader(stream))


def best_val_top1(history_csv, completed_epochs):
    """The best `val_top1` among the first `completed_epochs` rows of a run's history, or None."""
    scores = [float(row["val_top1"]) for row in _history_rows(history_csv)
              if int(row["epoch"]) < completed_epochs and row.get("val_top1")]
    return max(scores) if scores else None


def truncate_history(history_csv, completed_epochs):
    """Drops rows of epochs that a resumed run trains again (a run killed after logging an
    epoch but before backing it up)."""
    rows = _history_rows(history_csv)
    kept = [row for row in rows if int(row["epoch"]) < completed_epochs]
    if len(kept) != len(rows):
        with open(history_csv, "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(kept)


def training_phases(train_config):
    """(end epoch, backbone trainable) of each phase of a run: the head alone for
    `freeze_backbone_epochs`, then everything."""
    frozen = train_config.freeze_backbone_epochs
    return ([(frozen, False)] if frozen else []) + [(train_config.epochs, True)]


def fit_phases(model, train_config, num_classes, strategy, train_dataset, val_dataset,
               steps_per_epoch, done_steps, callbacks):
    """Trains from `done_steps` to the end of the run, phase by phase, under `strategy`; an
    interrupted epoch is finished with exactly its remaining steps."""
    from kerasrrn import distribute
    from kerasrrn.models.resnet import is_backbone_layer

    epoch, step = divmod(done_steps, steps_per_epoch)
    for end, backbone_trainable in training_phases(train_config):
        if epoch >= end:
            continue
        set_backbone_trainable(model, backbone_trainable, is_backbone_layer)
        with strategy.scope():
            compile_model(model, train_config, steps_per_epoch, num_classes, model.optimizer)
        while epoch < end:
            stop = epoch + 1 if step else end
            distribute.fit(
                model, train_dataset, val_dataset, strategy=strategy, initial_epoch=epoch,
                epochs=stop, steps_per_epoch=steps_per_epoch - step, callbacks=callbacks,
                verbose=train_config.verbose,
            )
            if model.stop_training:
                raise RuntimeError(f"training stopped at epoch {epoch} (the loss became NaN)")
            epoch, step = stop, 0


def run_callbacks(run_path, train_config, backup, best_val_top1=None):
    """The callbacks that fill a run directory.

    - `history.csv` (appended across resumes);
    - `checkpoints/best.keras` (best `val_top1`, also across resumes) and `checkpoints/last.keras`;
    - TensorBoard logs in `logs/`;
    - `backup`, the run's `TrainingBackup`, last: an epoch counts as done only once everything
      above is written, so a kill in between repeats the epoch rather than losing its files;
    - optionally `ReduceLROnPlateau` on `val_loss`.
    """
    checkpoints = run_path / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(str(run_path / "history.csv"), append=True),
        keras.callbacks.ModelCheckpoint(
            str(checkpoints / "best.keras"), monitor="val_top1", mode="max", save_best_only=True,
            initial_value_threshold=best_val_top1,
        ),
        keras.callbacks.ModelCheckpoint(str(checkpoints / "last.keras")),
        keras.callbacks.TensorBoard(str(run_path / "logs")),
        backup,
    ]
    if train_config.reduce_lr_on_plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=3))
    return callbacks
