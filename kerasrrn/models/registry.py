"""Builds the model a run config names; one entry per `--model`."""

from kerasrrn.choices import MODELS  # noqa: F401  (the names of BUILDERS, for the config)
from kerasrrn.models.baselines import build_resnet_lstm
from kerasrrn.models.heads import HeadSpec
from kerasrrn.models.inputs import Augmentation
from kerasrrn.models.mrrn import build_mrrn, build_mrrn_shared
from kerasrrn.models.pretrained import load_backbone_weights
from kerasrrn.models.rrn import build_rrn


def augmentation_of(data):
    """The training crop, flip and colour jitter that `data` (a `DataConfig`, or anything with its
    `train_crop`, `min_crop_scale`, `flip`, `brightness`, `contrast`) asks the model to apply."""
    return Augmentation(data.train_crop, data.min_crop_scale, data.flip, data.brightness, data.contrast)


def _rrn(model, data, num_classes):
    return build_rrn(
        num_classes, data.clip_length, data.image_size, model.depth, model.width,
        model.skip_units, model.skip_kind, model.skip_delay, model.skip_span, model.dropout,
        augmentation_of(data), model.skip_init, model.frame_grid, name="rrn",
    )


def _resnet(model, data, num_classes):
    return build_rrn(
        num_classes, data.clip_length, data.image_size, model.depth, model.width,
        skip_units=(), dropout=model.dropout, augmentation=augmentation_of(data), frame_grid=model.frame_grid,
        name="resnet",
    )


def _resnet_lstm(model, data, num_classes):
    return build_resnet_lstm(
        num_classes, data.clip_length, data.image_size, model.depth, model.width, model.lstm_units,
        model.dropout, augmentation_of(data), model.frame_grid,
    )


def head_of(model):
    """The `HeadSpec` of a `ModelConfig`'s SRU options."""
    return HeadSpec(
        model.sru_units, model.sru_layers, model.sru_variant, model.sru_dropout, model.bidirectional,
        model.time_pooling, model.dropout, model.frame_grid,
    )


def _mrrn(model, data, num_classes):
    return build_mrrn(
        num_classes, model.stream, data.clip_length, data.image_size, model.depth, model.width, head_of(model),
        augmentation_of(data),
    )


def _mrrn_shared(model, data, num_classes):
    return build_mrrn_shared(
        num_classes, data.clip_length, data.image_size, model.depth, model.width, head_of(model),
        augmentation_of(data),
    )


BUILDERS = {
    "rrn": _rrn, "resnet": _resnet, "resnet_lstm": _resnet_lstm, "mrrn": _mrrn, "mrrn_shared": _mrrn_shared,
}


def build_model(config, num_classes):
    """The untrained (or ImageNet-initialised) model of `config` (a `kerasrrn.config.Config`).

    Raises:
        ValueError (`kerasrrn.config.ConfigError`) naming the option when the config is not
        valid (`config.validate()`).
    """
    config.validate()
    model = BUILDERS[config.model.model](config.model, config.data, num_classes)
    if config.model.weights != "none":
        load_backbone_weights(model, config.model.depth, config.model.width, config.model.weights)
    return model
