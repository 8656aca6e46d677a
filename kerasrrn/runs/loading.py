"""Loading what training wrote: a run directory, or a SavedModel exported from one.

- `TrainedRun.open(path)`: a run directory (`config.json` + `checkpoints/best.keras`, falling
  back to `last.keras`), its config and its dataset. `fuse`, the fusion search and `load_model`
  all read runs through it.
- `load_model(path)`: a run directory or a SavedModel directory (`kerasrrn.export`: signature
  `serving_default` maps uint8 `frames` `(B, T, H, W, 3)` to float32 `probabilities` `(B, C)`;
  class names in `assets/labels.txt`; clip length and image size from the signature's static
  shape or the flags), as a `LoadedModel` whose `model.predict_on_batch` maps float32 views
  `(B, T, S, S, 3)` (pixel values in [0, 255]) to probabilities `(B, C)`, as
  `kerasrrn.evaluation.views.predict_views` expects. `evaluate`, `predict` and `export` use it.
- `load_streaming_model(path)`: a run directory's model in its streaming form
  (`kerasrrn.models.streaming`), or a SavedModel's stream signatures behind the same interface,
  with the `LoadedModel` of the path. `stream` uses it.
"""

import dataclasses
import json
import pathlib
import sys
import zipfile

import keras
import tensorflow as tf

from kerasrrn import config as config_lib
from kerasrrn.models.streaming import StreamingModel, build_streaming_model
from kerasrrn.runs.data import RunData, index_tfrecord_source
from kerasrrn.runs.layout import CHECKPOINTS, RunLayout
from pipelines.dataset import ClipSpec

SIGNATURE = "serving_default"
INPUT_NAME = "frames"
OUTPUT_NAME = "probabilities"
LABELS_ASSET = pathlib.Path("assets") / "labels.txt"
# The SavedModel signatures of a streaming model (`kerasrrn.export`), and the outputs of
# `stream_step` that are not state.
STREAM_SIGNATURES = ("stream_init", "stream_step")
STREAM_TOP_OUTPUTS = ("clip_top_classes", "clip_top_scores")
# Views per batch for a SavedModel, which has no training batch size.
SAVED_MODEL_BATCH_SIZE = 16


class InferenceError(ValueError):
    """A model or dataset that cannot be used; `str()` is one line naming the path or flag."""


@dataclasses.dataclass
class TrainedRun:
    """A run directory written by `python -m kerasrrn.fit` (or `kerasrrn.fuse`).

    Attributes:
        layout: `RunLayout`, its paths.
        config: `kerasrrn.config.Config`, its resolved config.
    """

    layout: RunLayout
    config: config_lib.Config

    @classmethod
    def open(cls, path):
        """Reads the run's `config.json`.

        Raises:
            InferenceError naming the directory when it holds no run; ConfigError for a bad
            config.
        """
        layout = RunLayout(path)
        if not layout.is_run():
            raise InferenceError(
                f"{layout.path}: no config.json (expected a run directory of `python -m kerasrrn.fit`)"
            )
        return cls(layout, config_lib.load(layout.config))

    @property
    def path(self):
        return self.layout.path

    def load_checkpoint(self, compile=True):
        """Loads `checkpoints/best.keras`, falling back to `last.keras` when it is missing or
        unreadable (a truncated zip left by a kill while it was written); a fallback from an
        unreadable file prints one warning line naming it.

        Returns:
            (keras.Model, pathlib.Path of the checkpoint it was read from).

        Raises:
            InferenceError when neither checkpoint loads.
        """
        unreadable = []
        for path in (self.layout.best_checkpoint, self.layout.last_checkpoint):
            if not path.is_file():
                continue
            try:
                model = _read_checkpoint(path, compile)
            except InferenceError as error:
                unreadable.append(str(error))
                continue
            if unreadable:
                print(f"warning: {unreadable[0]}; using {path} instead", file=sys.stderr, flush=True)
            return model, path
        if unreadable:
            raise InferenceError("; ".join(unreadable))
        raise InferenceError(
            f"{self.path}: no checkpoint (expected checkpoints/{' or checkpoints/'.join(CHECKPOINTS)})"
        )

    def load_model(self, compile=True):
        return self.load_checkpoint(compile)[0]

    def data(self, data_path=None, **spec_overrides):
        """The run's dataset (a `tfrecord` source indexed again if its shards changed) or
        `data_path`, read with the run's clip settings and `spec_overrides` (`ClipSpec` fields;
        None values keep the run's)."""
        overrides = {name: value for name, value in spec_overrides.items() if value is not None}
        spec = dataclasses.replace(ClipSpec.from_config(self.config.data), **overrides)
        if data_path is None:
            index_tfrecord_source(self.config)
        return RunData.open(data_path or self.config.data_path, spec)

    def validation_data(self):
        """The run's dataset with its validation split resolved, as `fit` evaluated it."""
        config = self.config
        index_tfrecord_source(config)
        return RunData.open(config.data_path, ClipSpec.from_config(config.data), val_split=config.data.val_split)


@dataclasses.dataclass
class LoadedModel:
    """A trained model with what is needed to feed it.

    Attributes:
        model: has `predict_on_batch(views)`: float32 `(B, T, S, S, 3)` -> `(B, C)`.
        class_names: list of `C` str.
        spec: `pipelines.dataset.ClipSpec`, how test views are taken.
        data: `RunData` or None, the dataset (the run's own unless overridden; a SavedModel
            has one only when given).
        batch_size: int, views per batch: the run's training batch size, 16 for a SavedModel.
        description: str, e.g. `run /runs/t (checkpoints/best.keras)`.
        default_out: pathlib.Path, where `evaluate` writes by default.
    """

    model: object
    class_names: list
    spec: ClipSpec
    data: RunData
    batch_size: int
    description: str
    default_out: pathlib.Path

    @property
    def stored_frame_step(self):
        """The frame step of the dataset (1 without one): `predict` decodes videos with it so
        that `spec.frame_step` counts the same frames as in training."""
        return self.data.stored_frame_step if self.data else 1

    @property
    def stored_short_side(self):
        """The dataset's stored shorter side (0: kept as decoded, also without a dataset)."""
        return self.data.stored_short_side if self.data else 0


class ServingModel:
    """A SavedModel signature behind a `predict_on_batch` like Keras'.

    Views are rounded to uint8, the serving input type.
    """

    def __init__(self, signature):
        self.signature = signature

    def predict_on_batch(self, views):
        frames = tf.cast(tf.clip_by_value(tf.round(views), 0.0, 255.0), tf.uint8)
        return self.signature(**{INPUT_NAME: frames})[OUTPUT_NAME].numpy()


def load_model(path, data_path=None, **spec_overrides):
    """Loads a run directory or a SavedModel directory.

    Args:
        path: str or path-like.
        data_path: str, path-like or None. The dataset to take class names (run) and
            decoding settings from; None: the run's own (a SavedModel then has none).
        **spec_overrides: `ClipSpec` fields to override (`clip_length`, `frame_step`,
            `image_size`, `num_test_clips`, `three_crop`); None values are ignored.

    Returns:
        `LoadedModel`.

    Raises:
        InferenceError, FileNotFoundError or ValueError with one line naming the path.
    """
    path = pathlib.Path(path)
    overrides = {name: value for name, value in spec_overrides.items() if value is not None}
    if RunLayout(path).is_run():
        return _load_run(TrainedRun.open(path), data_path, overrides)
    if (path / "saved_model.pb").is_file():
        return _load_saved_model(path, data_path, overrides)
    raise InferenceError(
        f"{path}: neither a run directory (config.json) nor a SavedModel directory (saved_model.pb)"
    )


def load_streaming_model(path, data_path=None, **spec_overrides):
    """Loads a run directory's model in its streaming form (`streaming_form`), or a
    SavedModel's `stream_init`/`stream_step` signatures (`kerasrrn.export`) behind the same
    interface (`ServingStream`).

    Args:
        path: str or path-like, a run directory or a SavedModel directory.
        data_path: the dataset giving class names and decoding settings; None: the run's own
            (a SavedModel then has none: frames are decoded at full size).
        **spec_overrides: `ClipSpec` fields, as `load_model` (`stream` passes `frame_step`).

    Returns:
        (`StreamingModel` or `ServingStream`, `LoadedModel`).

    Raises:
        InferenceError (one line naming the path); ValueError (one line) for a model that
        cannot stream (a bidirectional head).
    """
    path = pathlib.Path(path)
    overrides = {name: value for name, value in spec_overrides.items() if value is not None}
    if not RunLayout(path).is_run() and (path / "saved_model.pb").is_file():
        loaded = _load_saved_model(path, data_path, overrides)
        return ServingStream(tf.saved_model.load(str(path)), path), loaded
    run = TrainedRun.open(path)
    loaded = _load_run(run, data_path, overrides)
    return streaming_form(run, loaded.model), loaded


class ServingStream(StreamingModel):
    """A SavedModel's stream signatures with `StreamingModel`'s `initial_state` and `step`
    (and its checks). The running clip's length is read from a window in the state."""

    def __init__(self, loaded, path):
        missing = [name for name in STREAM_SIGNATURES if name not in loaded.signatures]
        if missing:
            raise InferenceError(
                f"{path}: no {' or '.join(missing)} signature (exported before streaming, or a "
                "bidirectional model): export the run again with `python -m kerasrrn.export`"
            )
        self.signature = loaded.signatures[STREAM_SIGNATURES[1]]
        inputs = self.signature.structured_input_signature[1]
        windows = [spec.shape[1] for name, spec in inputs.items() if name.endswith("_window")]
        super().__init__(None, f"SavedModel {path}", windows[0] if windows else None, inputs)

    def run_step(self, frames, state):
        tensors = {name: tf.constant(value) for name, value in state.items()}
        outputs = self.signature(frames=tf.constant(frames), **tensors)
        return {name: value for name, value in outputs.items() if name not in STREAM_TOP_OUTPUTS}


def streaming_form(run, model):
    """The streaming form of `model`, the model of `run` (a `TrainedRun`); a fused MRRN run
    (`fusion.json`) is streamed with each stream's config, read from the stream's run directory."""
    config = run.config
    if run.layout.fusion.is_file():
        streams = json.loads(run.layout.fusion.read_text())["streams"]
        config = [TrainedRun.open(stream["run"]).config for stream in streams]
    return build_streaming_model(model, config)


def _read_checkpoint(path, compile):
    """`keras.saving.load_model(path)`; raises InferenceError with one line when the file is
    not a complete `.keras` zip (Keras would say "File not found" of a file that exists)."""
    if not zipfile.is_zipfile(path):
        raise InferenceError(f"{path}: not a complete .keras file (truncated, e.g. killed while written)")
    try:
        return keras.saving.load_model(path, compile=compile)
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InferenceError(f"{path}: unreadable ({reason})") from error


def _load_run(run, data_path, overrides):
    model, checkpoint = run.load_checkpoint()
    data = run.data(data_path, **overrides)
    _check_views_fit(model.input_shape[1:4], data.spec, checkpoint)
    num_outputs = model.output_shape[-1]
    if num_outputs != len(data.class_names):
        raise InferenceError(
            f"{data.path}: has {len(data.class_names)} classes, the model {checkpoint} "
            f"outputs {num_outputs}"
        )
    return LoadedModel(
        model=model,
        class_names=data.class_names,
        spec=data.spec,
        data=data,
        batch_size=run.config.train.batch_size,
        description=f"run {run.path} ({checkpoint.relative_to(run.path)})",
        default_out=run.layout.eval,
    )


def _load_saved_model(saved_model_path, data_path, overrides):
    labels_path = saved_model_path / LABELS_ASSET
    if not labels_path.is_file():
        raise InferenceError(f"{labels_path}: not found (a SavedModel needs its class names there)")
    class_names = [line.strip() for line in labels_path.read_text().splitlines() if line.strip()]
    loaded = tf.saved_model.load(str(saved_model_path))
    if SIGNATURE not in loaded.signatures:
        raise InferenceError(
            f"{saved_model_path}: no {SIGNATURE!r} signature (has: {', '.join(loaded.signatures) or 'none'})"
        )
    signature = loaded.signatures[SIGNATURE]
    inputs = signature.structured_input_signature[1]
    if set(inputs) != {INPUT_NAME} or OUTPUT_NAME not in signature.structured_outputs:
        raise InferenceError(
            f"{saved_model_path}: signature {SIGNATURE!r} must map {INPUT_NAME!r} to "
            f"{OUTPUT_NAME!r} (it maps {', '.join(inputs)} to {', '.join(signature.structured_outputs)})"
        )
    input_shape = tuple(inputs[INPUT_NAME].shape)
    for flag, value in (("clip_length", input_shape[1]), ("image_size", input_shape[2])):
        if flag not in overrides:
            if value is None:
                raise InferenceError(
                    f"--{flag.replace('_', '-')}: required for {saved_model_path}, whose "
                    f"signature takes any {flag.replace('_', ' ')}"
                )
            overrides[flag] = value
    spec = dataclasses.replace(ClipSpec.from_config(config_lib.DataConfig()), **overrides)
    _check_views_fit(input_shape[1:4], spec, saved_model_path)
    data = RunData.open(data_path, spec) if data_path else None
    if data and data.class_names != class_names:
        raise InferenceError(
            f"{data_path}: its {len(data.class_names)} classes differ from the "
            f"{len(class_names)} in {labels_path}"
        )
    version = saved_model_path.resolve()
    name = f"{version.parent.name}-{version.name}" if version.name.isdigit() else version.name
    return LoadedModel(
        model=ServingModel(signature),
        class_names=class_names,
        spec=spec,
        data=data,
        batch_size=SAVED_MODEL_BATCH_SIZE,
        description=f"SavedModel {saved_model_path}",
        default_out=pathlib.Path(f"eval-{name}"),
    )


def _check_views_fit(input_shape, spec, source):
    """Raises unless views `(T, S, S)` of `spec` fit a model input `(T, H, W)` (None: any)."""
    expected = (spec.clip_length, spec.image_size, spec.image_size)
    flags = ("--clip-length", "--image-size", "--image-size")
    for flag, size, wanted in zip(flags, input_shape, expected):
        if size is not None and size != wanted:
            raise InferenceError(f"{flag} {wanted}: {source} takes {size}")
