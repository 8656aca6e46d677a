"""Tests for `python -m kerasrrn.export`: the SavedModels are reloaded as TF Serving would, with
tools we don't own (a fresh Python process that imports only TensorFlow, `saved_model_cli`),
and compared with the Keras models and with `python -m kerasrrn.evaluate`."""

import csv
import json
import os
import pathlib
import re
import stat
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasrrn import config as config_lib
from kerasrrn import evaluate, export as export_command
from kerasrrn.commands import export
from kerasrrn.models import build_rrn
from kerasrrn.models.heads import HeadSpec
from kerasrrn.models.mrrn import build_fused_mrrn, build_mrrn
from pipelines import clips, records
from pipelines.dataset import video_views

# Six classes, so that k = min(5, C) = 5 differs from C.
CLASS_NAMES = ["walk", "run", "jump", "wave", "clap", "sit"]
CLIP_LENGTH, IMAGE_SIZE, FRAME_STEP, NUM_TEST_CLIPS = 4, 32, 2, 3
TINY = dict(clip_length=CLIP_LENGTH, image_size=IMAGE_SIZE, depth=18, width=0.125)
# The evaluation video: 37 frames, 80 high and 100 wide, stored as JPEGs in the test split.
VIDEO_FRAMES, VIDEO_HEIGHT, VIDEO_WIDTH = 37, 80, 100
SAVED_MODEL_CLI = pathlib.Path(sys.executable).with_name("saved_model_cli")

# Runs in a fresh process as TF Serving would: only TensorFlow and NumPy; importing anything of
# this project raises. argv: inputs .npz with `<model>/<signature>/<case>` keys, outputs .npz
# (`<input key>/<output>` keys), then `<model>=<saved model path>` pairs.
RELOAD_AS_SERVING = """
import sys

class NoProjectImports:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("kerasrrn", "pipelines", "tuning"):
            raise ImportError(f"the SavedModel must load without {name}")

sys.meta_path.insert(0, NoProjectImports())
import numpy as np
import tensorflow as tf

inputs = np.load(sys.argv[1])
paths = dict(argument.split("=", 1) for argument in sys.argv[3:])
outputs = {}
for key in inputs.files:
    model, signature, _ = key.split("/")
    result = tf.saved_model.load(paths[model]).signatures[signature](frames=tf.constant(inputs[key]))
    for name, value in result.items():
        outputs[f"{key}/{name}"] = value.numpy().astype(str) if value.dtype == tf.string else value.numpy()
outputs["project_modules"] = np.array(sorted(
    name for name in sys.modules if name.split(".")[0] in ("kerasrrn", "pipelines", "tuning")), dtype=str)
np.savez(sys.argv[2], **outputs)
"""


def spread_probabilities(model, layer="predictions"):
    """Rescales the classifier so that logits on random clips vary by about 1 across classes:
    an untrained model's softmax is saturated (nearly one-hot), which would hide differences."""
    sample = np.random.default_rng(1).uniform(0, 255, (2, CLIP_LENGTH, IMAGE_SIZE, IMAGE_SIZE, 3))
    logits = np.asarray(keras.Model(model.input, model.get_layer(layer).output)(sample), np.float32)
    dense = model.get_layer(layer)
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel / np.std(logits - logits.mean(-1, keepdims=True)), bias])
    return model


def probabilities(model, frames):
    """The Keras model's clip probabilities for uint8 clips `(B, T, S, S, 3)`."""
    return np.asarray(model(np.asarray(frames, np.float32), training=False), np.float64)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A prepared dataset whose test split holds one random video, stored as JPEGs.

    Returns:
        (data dir, uint8 `(37, 80, 100, 3)` frames as decoded from the JPEGs: the same pixels
        evaluation sees, to be sent to the `video` signature).
    """
    data = tmp_path_factory.mktemp("data")
    frames = np.random.default_rng(2).integers(0, 256, (VIDEO_FRAMES, VIDEO_HEIGHT, VIDEO_WIDTH, 3), np.uint8)
    jpegs = [records.encode_jpeg(frame) for frame in frames]
    with records.ShardWriter(data / records.shard_filename("test", 0, 1)) as writer:
        writer.write(records.make_sequence_example(jpegs, 1, CLASS_NAMES[1], "random-video"))
    records.write_dataset_info(data, {
        "class_names": CLASS_NAMES, "splits": {"test": {"videos": 1, "shards": 1, "frames": VIDEO_FRAMES}},
        "frame_step": 1, "short_side": 0,
    })
    decoded = np.stack([tf.io.decode_jpeg(jpeg, channels=3).numpy() for jpeg in jpegs])
    return data, decoded


def make_run(root, model, data, model_name="rrn"):
    """A run directory as `kerasrrn.fit` leaves it: config.json and checkpoints/best.keras."""
    run = root / model.name
    (run / "checkpoints").mkdir(parents=True)
    config = config_lib.from_dict({
        "data": {"data_dir": str(data), "clip_length": CLIP_LENGTH, "image_size": IMAGE_SIZE,
                 "frame_step": FRAME_STEP, "num_test_clips": NUM_TEST_CLIPS},
        # the skips of the `rrn` fixture (build_rrn's own kind and delay), not fit's defaults
        "model": {"model": model_name, "depth": 18, "width": 0.125, "skip_units": ["conv4_block2"],
                  "skip_kind": "identity", "skip_delay": 1},
        "train": {"batch_size": 4},
    })
    config_lib.save(config, run / "config.json")
    model.save(run / "checkpoints" / "best.keras")
    return run


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("saved_models")


@pytest.fixture(scope="module")
def rrn(tmp_path_factory, dataset, out_dir):
    """(Keras model, run dir, exported version dir) of a tiny RRN with a skip at conv4_block2."""
    keras.utils.set_random_seed(0)
    model = spread_probabilities(build_rrn(6, skip_units=("conv4_block2",), name="rrn", **TINY))
    run = make_run(tmp_path_factory.mktemp("runs"), model, dataset[0])
    return model, run, export.export_run(run, out_dir)


@pytest.fixture(scope="module")
def mrrn(tmp_path_factory, dataset, out_dir):
    """{"stream": ..., "fused": ...}: (Keras model, exported version dir) of an MRRN stream and
    of two fused streams, exported unverified (the tests reload them themselves)."""
    keras.utils.set_random_seed(0)
    head = HeadSpec(units=8, num_layers=1)
    low = spread_probabilities(build_mrrn(6, "low", head=head, name="mrrn_low", **TINY))
    mid = spread_probabilities(build_mrrn(6, "mid", head=head, name="mrrn_mid", **TINY))
    fused = build_fused_mrrn([low, mid], [0.3, 0.7], name="mrrn_fused")
    runs = tmp_path_factory.mktemp("runs")
    return {kind: (model, export.export_run(make_run(runs, model, dataset[0], "mrrn"), out_dir, verify=False))
            for kind, model in (("stream", mid), ("fused", fused))}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, dataset, out_dir):
    """(Keras model, exported version dir) of a tiny RRN built under `mixed_float16`; the
    global policy is float32 again afterwards."""
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        model = spread_probabilities(build_rrn(6, skip_units=("conv4_block2",), name="rrn_mixed", **TINY))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    run = make_run(tmp_path_factory.mktemp("runs"), model, dataset[0])
    return model, export.export_run(run, out_dir)


def clip_batch(seed=3):
    return np.random.default_rng(seed).integers(0, 256, (2, CLIP_LENGTH, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)


def short_video():
    """3 frames, fewer than a clip's span of 7: a clip loops them."""
    return np.random.default_rng(4).integers(0, 256, (3, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)


def start_reload(folder, inputs, saved_models):
    """Starts RELOAD_AS_SERVING on `inputs` (dict `<model>/<signature>/<case>` -> uint8 frames)
    and `saved_models` (dict model -> path) in `folder`; returns the `subprocess.Popen`."""
    np.savez(folder / "inputs.npz", **inputs)
    return subprocess.Popen(
        [sys.executable, "-c", RELOAD_AS_SERVING, folder / "inputs.npz", folder / "outputs.npz",
         *(f"{model}={path}" for model, path in saved_models.items())],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(process, timeout=300):
    """Waits for a started process; returns (exit status, stdout, stderr)."""
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def reloaded_outputs(folder, finished):
    """The outputs .npz a finished RELOAD_AS_SERVING wrote, as a dict."""
    status, _, stderr = finished
    assert status == 0, stderr[-2000:]
    with np.load(folder / "outputs.npz") as outputs:
        return {key: outputs[key] for key in outputs.files}


@pytest.fixture(scope="module")
def tools(tmp_path_factory, dataset, rrn):
    """The RRN's SavedModel used by three tools at once (side by side, as each starts its
    own TensorFlow): RELOAD_AS_SERVING, `saved_model_cli show --all` and `saved_model_cli run`
    on a zero clip. Returns {"served": (folder, finished), "show": finished, "run": finished}."""
    folder = tmp_path_factory.mktemp("serving")
    inputs = {"rrn/serving_default/clips": clip_batch(), "rrn/video/evaluation": dataset[1],
              "rrn/video/short": short_video()}
    np.save(folder / "zeros.npy", np.zeros((1, CLIP_LENGTH, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8))
    cli = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = {
        "served": start_reload(folder, inputs, {"rrn": rrn[2]}),
        "show": subprocess.Popen([SAVED_MODEL_CLI, "show", "--all", "--dir", rrn[2]], **cli),
        "run": subprocess.Popen(
            [SAVED_MODEL_CLI, "run", "--dir", rrn[2], "--tag_set", "serve", "--signature_def",
             "serving_default", "--inputs", f"frames={folder / 'zeros.npy'}"], **cli),
    }
    finished = {name: finish(process) for name, process in started.items()}
    finished["served"] = (folder, finished["served"])
    return finished


@pytest.fixture(scope="module")
def served(tools):
    """The RRN signatures' outputs from RELOAD_AS_SERVING."""
    return reloaded_outputs(*tools["served"])


def check_top(served_outputs, prefix, expected):
    """`top_scores` are the 5 largest expected probabilities and `top_classes` name them."""
    order = np.argsort(-expected, axis=-1)[:, :5]
    np.testing.assert_allclose(served_outputs[f"{prefix}/top_scores"], np.take_along_axis(expected, order, -1), atol=1e-5)
    np.testing.assert_array_equal(served_outputs[f"{prefix}/top_classes"], np.asarray(CLASS_NAMES)[order])


def test_export_writes_the_tf_serving_layout(rrn, out_dir):
    _, _, version = rrn
    assert version == out_dir / "rrn" / "1"
    assert (version / "saved_model.pb").is_file() and (version / "variables" / "variables.index").is_file()
    assert (version / "assets" / "labels.txt").read_text().splitlines() == CLASS_NAMES
    assert [path.name for path in (out_dir / "rrn").iterdir()] == ["1"]  # no staging left behind


def test_reloading_needs_nothing_of_this_project(served):
    assert served["project_modules"].size == 0


def test_serving_default_equals_the_keras_model(rrn, served):
    expected = probabilities(rrn[0], clip_batch())
    assert served["rrn/serving_default/clips/probabilities"].dtype == np.float32
    np.testing.assert_allclose(served["rrn/serving_default/clips/probabilities"], expected, atol=1e-5)
    check_top(served, "rrn/serving_default/clips", expected)


@pytest.mark.slow
def test_mrrn_stream_and_fusion_serving_default_equal_the_keras_models(mrrn, tmp_path):
    inputs = {f"{kind}/serving_default/clips": clip_batch() for kind in mrrn}
    process = start_reload(tmp_path, inputs, {kind: path for kind, (_, path) in mrrn.items()})
    served = reloaded_outputs(tmp_path, finish(process))
    assert served["project_modules"].size == 0
    for kind, (model, _) in mrrn.items():
        expected = probabilities(model, clip_batch())
        np.testing.assert_allclose(served[f"{kind}/serving_default/clips/probabilities"], expected, atol=1e-5)
        check_top(served, f"{kind}/serving_default/clips", expected)


def test_video_signature_equals_hand_sampled_centre_clips(rrn, dataset, served):
    """37 frames, clips of 4 every 2nd frame (span 7): 3 clips start at 0, 15 and 30; each
    frame's shorter side (80) is resized to 32 (-> 32 x 40) and the centre 32 x 32 kept."""
    frames = dataset[1]
    starts = (0, 15, 30)
    views = [clips.center_crop(frames[start : start + 7 : 2], IMAGE_SIZE).numpy() for start in starts]
    assert views[0].shape == (CLIP_LENGTH, IMAGE_SIZE, IMAGE_SIZE, 3)
    expected = probabilities(rrn[0], np.stack(views)).mean(axis=0, keepdims=True)
    np.testing.assert_allclose(served["rrn/video/evaluation/probabilities"], expected, atol=1e-4)
    np.testing.assert_allclose(served["rrn/video/evaluation/probabilities"].sum(), 1.0, atol=1e-5)
    check_top(served, "rrn/video/evaluation", expected)


def test_video_signature_equals_evaluate(rrn, dataset, served, tmp_path):
    """`python -m kerasrrn.evaluate` on the same video stored as JPEGs: same top-5 classes and
    scores (its predictions.csv has 6 decimals)."""
    _, run, _ = rrn
    assert evaluate.main([str(run), "--split", "test", "--out", str(tmp_path), "--verbose", "0"]) == 0
    with open(tmp_path / "predictions.csv", newline="") as stream:
        (row,) = list(csv.DictReader(stream))
    pairs = [entry.rsplit(":", 1) for entry in row["top5"].split(";")]
    assert [name for name, _ in pairs] == list(served["rrn/video/evaluation/top_classes"][0])
    np.testing.assert_allclose([float(score) for _, score in pairs], served["rrn/video/evaluation/top_scores"][0], atol=1e-4)


def test_video_signature_loops_a_short_video(rrn, served):
    """3 frames, clip indices 0, 2, 4, 6 loop to 0, 2, 1, 0; every clip is that one clip."""
    expected = probabilities(rrn[0], short_video()[None, [0, 2, 1, 0]])
    served_probabilities = served["rrn/video/short/probabilities"]
    assert served_probabilities.shape == (1, len(CLASS_NAMES)) and served_probabilities.min() >= 0
    np.testing.assert_allclose(served_probabilities.sum(), 1.0, atol=1e-5)
    np.testing.assert_allclose(served_probabilities, expected, atol=1e-5)


@pytest.mark.parametrize("three_crop", [False, True])
def test_video_views_are_the_evaluation_views(three_crop, dataset):
    from pipelines.dataset import ClipSpec, eval_views

    spec = ClipSpec(clip_length=CLIP_LENGTH, frame_step=FRAME_STEP, image_size=IMAGE_SIZE,
                    num_test_clips=NUM_TEST_CLIPS, three_crop=three_crop)
    example = next(iter(tf.data.TFRecordDataset(records.list_shards(dataset[0], "test"))))
    expected, _, _ = eval_views(records.parse_sequence_example(example), spec)
    views = video_views(tf.constant(dataset[1]), spec)
    # Evaluation orders views clip by clip, the export crop by crop; the average ignores order.
    np.testing.assert_array_equal(np.sort(views.numpy(), axis=0), np.sort(expected.numpy(), axis=0))


def test_saved_model_cli_shows_both_signatures(tools):
    status, shown, stderr = tools["show"]
    assert status == 0, stderr[-2000:]
    blocks = dict(re.findall(r"signature_def\['(\w+)'\]:(.*?)Method name is", shown, re.S))
    expected = {
        "serving_default": ("(-1, 4, 32, 32, 3)", "(-1, 6)", "(-1, 5)"),
        "video": ("(-1, -1, -1, 3)", "(1, 6)", "(1, 5)"),
    }
    for signature, (frames, classes, top) in expected.items():
        tensors = re.findall(r"(\w+)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (\([-\d, ]+\))", blocks[signature])
        assert sorted(tensors) == sorted([
            ("inputs", "frames", "DT_UINT8", frames),
            ("outputs", "probabilities", "DT_FLOAT", classes),
            ("outputs", "top_classes", "DT_STRING", top),
            ("outputs", "top_scores", "DT_FLOAT", top),
        ]), signature


def test_saved_model_cli_run_prints_probabilities(tools, rrn):
    status, printed, stderr = tools["run"]
    assert status == 0, stderr[-2000:]
    values = re.search(r"Result for output key probabilities:\s*\[\[([^\]]*)\]\]", printed).group(1)
    zeros = np.zeros((1, CLIP_LENGTH, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    np.testing.assert_allclose(np.array(values.split(), float)[None], probabilities(rrn[0], zeros), atol=1e-5)


@pytest.mark.slow
def test_mixed_precision_model_serves_uint8_in_float32_out(mixed):
    model, version = mixed
    assert model.get_layer("conv1_conv").compute_dtype == "float16"
    signature = tf.saved_model.load(str(version)).signatures["serving_default"]
    assert signature.structured_input_signature[1]["frames"].dtype == tf.uint8
    assert {name: spec.dtype for name, spec in signature.structured_outputs.items()} == {
        "probabilities": tf.float32, "top_classes": tf.string, "top_scores": tf.float32}
    served = signature(frames=tf.constant(clip_batch()))["probabilities"].numpy()
    np.testing.assert_allclose(served, probabilities(model, clip_batch()), atol=export.TOLERANCE["mixed"])


def test_stream_signatures_follow_the_keras_streaming_model(rrn):
    from kerasrrn.runs.loading import TrainedRun, streaming_form

    model, run, version = rrn
    stream = streaming_form(TrainedRun.open(run), model)
    signatures = tf.saved_model.load(str(version)).signatures
    step = signatures["stream_step"]
    assert set(step.structured_input_signature[1]) == {"frames", *stream.state_shapes}
    assert step.structured_input_signature[1]["frames"].dtype == tf.uint8
    served = {name: value.numpy() for name, value in signatures["stream_init"](batch_size=tf.constant(2)).items()}
    state = stream.initial_state(2)
    assert {name: value.shape for name, value in served.items()} == {name: value.shape for name, value in state.items()}
    frames = np.random.default_rng(5).integers(0, 256, (CLIP_LENGTH + 1, 2, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    for frame in frames:  # past T frames, so the window and the skip history both wrap around
        probabilities, clip_probabilities, state = stream.step(frame, state)
        outputs = {name: value.numpy() for name, value in step(frames=tf.constant(frame), **served).items()}
        np.testing.assert_allclose(outputs.pop("probabilities"), probabilities, atol=1e-5)
        np.testing.assert_allclose(outputs.pop("clip_probabilities"), clip_probabilities, atol=1e-5)
        order = np.argsort(-clip_probabilities, axis=-1, kind="stable")[:, :5]
        np.testing.assert_allclose(outputs.pop("clip_top_scores"), np.take_along_axis(clip_probabilities, order, -1),
                                   atol=1e-5)
        assert (outputs.pop("clip_top_classes").astype(str) == np.asarray(CLASS_NAMES)[order]).all()
        served = outputs
        for name, value in state.items():
            np.testing.assert_allclose(served[name], value, atol=1e-5 * max(1.0, np.abs(value).max()))


class StubArchive:
    """Stands in for the ExportArchive where only export_run's bookkeeping is under test."""

    def __init__(self, model, spec, labels_path, stream=None):
        pass

    def write_out(self, path, verbose):
        pathlib.Path(path).mkdir()
        (pathlib.Path(path) / "saved_model.pb").write_bytes(b"stub")


def test_models_config_lists_every_exported_model(rrn, out_dir, monkeypatch):
    monkeypatch.setattr(export, "build_archive", StubArchive)
    assert export.export_run(rrn[1], out_dir, name="rrn.copy", verify=False) == out_dir / "rrn.copy" / "1"
    text = (out_dir / "models.config").read_text()
    entries = re.findall(r'config \{\s*name: "([^"]+)"\s*base_path: "([^"]+)"\s*model_platform: "tensorflow"\s*\}', text)
    assert ("rrn", str((out_dir / "rrn").resolve())) in entries
    assert ("rrn.copy", str((out_dir / "rrn.copy").resolve())) in entries
    assert len(entries) == text.count("config {") == len({path.parents[1] for path in out_dir.glob("*/[0-9]*/saved_model.pb")})
    assert text.startswith("model_config_list {")
    export.write_models_config(out_dir)
    assert (out_dir / "models.config").read_text() == text


def test_versions_auto_increment(rrn, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "build_archive", StubArchive)
    model_path = tmp_path / "rrn"
    assert export.next_version(model_path) == 1
    for name in ("2", "7", "latest", ".8.tmp-1"):
        (model_path / name).mkdir(parents=True)
    assert export.export_run(rrn[1], tmp_path, verify=False) == model_path / "8"
    assert export.export_run(rrn[1], tmp_path, verify=False) == model_path / "9"
    assert export.export_run(rrn[1], tmp_path, version=3, verify=False) == model_path / "3"


def test_versions_are_readable_by_other_users(rrn, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "build_archive", StubArchive)
    umask = os.umask(0o077)
    try:
        version = export.export_run(rrn[1], tmp_path, verify=False)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(version.stat().st_mode) == 0o755
    assert stat.S_IMODE((version / "saved_model.pb").stat().st_mode) == 0o644


def test_the_staging_directories_of_killed_exports_are_removed(rrn, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "build_archive", StubArchive)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed, running = tmp_path / "rrn" / f".1.tmp-{finished.stdout.strip()}-x", tmp_path / "rrn" / f".1.tmp-{os.getpid()}-y"
    for staging in (killed, running):
        (staging / "saved_model").mkdir(parents=True)
    assert export.export_run(rrn[1], tmp_path, verify=False) == tmp_path / "rrn" / "1"
    assert not killed.exists() and running.is_dir()


class RacedArchive(StubArchive):
    """A stub during whose writing another export publishes the same version number."""

    def write_out(self, path, verbose):
        super().write_out(path, verbose)
        taken = pathlib.Path(path).parents[1] / RacedArchive.taken
        taken.mkdir()
        (taken / "saved_model.pb").write_bytes(b"the other export")


def test_a_concurrent_export_takes_the_next_version(rrn, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "build_archive", RacedArchive)
    monkeypatch.setattr(RacedArchive, "taken", "1", raising=False)
    assert export.export_run(rrn[1], tmp_path, verify=False) == tmp_path / "rrn" / "2"
    assert (tmp_path / "rrn" / "1" / "saved_model.pb").read_bytes() == b"the other export"
    monkeypatch.setattr(RacedArchive, "taken", "7", raising=False)
    with pytest.raises(export.ExportError, match="--version 7: .* another export"):
        export.export_run(rrn[1], tmp_path, version=7, verify=False)
    assert sorted(path.name for path in (tmp_path / "rrn").iterdir()) == ["1", "2", "7"]


def exit_with_one_line(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        export_command.main([str(argument) for argument in argv])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and error.count("\n") == 1, error
    return error


def test_existing_version_is_never_overwritten(rrn, out_dir, capsys):
    _, run, version = rrn
    written = (version / "saved_model.pb").stat().st_mtime_ns
    error = exit_with_one_line(capsys, [run, "--out", out_dir, "--version", 1])
    assert "--version 1" in error and "exists" in error
    assert (version / "saved_model.pb").stat().st_mtime_ns == written


def test_run_without_checkpoint_is_refused(rrn, tmp_path, capsys):
    run = tmp_path / "untrained"
    run.mkdir()
    (run / "config.json").write_text((rrn[1] / "config.json").read_text())
    error = exit_with_one_line(capsys, [run, "--out", tmp_path / "out"])
    assert str(run) in error and "checkpoint" in error
    assert not (tmp_path / "out" / "untrained").exists()


@pytest.mark.parametrize("argv, message", [
    (["--name", "bad name"], "--name"),
    (["--version", "0"], "--version"),
    (["--version", "two"], "--version"),
])
def test_bad_flags_are_refused(argv, message, rrn, tmp_path, capsys):
    assert message in exit_with_one_line(capsys, [rrn[1], "--out", tmp_path, *argv])


def test_an_out_that_is_a_file_is_refused_before_loading(rrn, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(export, "load_model", None)  # would fail if reached
    (tmp_path / "file").write_text("")
    assert "--out" in exit_with_one_line(capsys, [rrn[1], "--out", tmp_path / "file"])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "rrn").write_text("")
    assert "not a directory" in exit_with_one_line(capsys, [rrn[1], "--out", tmp_path / "out"])


def test_not_a_run_directory_is_refused(tmp_path, capsys):
    assert "config.json" in exit_with_one_line(capsys, [tmp_path, "--out", tmp_path / "out"])


def test_failed_verification_exits_1_and_leaves_no_version(rrn, tmp_path, capsys, monkeypatch):
    def disagreeing_reload(saved_model_path, inputs):
        return {f"{signature}/probabilities": np.full((len(frames) if signature == "serving_default" else 1, 6),
                                                      1 / 6, np.float32)
                for signature, frames in inputs.items()}

    monkeypatch.setattr(export, "reload_outputs", disagreeing_reload)
    out = tmp_path / "out"
    assert export_command.main([str(rrn[1]), "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "differ from the Keras model" in error
    assert list((out / "rrn").iterdir()) == [] and not (out / "models.config").exists()


@pytest.mark.slow
def test_exports_a_run_trained_by_fit(tiny_run, tmp_path, capsys):
    assert export_command.main([str(tiny_run), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "reloaded in a fresh TensorFlow process" in printed
    labels = (tmp_path / "t" / "1" / "assets" / "labels.txt").read_text().splitlines()
    data = json.loads((tiny_run / "config.json").read_text())["data"]["data_dir"]
    assert labels == records.read_dataset_info(data)["class_names"]

