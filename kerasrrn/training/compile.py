"""How a run's model is compiled: optimizer, schedule, loss and metrics."""

import keras

from kerasrrn.choices import OPTIMIZERS  # noqa: F401  (what make_optimizer builds, for the config)
from kerasrrn.training.losses import SparseSmoothedCrossentropy
from kerasrrn.training.schedules import WarmupDecay


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
        metrics=training_metrics(num_classes),
    )
    return model


def training_metrics(num_classes):
    """Keras metrics for `model.compile`, logged as `top1`, `top5`, `val_top1`, `val_top5`.

    Args:
        num_classes: int `C >= 1`; `top5` is top-min(5, C) accuracy.

    Returns:
        `[SparseCategoricalAccuracy(name="top1"), SparseTopKCategoricalAccuracy(name="top5")]`.

    Keras' top-k counts every class tied with the k-th score as predicted, so on tied scores
    (e.g. the uniform output of an untrained head) the logged `top5` can exceed the `top5` of
    `classification_report`, which keeps exactly k classes. `top1` follows arg-max in both.
    """
    if num_classes < 1:
        raise ValueError(f"`num_classes` must be >= 1. Received: num_classes={num_classes}")
    return [
        keras.metrics.SparseCategoricalAccuracy(name="top1"),
        keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, num_classes), name="top5"),
    ]
