"""What `evaluate` and `predict` share: loading a trained model (a run or a SavedModel).

A model is either

- a run directory (`config.json` + `checkpoints/best.keras`, falling back to `last.keras`): the
  clip settings come from its config, the class names from its dataset's `dataset.json`; or
- a SavedModel directory (`kerasrrn.export`): signature `serving_default` maps uint8 `frames`
  `(B, T, H, W, 3)` to float32 `probabilities` `(B, C)`; class names in `assets/labels.txt`;
  clip length and image size from the signature's static shape or the flags.

Either way it comes back as a `LoadedModel` whose `model.predict_on_batch` maps float32 views
`(B, T, S, S, 3)` (pixel values in [0, 255]) to probabilities `(B, C)`, as
`kerasrrn.evaluation.predict_views` expects.
"""

import argparse
import dataclasses
import pathlib

from kerasrrn import config as config_lib
from pipelines import records
from pipelines.dataset import ClipSpec

CHECKPOINTS = ("best.keras", "last.keras")
SIGNATURE = "serving_default"
INPUT_NAME = "frames"
OUTPUT_NAME = "probabilities"


class InferenceError(ValueError):
    """A model or dataset that cannot be used; `str()` is one line naming the path or flag."""


@dataclasses.dataclass
class LoadedModel:
    """A trained model with what is needed to feed it.

    Attributes:
        model: has `predict_on_batch(views)`: float32 `(B, T, S, S, 3)` -> `(B, C)`.
        class_names: list of `C` str.
        spec: `pipelines.dataset.ClipSpec`, how test views are taken.
        data_path: pathlib.Path or None, the dataset (the run's own unless overridden).
        stored_frame_step: int, the frame step the dataset was prepared with (1 without one):
            `predict` decodes videos with it so that `spec.frame_step` counts the same frames.
        stored_short_side: int, the dataset's stored shorter side (0: kept as decoded).
        batch_size: int, views per batch: the run's training batch size, 16 for a SavedModel.
        description: str, e.g. `run /runs/t (checkpoints/best.keras)`.
        default_out: pathlib.Path, where `evaluate` writes by default.
    """

    model: object
    class_names: list
    spec: ClipSpec
    data_path: object
    stored_frame_step: int
    stored_short_side: int
    batch_size: int
    description: str
    default_out: pathlib.Path


class ServingModel:
    """A SavedModel signature behind a `predict_on_batch` like Keras'.

    Views are rounded to uint8, the serving input type.
    """

    def __init__(self, signature):
        self.signature = signature

    def predict_on_batch(self, views):
        import tensorflow as tf

        frames = tf.cast(tf.clip_by_value(tf.round(views), 0.0, 255.0), tf.uint8)
        return self.signature(**{INPUT_NAME: frames})[OUTPUT_NAME].numpy()


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def add_view_flags(parser):
    """The clip flags `evaluate` and `predict` share; None (not given) keeps the model's."""
    group = parser.add_argument_group(
        "views (default: the run's config.json; for a SavedModel its signature's shape and "
        "`python -m kerasrrn.fit`'s defaults)"
    )
    group.add_argument("--num-test-clips", type=positive_int, metavar="N",
                       help="evenly spaced clips per video")
    group.add_argument("--frame-step", type=positive_int, metavar="K",
                       help="take every K-th stored frame within a clip")
    group.add_argument("--clip-length", type=positive_int, metavar="T", help="frames per clip")
    group.add_argument("--image-size", type=positive_int, metavar="S", help="crop size, pixels")


def view_overrides(args):
    """The `ClipSpec` overrides given on the command line, for `load_model` (None: not given)."""
    names = ("num_test_clips", "frame_step", "clip_length", "image_size", "three_crop")
    return {name: getattr(args, name, None) for name in names}


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
    if (path / "config.json").is_file():
        return _load_run(path, data_path, overrides)
    if (path / "saved_model.pb").is_file():
        return _load_saved_model(path, data_path, overrides)
    raise InferenceError(
        f"{path}: neither a run directory (config.json) nor a SavedModel directory (saved_model.pb)"
    )


def _load_run(run_path, data_path, overrides):
    import keras

    config = config_lib.load(run_path / "config.json")
    checkpoint = next(
        (run_path / "checkpoints" / name for name in CHECKPOINTS
         if (run_path / "checkpoints" / name).is_file()),
        None,
    )
    if checkpoint is None:
        raise InferenceError(
            f"{run_path}: no checkpoint (expected checkpoints/{' or checkpoints/'.join(CHECKPOINTS)})"
        )
    data_path = pathlib.Path(data_path) if data_path else config.data_path
    info = records.read_dataset_info(data_path)
    spec = dataclasses.replace(ClipSpec.from_config(config.data), **overrides)
    model = keras.saving.load_model(checkpoint)
    _check_views_fit(model.input_shape[1:4], spec, checkpoint)
    num_outputs = model.output_shape[-1]
    if num_outputs != len(info["class_names"]):
        raise InferenceError(
            f"{data_path}: has {len(info['class_names'])} classes, the model {checkpoint} "
            f"outputs {num_outputs}"
        )
    return LoadedModel(
        model=model,
        class_names=list(info["class_names"]),
        spec=spec,
        data_path=data_path,
        stored_frame_step=info.get("frame_step", 1),
        stored_short_side=info.get("short_side", 0),
        batch_size=config.train.batch_size,
        description=f"run {run_path} ({checkpoint.relative_to(run_path)})",
        default_out=run_path / "eval",
    )


def _load_saved_model(saved_model_path, data_path, overrides):
    import tensorflow as tf

    labels_path = saved_model_path / "assets" / "labels.txt"
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
    stored_frame_step, stored_short_side = 1, 0
    if data_path:
        info = records.read_dataset_info(data_path)
        if list(info["class_names"]) != class_names:
            raise InferenceError(
                f"{data_path}: its {len(info['class_names'])} classes differ from the "
                f"{len(class_names)} in {labels_path}"
            )
        stored_frame_step, stored_short_side = info.get("frame_step", 1), info.get("short_side", 0)
    version = saved_model_path.resolve()
    name = f"{version.parent.name}-{version.name}" if version.name.isdigit() else version.name
    return LoadedModel(
        model=ServingModel(signature),
        class_names=class_names,
        spec=spec,
        data_path=pathlib.Path(data_path) if data_path else None,
        stored_frame_step=stored_frame_step,
        stored_short_side=stored_short_side,
        batch_size=16,
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
