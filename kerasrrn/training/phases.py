"""Training phases: the head alone for `freeze_backbone_epochs`, then the whole model."""

from kerasrrn.models.resnet import is_backbone_layer
from kerasrrn.training import distribution
from kerasrrn.training.compile import compile_model


def set_backbone_trainable(model, trainable, is_backbone_layer):
    """Freezes or unfreezes the layers for which `is_backbone_layer(name)` holds (frozen
    batch-norm layers also stop updating their statistics)."""
    for layer in model.layers:
        if layer.weights and is_backbone_layer(layer.name):
            layer.trainable = trainable


def training_phases(train_config):
    """(end epoch, backbone trainable) of each phase of a run: the head alone for
    `freeze_backbone_epochs`, then everything."""
    frozen = train_config.freeze_backbone_epochs
    return ([(frozen, False)] if frozen else []) + [(train_config.epochs, True)]


def fit_phases(model, train_config, num_classes, strategy, train_dataset, val_dataset,
               steps_per_epoch, done_steps, callbacks):
    """Trains from `done_steps` to the end of the run, phase by phase, under `strategy`; an
    interrupted epoch is finished with exactly its remaining steps."""
    epoch, step = divmod(done_steps, steps_per_epoch)
    for end, backbone_trainable in training_phases(train_config):
        if epoch >= end:
            continue
        set_backbone_trainable(model, backbone_trainable, is_backbone_layer)
        with strategy.scope():
            compile_model(model, train_config, steps_per_epoch, num_classes, model.optimizer)
        while epoch < end:
            stop = epoch + 1 if step else end
            distribution.fit(
                model, train_dataset, val_dataset, strategy=strategy, initial_epoch=epoch,
                epochs=stop, steps_per_epoch=steps_per_epoch - step, callbacks=callbacks,
                verbose=train_config.verbose,
            )
            if model.stop_training:
                raise RuntimeError(f"training stopped at epoch {epoch} (the loss became NaN)")
            epoch, step = stop, 0
