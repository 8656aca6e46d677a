"""The work of `python -m kerasrrn.export` once its arguments parse (see `kerasrrn.export`)."""

import contextlib
import errno
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

from kerasrrn.runs.layout import RunLayout
from kerasrrn.runs.loading import LABELS_ASSET, STREAM_SIGNATURES, TrainedRun, load_model, streaming_form
from pipelines.cli import no_space_left, not_a_directory
from pipelines.clips import clip_span
from pipelines.dataset import video_views

LABELS_FILE = LABELS_ASSET.name
MODELS_CONFIG = "models.config"
MAX_TOP_K = 5
VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# `.<version>.tmp-<pid>-<random>`: hidden and non-numeric, so TF Serving ignores it.
STAGING = re.compile(r"\.\d+\.tmp-(\d+)-")
# Mixed precision: eager Keras and the reloaded graph may order float16 sums differently;
# probabilities near 1 keep about 3 significant digits in float16.
TOLERANCE = {"float32": 1e-5, "mixed": 1e-3}
STREAM_INIT, STREAM_STEP = STREAM_SIGNATURES

# Runs in a fresh `python -I` (no kerasrrn on the path, only TensorFlow imported): argv =
# saved model, inputs .npz (`<signature>` holds its frames, `<signature>/<argument>` any other
# argument), outputs .npz. Signature outputs are written as `<signature>/<key>`.
RELOAD_SCRIPT = """
import sys
import numpy as np
import tensorflow as tf

saved_model, inputs_path, outputs_path = sys.argv[1:4]
loaded = tf.saved_model.load(saved_model)
inputs = np.load(inputs_path)
arguments = {}
for name in inputs.files:
    signature, _, argument = name.partition("/")
    arguments.setdefault(signature, {})[argument or "frames"] = tf.constant(inputs[name])
outputs = {}
for signature, kwargs in arguments.items():
    result = loaded.signatures[signature](**kwargs)
    for key, value in result.items():
        value = value.numpy()
        outputs[f"{signature}/{key}"] = value.astype(str) if value.dtype == object else value
assert "kerasrrn" not in sys.modules, "the reloaded SavedModel must not need kerasrrn"
np.savez(outputs_path, **outputs)
"""


class ExportError(ValueError):
    """The run directory or the export target is not acceptable (usage error, exit 2)."""


class VerificationError(RuntimeError):
    """The reloaded SavedModel does not reproduce the Keras model (exit 1)."""


def next_version(model_path):
    """1 + the largest numeric version directory under `model_path` (1 when there is none)."""
    versions = [int(child.name) for child in _version_dirs(model_path)]
    return max(versions, default=0) + 1


def _version_dirs(model_path):
    """The numbered version directories under `model_path` (none when it does not exist)."""
    model_path = pathlib.Path(model_path)
    if not model_path.is_dir():
        return []
    return [child for child in model_path.iterdir() if child.is_dir() and child.name.isdigit()]


def remove_stale_staging(model_path):
    """Deletes the staging directories under `model_path` whose export process is gone (killed
    while exporting); those of running exports are kept."""
    model_path = pathlib.Path(model_path)
    for child in model_path.iterdir() if model_path.is_dir() else ():
        match = STAGING.match(child.name)
        if match and child.is_dir() and not _process_exists(int(match.group(1))):
            shutil.rmtree(child, ignore_errors=True)


def _process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_world_readable(path):
    """Directories 0755 and files 0644 under `path` (included), whatever the umask."""
    path = pathlib.Path(path)
    path.chmod(0o755)
    for root, directories, files in os.walk(path):
        for name in directories:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def publish_version(saved_model_path, model_path, version, explicit):
    """Renames the verified `saved_model_path` to `<model_path>/<version>`. A version that
    another export took meanwhile is never replaced: an `explicit` one is refused, the default
    one moves on to the next free number.

    Returns:
        pathlib.Path of the version directory.
    """
    while True:
        version_path = model_path / str(version)
        if not version_path.exists():
            try:
                saved_model_path.rename(version_path)
                return version_path
            except OSError:
                if not version_path.exists():
                    raise
        if explicit:
            raise ExportError(f"--version {version}: {version_path} was written by another export meanwhile")
        version = next_version(model_path)


def build_archive(model, spec, labels_path, stream=None):
    """The `keras.export.ExportArchive` with the `serving_default` and `video` signatures.

    Args:
        model: keras.Model mapping pixels `(B, T, S, S, 3)` in [0, 255] to probabilities `(B, C)`.
        spec: `pipelines.dataset.ClipSpec` matching the model's `T` and `S`.
        labels_path: path of a text file with the `C` class names, one per line; it becomes
            the SavedModel asset `assets/labels.txt` that `top_classes` reads.
        stream: `kerasrrn.models.streaming.StreamingModel` of `model`, or None: adds the
            `stream_init` and `stream_step` signatures.
    """
    num_classes = model.output_shape[-1]
    top_k = min(MAX_TOP_K, num_classes)
    class_names = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            str(labels_path), tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
            tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
        ),
        default_value="",
    )

    def outputs(probabilities):
        probabilities = tf.cast(probabilities, tf.float32)
        top = tf.math.top_k(probabilities, top_k)
        return {
            "probabilities": probabilities,
            "top_classes": class_names.lookup(tf.cast(top.indices, tf.int64)),
            "top_scores": top.values,
        }

    def serve_clips(frames):
        return outputs(model(tf.cast(frames, tf.float32), training=False))

    def serve_video(frames):
        view_probabilities = model(video_views(frames, spec), training=False)
        return outputs(tf.reduce_mean(tf.cast(view_probabilities, tf.float32), 0, keepdims=True))

    size = spec.image_size
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(class_names)
    archive.add_endpoint(
        "serving_default", serve_clips,
        input_signature=[tf.TensorSpec([None, spec.clip_length, size, size, 3], tf.uint8, name="frames")],
    )
    archive.add_endpoint(
        "video", serve_video,
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="frames")],
    )
    if stream is not None:
        add_stream_endpoints(archive, stream, outputs)
    return archive


def add_stream_endpoints(archive, stream, outputs):
    """Adds `stream_init` and `stream_step` (module docstring) of a `StreamingModel`;
    `outputs` maps probabilities to `probabilities`, `top_classes` and `top_scores`."""
    names = sorted(stream.state_shapes)
    archive.track(stream.keras_model)

    def init(batch_size):
        return {name: tf.zeros(tf.stack([batch_size, *stream.state_shapes[name]]), tf.float32) for name in names}

    def step(frames, *states):
        results = stream.keras_model({"frames": frames, **dict(zip(names, states))}, training=False)
        results = {key: tf.cast(value, tf.float32) for key, value in results.items()}
        top = outputs(results["clip_probabilities"])
        return {**results, "clip_top_classes": top["top_classes"], "clip_top_scores": top["top_scores"]}

    size = stream.image_size
    archive.add_endpoint(STREAM_INIT, init, input_signature=[tf.TensorSpec([], tf.int32, name="batch_size")])
    archive.add_endpoint(
        STREAM_STEP, step,
        input_signature=[tf.TensorSpec([None, size, size, 3], tf.uint8, name="frames")]
        + [tf.TensorSpec([None, *stream.state_shapes[name]], tf.float32, name=name) for name in names],
    )


def stream_sample_inputs(stream, seed=0):
    """Inputs of the stream signatures (`<signature>/<argument>` keys) and the Keras streaming
    model's outputs for them (`<signature>/<output>`): a state after one random frame, so that
    `stream_step` sees a non-zero state, and a second random frame."""
    rng = np.random.default_rng(seed)
    size = stream.image_size
    first, second = (rng.integers(0, 256, (2, size, size, 3), np.uint8) for _ in range(2))
    _, _, state = stream.step(first, stream.initial_state(2))
    probabilities, clip_probabilities, new_state = stream.step(second, state)
    inputs = {f"{STREAM_INIT}/batch_size": np.int32(2), f"{STREAM_STEP}/frames": second,
              **{f"{STREAM_STEP}/{name}": value for name, value in state.items()}}
    expected = {f"{STREAM_INIT}/{name}": np.zeros_like(value) for name, value in state.items()}
    expected.update({f"{STREAM_STEP}/{name}": value for name, value in new_state.items()})
    expected.update({f"{STREAM_STEP}/probabilities": probabilities,
                     f"{STREAM_STEP}/clip_probabilities": clip_probabilities})
    return inputs, expected


def verify_stream_outputs(reloaded, expected, tolerance):
    """Raises VerificationError naming the first stream output that differs from the Keras
    streaming model's by more than `tolerance` (relative to the output's largest magnitude,
    at least 1: skip sources are activations of order 100)."""
    for key, value in expected.items():
        served = reloaded.get(key)
        if served is None or served.shape != value.shape:
            raise VerificationError(f"{key}: expected float32 {value.shape}, got {getattr(served, 'shape', 'none')}")
        difference = float(np.max(np.abs(served - value), initial=0.0))
        if difference > tolerance * max(1.0, float(np.max(np.abs(value), initial=0.0))):
            raise VerificationError(
                f"{key}: reloaded stream output differs from the Keras streaming model's by {difference:.2e}"
            )


def sample_inputs(spec, seed=0):
    """Random uint8 inputs for both signatures: 2 clips, and a non-square video of 1.5 clip
    spans plus 3 frames (so clips overlap and the resize and crop both act)."""
    rng = np.random.default_rng(seed)
    size = spec.image_size
    num_frames = clip_span(spec.clip_length, spec.frame_step) * 3 // 2 + 3
    return {
        "serving_default": rng.integers(0, 256, (2, spec.clip_length, size, size, 3), np.uint8),
        "video": rng.integers(0, 256, (num_frames, size + size // 2 + 1, size + 3, 3), np.uint8),
    }


def keras_outputs(model, spec, inputs):
    """What the signatures must return, computed with the in-memory Keras model.

    Returns:
        dict of signature name to float32 probabilities `(batch, C)`.
    """
    clips = np.asarray(model(tf.cast(inputs["serving_default"], tf.float32), training=False))
    views = np.asarray(model(video_views(tf.constant(inputs["video"]), spec), training=False))
    return {"serving_default": clips.astype(np.float32),
            "video": views.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)}


def reload_outputs(saved_model_path, inputs):
    """Runs each signature named in `inputs` on its frames in a fresh Python process that
    imports only TensorFlow.

    Returns:
        dict `"<signature>/<output>"` -> numpy array.

    Raises:
        VerificationError with the child's last error line when it fails.
    """
    with tempfile.TemporaryDirectory(prefix="kerasrrn-export-") as scratch:
        inputs_path, outputs_path = pathlib.Path(scratch, "in.npz"), pathlib.Path(scratch, "out.npz")
        np.savez(inputs_path, **inputs)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
        done = subprocess.run(
            [sys.executable, "-I", "-c", RELOAD_SCRIPT, str(saved_model_path), str(inputs_path),
             str(outputs_path)],
            capture_output=True, text=True, env=env, timeout=600,
        )
        if done.returncode != 0:
            last_line = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise VerificationError(f"reloading {saved_model_path} failed: {last_line}")
        with np.load(outputs_path) as outputs:
            return {key: outputs[key] for key in outputs.files}


def verify_saved_model(saved_model_path, model, spec, class_names, stream=None):
    """Checks the SavedModel, reloaded in a fresh process, against the Keras model (and its
    stream signatures against `stream`, the Keras streaming model, when given).

    Returns:
        (largest absolute probability difference, tolerance used).

    Raises:
        VerificationError naming the signature and output that disagree.
    """
    inputs = sample_inputs(spec)
    expected = keras_outputs(model, spec, inputs)
    stream_inputs, stream_expected = stream_sample_inputs(stream) if stream else ({}, {})
    reloaded = reload_outputs(saved_model_path, {**inputs, **stream_inputs})
    mixed = any(layer.compute_dtype != "float32" for layer in model.layers)
    tolerance = TOLERANCE["mixed" if mixed else "float32"]
    top_k = min(MAX_TOP_K, len(class_names))
    largest = 0.0
    for signature, probabilities in expected.items():
        served = reloaded[f"{signature}/probabilities"]
        if served.dtype != np.float32 or served.shape != probabilities.shape:
            raise VerificationError(
                f"{signature}: probabilities are {served.dtype} {served.shape}, expected "
                f"float32 {probabilities.shape}"
            )
        difference = float(np.max(np.abs(served - probabilities)))
        largest = max(largest, difference)
        if difference > tolerance:
            raise VerificationError(
                f"{signature}: reloaded probabilities differ from the Keras model's by "
                f"{difference:.2e} (tolerance {tolerance:.0e})"
            )
        order = np.argsort(-served, axis=-1, kind="stable")[:, :top_k]
        if not np.allclose(reloaded[f"{signature}/top_scores"], np.take_along_axis(served, order, -1)):
            raise VerificationError(f"{signature}: top_scores are not the largest probabilities")
        if not (reloaded[f"{signature}/top_classes"] == np.asarray(class_names)[order]).all():
            raise VerificationError(f"{signature}: top_classes do not name the top probabilities")
    verify_stream_outputs(reloaded, stream_expected, tolerance)
    return largest, tolerance


def write_models_config(out_dir):
    """(Re)writes `<out_dir>/models.config` for TF Serving's `--model_config_file`: one entry
    per model directory holding a numbered version with a `saved_model.pb`, absolute
    `base_path`s, sorted by name. The file is generated from the directory: edits are lost.

    Returns:
        (path of the file, number of models listed).
    """
    out_dir = pathlib.Path(out_dir).resolve()
    models = sorted(
        child for child in out_dir.iterdir()
        if child.is_dir() and any((version / "saved_model.pb").is_file() for version in _version_dirs(child))
    )
    entries = "".join(
        "  config {\n"
        f"    name: {_quoted(model.name)}\n"
        f"    base_path: {_quoted(str(model))}\n"
        '    model_platform: "tensorflow"\n'
        "  }\n"
        for model in models
    )
    path = out_dir / MODELS_CONFIG
    temporary = path.with_name(f".{MODELS_CONFIG}.tmp-{os.getpid()}")
    temporary.write_text("model_config_list {\n" + entries + "}\n")
    os.replace(temporary, path)
    return path, len(models)


def _quoted(text):
    """A text-protobuf string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextlib.contextmanager
def full_disk_named(path):
    """Re-raises an error of a full disk inside the body (an `OSError`, or TensorFlow's
    `ResourceExhaustedError` naming a staging file) as `OSError(ENOSPC)` naming `path`, the
    model directory being written."""
    try:
        yield
    except (OSError, tf.errors.OpError) as error:
        if no_space_left(error, path) is None:
            raise
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from error


def stream_of(run_path, model):
    """The streaming form of the run's `model`, or None (with one line saying why) for a model
    that cannot stream."""
    try:
        return streaming_form(TrainedRun.open(run_path), model)
    except ValueError as error:
        print(f"No stream signatures: {error}")
        return None


def export_run(run_path, out_dir="saved_models", name=None, version=None, verify=True):
    """Exports the best checkpoint of a run as `<out_dir>/<name>/<version>/` and updates
    `<out_dir>/models.config`. Prints one line: what was exported where, and how it verified.

    Args:
        run_path: str or path, a run directory written by `python -m kerasrrn.fit`.
        out_dir: str or path, default `"saved_models"`. TF Serving's model base directory.
        name: str or None. Model name (default: the run directory's name).
        version: int or None. Version number (default: one more than the largest present).
        verify: bool, default True. Reload in a fresh process and compare with the Keras model.

    Returns:
        pathlib.Path of the version directory.

    Raises:
        ExportError (bad run directory, name or version; an existing version is never
        overwritten), VerificationError (the reloaded model disagrees; nothing is left behind),
        OSError ENOSPC naming the model directory on a full disk (the staging directory is
        deleted, no version appears).
    """
    run_path = pathlib.Path(run_path)
    if not RunLayout(run_path).is_run():
        raise ExportError(
            f"{run_path}: no config.json (expected a run directory written by `python -m kerasrrn.fit`)"
        )
    name = name or run_path.resolve().name
    if not VALID_NAME.fullmatch(name):
        raise ExportError(f"--name {name!r}: expected letters, digits, '.', '_' or '-'")
    model_path = pathlib.Path(out_dir) / name
    path = not_a_directory(out_dir, model_path)
    if path:
        raise ExportError(f"--out {out_dir}: {path} exists and is not a directory")
    explicit = version is not None
    version = version if explicit else next_version(model_path)
    if not isinstance(version, int) or version < 1:
        raise ExportError(f"--version {version!r}: expected an integer >= 1")
    version_path = model_path / str(version)
    if version_path.exists():
        raise ExportError(f"--version {version}: {version_path} exists; versions are never overwritten")

    loaded = load_model(run_path)
    model, spec, class_names = loaded.model, loaded.spec, loaded.class_names
    stream = stream_of(run_path, model)
    with full_disk_named(model_path):
        model_path.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(model_path)
        # Holds the SavedModel and its labels file, so that a kill leaves nothing elsewhere.
        staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{version}.tmp-{os.getpid()}-", dir=model_path))
        try:
            labels_path, saved = staging / LABELS_FILE, staging / "saved_model"
            labels_path.write_text("".join(f"{class_name}\n" for class_name in class_names))
            build_archive(model, spec, labels_path, stream).write_out(str(saved), verbose=False)
            verified = "not verified"
            if verify:
                difference, tolerance = verify_saved_model(saved, model, spec, class_names, stream)
                verified = (f"reloaded in a fresh TensorFlow process: largest probability difference "
                            f"{difference:.1e}, tolerance {tolerance:.0e}")
            make_world_readable(saved)
            version_path = publish_version(saved, model_path, version, explicit)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        write_models_config(out_dir)
    print(f"Exported {loaded.description} to {version_path} ({verified})")
    return version_path


def run(parser, args):
    """What the command does once `args` parse (`parser` for the errors' exit status)."""
    try:
        path = export_run(args.run_dir, args.out, args.name, args.version)
    except VerificationError as error:
        return parser.fail(str(error))
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    except OSError as error:
        line = no_space_left(error, args.out)
        if line is None:
            raise
        return parser.fail(line)
    print(f"  signatures: serving_default (clips), video (whole videos), stream_init and stream_step "
          f"(one frame at a time, unless said above); classes: "
          f"{path / 'assets' / LABELS_FILE}")
    print(f"  TF Serving config: {pathlib.Path(args.out) / MODELS_CONFIG}")
    return 0
