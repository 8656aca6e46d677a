"""Builds the model a run config names; one entry per `--model`."""

from kerasrrn.config import ConfigError
from kerasrrn.models.baselines import build_resnet_lstm
from kerasrrn.models.mrrn import HeadSpec, build_mrrn, build_mrrn_shared
from kerasrrn.models.resnet import SkipSpec, check_skips
from kerasrrn.models.rrn import Augmentation, build_rrn


def _augmentation(data):
    """The data config's training crop, flip and colour jitter, which the model applies itself
    (on the accelerator)."""
    return Augmentation(data.train_crop, data.min_crop_scale, data.flip, data.brightness, data.contrast)


def _rrn(model, data, num_classes):
    return build_rrn(
        num_classes, data.clip_length, data.image_size, model.depth, model.width,
        model.skip_units, model.skip_kind, model.skip_delay, model.skip_span, model.dropout,
        _augmentation(data), name="rrn",
    )


def _resnet(model, data, num_classes):
    return build_rrn(
        num_classes, data.clip_length, data.image_size, model.depth, model.width,
        skip_units=(), dropout=model.dropout, augmentation=_augmentation(data), name="resnet",
    )


def _resnet_lstm(model, data, num_classes):
    return build_resnet_lstm(
        num_classes, data.clip_length, data.image_size, model.depth, model.width, model.lstm_units,
        model.dropout, _augmentation(data),
    )


def _head(model):
    return HeadSpec(
        model.sru_units, model.sru_layers, model.sru_variant, model.sru_dropout, model.bidirectional,
        model.time_pooling, model.dropout,
    )


def _mrrn(model, data, num_classes):
    return build_mrrn(
        num_classes, model.stream, data.clip_length, data.image_size, model.depth, model.width, _head(model),
        _augmentation(data),
    )


def _mrrn_shared(model, data, num_classes):
    return build_mrrn_shared(
        num_classes, data.clip_length, data.image_size, model.depth, model.width, _head(model),
        _augmentation(data),
    )


BUILDERS = {
    "rrn": _rrn, "resnet": _resnet, "resnet_lstm": _resnet_lstm, "mrrn": _mrrn, "mrrn_shared": _mrrn_shared,
}


def check_model_config(config):
    """Raises ConfigError (one line naming the flag) for a model config that cannot be built."""
    model = config.model
    if model.model not in BUILDERS:
        raise ConfigError(f"--model {model.model}: not available (available: {', '.join(BUILDERS)})")
    if model.weights != "none":
        from kerasrrn.models.pretrained import check_weights

        try:
            check_weights(model.depth, model.width, model.weights)
        except (ValueError, FileNotFoundError) as error:
            raise ConfigError(str(error)) from None
    if config.data.min_crop_scale > 1:
        raise ConfigError(f"--min-crop-scale: expected an area fraction in (0, 1], got {config.data.min_crop_scale!r}")
    if config.data.contrast >= 1:
        raise ConfigError(f"--contrast: expected a factor change in [0, 1), got {config.data.contrast!r}")
    for flag, rate in (("--dropout", model.dropout), ("--sru-dropout", model.sru_dropout)):
        if rate >= 1:
            raise ConfigError(f"{flag}: expected a rate in [0, 1), got {rate!r}")
    if model.model == "rrn":
        if not model.skip_units:
            raise ConfigError("--skip-units: an rrn needs at least one unit (use --model resnet for none)")
        spec = SkipSpec(model.skip_delay, model.skip_kind, model.skip_span)
        try:
            check_skips(model.depth, {unit: spec for unit in model.skip_units}, config.data.clip_length)
        except ValueError as error:
            raise ConfigError(f"--skip-units {','.join(model.skip_units)}: {error}") from None


def build_model(config, num_classes):
    """The untrained (or ImageNet-initialised) model of `config` (a `kerasrrn.config.Config`).

    Raises:
        ValueError naming the option when the model cannot be built from the config.
    """
    check_model_config(config)
    model = BUILDERS[config.model.model](config.model, config.data, num_classes)
    if config.model.weights != "none":
        from kerasrrn.models.pretrained import load_backbone_weights

        load_backbone_weights(model, config.model.depth, config.model.width, config.model.weights)
    return model
