"""Typed run configuration: dataclasses, strict JSON/YAML loading, and one `validate()`.

A config has three sections, `data`, `model` and `train`. Every field is also a flag of the
commands (`clip_length` -> `--clip-length`, see `kerasrrn.cli.flags`); field names are unique
across sections so a flag names exactly one field. Each field declares its type, bounds and
choices, and the rules that tie it to other fields, next to it (`option`). Every set of choices,
and the rules of skips and weights, is read from `kerasrrn.choices` (or `pipelines.sampling`),
which the implementing modules import too: this module, and the flags made from it, load without
Keras or TensorFlow, so `--help` and usage errors answer at once. Unknown keys and bad values
raise `ConfigError` with one line naming the key or flag and what was expected.
"""

import dataclasses
import hashlib
import json
import math
import os
import pathlib

import yaml

from kerasrrn.choices import (
    CROP_MODES, DECAYS, DEPTHS, MODELS, OPTIMIZERS, PRECISIONS, SKIP_INITS, SKIP_KINDS, SRU_VARIANTS,
    STRATEGIES, STREAM_STAGES, STREAMS, TIME_POOLINGS, SkipSpec, check_skips, check_weights, stage_map_size,
)
from pipelines.sampling import SHORT_VIDEO_MODES

SOURCES = ("synthetic", "prepared", "tfrecord")
# The split each pattern field of a `tfrecord` source names.
PATTERN_SPLITS = {"train_pattern": "train", "val_pattern": "validation", "test_pattern": "test"}
VERBOSITIES = (0, 1, 2)


class ConfigError(ValueError):
    """A configuration key or value is not acceptable."""


def option(default, help, choices=None, minimum=None, maximum=None, below=None, expected=None, check=None):
    """A dataclass field with the metadata that the flags and `validate` use.

    Args:
        default: the value when neither a config file nor a flag gives one.
        help: str, the flag's help.
        choices: tuple or None, the allowed values (from `kerasrrn.choices`).
        minimum, maximum: numbers or None, inclusive bounds; below: exclusive upper bound.
        expected: str or None, how the message says what was expected (default: from the
            bounds).
        check: callable `(Config) -> str or None` or None, a rule that ties this field to
            others; a string is the error line, which names this field's flag.
    """
    metadata = {"help": help, "choices": choices, "minimum": minimum, "maximum": maximum,
                "below": below, "expected": expected, "check": check}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class DataConfig:
    source: str = option(
        "synthetic",
        "synthetic: the embedded motion dataset, generated on first use; prepared: a "
        "directory written by `python -m pipelines.prepare`; tfrecord: SequenceExample shards "
        "where they are (e.g. TF Model Garden's), named by --train-pattern etc., indexed on first use",
        choices=SOURCES,
    )
    data_dir: str = option("", "dataset directory ('' = data/synthetic-<spec> for synthetic, "
                           "data/tfrecord-<hash of the patterns> for the index of a tfrecord source)")
    train_pattern: str = option(
        "", "tfrecord: glob of the training shards, plain or GZIP (split 'train'), e.g. "
        "'/data/k400/train*.tfrecord*'", check=lambda config: _pattern_error(config, "train_pattern"),
    )
    val_pattern: str = option("", "tfrecord: glob of the validation shards (split 'validation')",
                              check=lambda config: _pattern_error(config, "val_pattern"))
    test_pattern: str = option("", "tfrecord: glob of the test shards (split 'test')",
                               check=lambda config: _pattern_error(config, "test_pattern"))
    label_map: str = option(
        "", "tfrecord: class names, one a line (line i is label i) or 'name: index' lines "
        "('' = from the records' clip/label/text)", check=lambda config: _pattern_error(config, "label_map"),
    )
    train_split: str = option("train", "split to train on")
    val_split: str = option("validation", "split to validate on (falls back to 'test' if absent)")
    clip_length: int = option(8, "frames per clip T", minimum=1)
    frame_step: int = option(2, "take every k-th stored frame", minimum=1)
    image_size: int = option(64, "square crop size fed to the model, pixels", minimum=16)
    num_test_clips: int = option(4, "evenly spaced clips per video at evaluation", minimum=1)
    three_crop: bool = option(False, "evaluate three crops along the longer side per clip")
    flip: bool = option(
        False, "random horizontal flip (done in the model, in training; off: it swaps left/right motion classes)"
    )
    train_crop: str = option(
        "random_resized", "training crop, done in the model: random_resized (area and aspect jitter, "
        "then resize to --image-size) or random (an --image-size window of the stored frames, no "
        "resizing: the C3D recipe)", choices=CROP_MODES,
    )
    min_crop_scale: float = option(
        0.6, "random resized crop: smallest area fraction, at most 1", minimum=0.05, maximum=1.0,
        expected="an area fraction in (0, 1]",
    )
    brightness: float = option(
        0.1, "random brightness jitter per clip, fraction of 255 (done in the model, in training)",
        minimum=0.0,
    )
    contrast: float = option(
        0.1, "random contrast jitter per clip, +- factor below 1 (done in the model, in training)",
        minimum=0.0, below=1.0, expected="a factor change in [0, 1)",
    )
    short_video: str = option(
        "loop", "videos shorter than a clip: loop them or repeat the last frame",
        choices=SHORT_VIDEO_MODES,
    )
    shuffle_buffer: int = option(512, "videos in the shuffle buffer", minimum=1)
    deterministic: bool = option(False, "deterministic input order (slower)")
    synthetic_videos_per_class: int = option(60, "synthetic: training videos per class", minimum=1)
    synthetic_frames: int = option(16, "synthetic: frames per video", minimum=2)
    synthetic_frame_size: int = option(64, "synthetic: frame height and width", minimum=16)
    synthetic_num_classes: int = option(10, "synthetic: number of motion classes", minimum=2)


@dataclasses.dataclass
class ModelConfig:
    model: str = option("rrn", "model family", choices=MODELS)
    depth: int = option(18, "ResNet depth", choices=DEPTHS)
    width: float = option(0.25, "ResNet width multiplier (1.0 = standard)", minimum=0.01)
    weights: str = option("none", "backbone weights: imagenet | PATH to a .h5 file | none",
                          check=lambda config: _weights_error(config.model))
    skip_units: list = option(
        ["conv2_block1", "conv2_block2", "conv3_block2", "conv4_block2", "conv5_block2"],
        "rrn: residual units that get a temporal skip, comma-separated",
        check=lambda config: _skips_error(config),
    )
    skip_kind: str = option("conv", "rrn: temporal weights W", choices=SKIP_KINDS)
    skip_delay: int = option(2, "rrn: frames between skip source and target", minimum=1)
    skip_span: int = option(1, "rrn: 1 = the unit's own input, k = input k-1 units earlier", minimum=1)
    skip_init: str = option(
        "difference", "rrn: starting W of the learned kinds (identity has none): difference (minus "
        "identity: each unit starts from x_t - x_{t-d}) or default (ones; he-normal for conv)",
        choices=SKIP_INITS,
    )
    dropout: float = option(0.0, "dropout before the classifier", minimum=0.0, below=1.0,
                            expected="a rate in [0, 1)")
    stream: str = option("high", "mrrn: which ResNet level the stream taps (low=conv3, mid=conv4, "
                         "high=conv5)", choices=STREAMS)
    sru_units: int = option(256, "mrrn: SRU units per layer", minimum=1)
    sru_layers: int = option(2, "mrrn: stacked SRU layers", minimum=1)
    sru_variant: str = option("2017", "mrrn: SRU equations (2017 as in MRRN, 2018 as the sru package)",
                              choices=SRU_VARIANTS)
    sru_dropout: float = option(0.0, "mrrn: dropout on each SRU layer's input", minimum=0.0, below=1.0,
                                expected="a rate in [0, 1)")
    bidirectional: bool = option(False, "mrrn: bidirectional SRUs")
    time_pooling: str = option("mean", "mrrn: pooling of SRU outputs over time",
                               choices=TIME_POOLINGS)
    frame_grid: int = option(
        1, "average-pool each frame's map (conv5; an mrrn stream's tap) to a G x G grid, flattened, before "
        "the classifier, SRUs or LSTM (1 = global pooling, the papers'; 2 or more keeps where in the frame "
        "things are)", minimum=1, check=lambda config: _frame_grid_error(config),
    )
    lstm_units: int = option(256, "resnet_lstm: LSTM units", minimum=1)


@dataclasses.dataclass
class TrainConfig:
    epochs: int = option(30, "training epochs", minimum=1)
    batch_size: int = option(16, "clips per batch per replica (global batch = this x replicas)", minimum=1)
    steps_per_epoch: int = option(0, "steps per epoch (0 = one pass over the training split)", minimum=0)
    learning_rate: float = option(0.001, "peak learning rate", minimum=0.0)
    optimizer: str = option("adamw", "optimizer", choices=OPTIMIZERS)
    momentum: float = option(0.9, "SGD momentum", minimum=0.0)
    weight_decay: float = option(1e-4, "decoupled weight decay", minimum=0.0)
    schedule: str = option("cosine", "learning-rate schedule after warm-up",
                           choices=DECAYS)
    step_decay_epochs: int = option(10, "step schedule: multiply the rate by 0.1 every N epochs", minimum=1)
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy", minimum=0.0, below=1.0,
                                    expected="a fraction in [0, 1)")
    clipnorm: float = option(0.0, "clip each gradient to this norm (0 = off)", minimum=0.0)
    freeze_backbone_epochs: int = option(
        0, "train only the head for the first N epochs", minimum=0,
        check=lambda config: (
            f"--freeze-backbone-epochs {config.train.freeze_backbone_epochs}: must be below "
            f"--epochs {config.train.epochs}"
            if config.train.freeze_backbone_epochs >= config.train.epochs else None
        ),
    )
    reduce_lr_on_plateau: bool = option(
        False, "also divide the rate by 10 when val_loss stalls",
        check=lambda config: (
            "--reduce-lr-on-plateau: needs --schedule constant --warmup-epochs 0 (it sets the rate itself)"
            if config.train.reduce_lr_on_plateau
            and (config.train.schedule != "constant" or config.train.warmup_epochs) else None
        ),
    )
    backup_every: int = option(0, "BackupAndRestore every N steps (0 = every epoch)", minimum=0)
    strategy: str = option("auto", "auto | one_device | mirrored | multi_worker | tpu",
                           choices=STRATEGIES)
    export: bool = option(True, "export the best checkpoint to saved_models/<name>/<version> (TF "
                          "Serving layout) when training ends")
    warmup_epochs: int = option(1, "linear warm-up epochs", minimum=0)
    seed: int = option(1234, "random seed (data generation, shuffling, initialisation)", minimum=0)
    precision: str = option(
        "auto", "auto = mixed_float16 on CUDA GPUs, mixed_bfloat16 on TPU, float32 on CPU",
        choices=PRECISIONS,
    )
    run_dir: str = option("runs", "parent directory of run directories")
    name: str = option("", "run name ('' = <model>-<hash of the config>)")
    verbose: int = option(1, "Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch",
                          choices=VERBOSITIES)


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


@dataclasses.dataclass
class Config:
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def to_dict(self):
        return dataclasses.asdict(self)

    def fingerprint(self):
        """8 hex digits that identify everything but the run's name and location."""
        content = self.to_dict()
        content["train"] = {k: v for k, v in content["train"].items() if k not in ("name", "run_dir", "verbose")}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:8]

    def validate(self):
        """`validate(self)`: raises ConfigError (one line naming the flag) unless every field
        and rule holds."""
        validate(self)

    @property
    def run_name(self):
        return self.train.name or f"{self.model.model}-{self.fingerprint()}"

    @property
    def run_path(self):
        return pathlib.Path(self.train.run_dir) / self.run_name

    @property
    def data_path(self):
        if self.data.data_dir:
            return pathlib.Path(self.data.data_dir)
        d = self.data
        if d.source == "tfrecord":
            content = json.dumps([self.tfrecord_patterns, d.label_map], sort_keys=True)
            return pathlib.Path("data") / f"tfrecord-{hashlib.sha256(content.encode()).hexdigest()[:8]}"
        if d.source != "synthetic":
            raise ConfigError("--data-dir is required when --source is 'prepared'")
        return pathlib.Path("data") / (
            f"synthetic-{d.synthetic_frame_size}px-{d.synthetic_frames}f-"
            f"{d.synthetic_num_classes}c-{d.synthetic_videos_per_class}v-seed{self.train.seed}"
        )

    @property
    def tfrecord_patterns(self):
        """Split name -> glob pattern of a `tfrecord` source, for the patterns that are set."""
        return {split: getattr(self.data, name) for name, split in PATTERN_SPLITS.items() if getattr(self.data, name)}


def field_index():
    """Maps every field name to (section name, dataclasses.Field)."""
    index = {}
    for section, cls in SECTIONS.items():
        for field in dataclasses.fields(cls):
            index[field.name] = (section, field)
    return index


def coerce(field, value, where):
    """Checks and converts one value to the field's type, choices and bounds; raises
    ConfigError naming `where`."""
    kind = field.type
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    elif kind is bool:
        ok = isinstance(value, bool)
    elif kind is str:
        ok = isinstance(value, str)
    else:  # list of str
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    if not ok:
        raise ConfigError(f"{where}: expected {type_name(kind)}, got {value!r}")
    meta = field.metadata
    if meta["choices"] is not None and value not in meta["choices"]:
        raise ConfigError(f"{where}: expected one of {', '.join(map(str, meta['choices']))}, got {value!r}")
    bounds = (
        (meta["minimum"], lambda low: value >= low, ">="),
        (meta["maximum"], lambda high: value <= high, "<="),
        (meta["below"], lambda high: value < high, "<"),
    )
    for bound, holds, relation in bounds:
        if bound is not None and not holds(bound):
            expected = meta["expected"] or f"a value {relation} {bound}"
            raise ConfigError(f"{where}: expected {expected}, got {value!r}")
    return value


def type_name(kind):
    names = {int: "an integer", float: "a finite number", bool: "true or false", str: "a string"}
    return names.get(kind, "a comma-separated list of names")


def from_dict(content, source="config"):
    """Builds a Config from nested dicts, rejecting unknown sections and keys."""
    if not isinstance(content, dict):
        raise ConfigError(f"{source}: expected a mapping with sections {', '.join(SECTIONS)}")
    sections = {}
    for section, values in content.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"{source}: unknown section {section!r} (expected {', '.join(SECTIONS)})"
            )
        fields = {field.name: field for field in dataclasses.fields(SECTIONS[section])}
        values = {} if values is None else values
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {section} must be a mapping of keys to values, got {values!r}")
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(
                f"{source}: unknown key {section}.{unknown[0]} "
                f"(known in {section}: {', '.join(sorted(fields))})"
            )
        sections[section] = SECTIONS[section](
            **{k: coerce(fields[k], v, f"{source}: {section}.{k}") for k, v in values.items()}
        )
    return Config(**sections)


def load(path):
    """Loads a JSON or YAML config file (by extension; `.yaml`/`.yml` is YAML)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            content = yaml.safe_load(text)
        else:
            content = json.loads(text)
    except Exception as error:
        raise ConfigError(f"--config {path}: not valid {path.suffix[1:].upper() or 'JSON'} ({error})".replace("\n", " "))
    return from_dict(content, source=str(path))


def save(config, path):
    """Writes the resolved config as JSON, through a temporary file (a full disk or a kill
    never leaves a truncated config.json, which would refuse the re-run)."""
    path = pathlib.Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    os.replace(temporary, path)


def flag_name(field_name):
    """The command-line flag of a config field: `clip_length` -> `--clip-length`."""
    return "--" + field_name.replace("_", "-")


def validate(config):
    """Checks every field of `config` (type, choices, bounds) and every rule between fields,
    before anything runs.

    Raises:
        ConfigError, one line naming the flag and what was expected.
    """
    for name, (section, field) in field_index().items():
        coerce(field, getattr(getattr(config, section), name), flag_name(name))
    for _, field in field_index().values():
        check = field.metadata["check"]
        message = check(config) if check else None
        if message:
            raise ConfigError(message)


def _pattern_error(config, name):
    """The rule of the `tfrecord` source's fields: a training pattern with it, none without it."""
    value, tfrecord = getattr(config.data, name), config.data.source == "tfrecord"
    if tfrecord and name == "train_pattern" and not value:
        return "--source tfrecord: needs --train-pattern GLOB (and --val-pattern / --test-pattern to validate)"
    if value and not tfrecord:
        return f"{flag_name(name)}: only with --source tfrecord (got --source {config.data.source})"
    return None


def _weights_error(model):
    if model.weights == "none":
        return None
    try:
        check_weights(model.depth, model.width, model.weights)
    except (ValueError, FileNotFoundError) as error:
        return str(error)
    return None


def _frame_grid_error(config):
    grid, model = config.model.frame_grid, config.model.model
    stages = {"mrrn": [STREAM_STAGES[config.model.stream]], "mrrn_shared": list(STREAM_STAGES.values())}
    for stage in stages.get(model, ["conv5"]):
        size = stage_map_size(config.data.image_size, stage)
        if size % grid:
            return (f"--frame-grid {grid}: must divide the {stage} map of {model}, {size}x{size} at "
                    f"--image-size {config.data.image_size}")
    return None


def _skips_error(config):
    model = config.model
    if model.model != "rrn":
        return None
    if not model.skip_units:
        return "--skip-units: an rrn needs at least one unit (use --model resnet for none)"
    spec = SkipSpec(model.skip_delay, model.skip_kind, model.skip_span)
    try:
        check_skips(model.depth, {unit: spec for unit in model.skip_units}, config.data.clip_length)
    except ValueError as error:
        return f"--skip-units {','.join(model.skip_units)}: {error}"
    return None
