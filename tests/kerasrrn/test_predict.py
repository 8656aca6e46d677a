"""Tests for `python -m kerasrrn.predict` on tiny PyAV-written videos."""

import json

import numpy as np
import pytest

from kerasrrn import predict
from pipelines import records
from pipelines.decode import read_video
from tests.kerasrrn.tiny_run import CLIP_LENGTH, IMAGE_SIZE
from tests.pipelines.video_fixtures import write_video

# Clip settings given on the command line, other than the run's, so that the test sees them used.
FRAME_STEP, NUM_TEST_CLIPS = 2, 3


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Square videos of the run's image size (no resizing in the centre crop): one long
    enough for evenly spaced clips, one shorter than a clip (it loops), one corrupt file."""
    folder = tmp_path_factory.mktemp("videos")
    corrupt = folder / "corrupt.avi"
    corrupt.write_bytes(b"RIFF but not a video at all")
    return {
        "long": str(write_video(folder / "long.avi", num_frames=13, width=IMAGE_SIZE, height=IMAGE_SIZE)),
        "short": str(write_video(folder / "short.avi", num_frames=3, width=IMAGE_SIZE, height=IMAGE_SIZE)),
        "corrupt": str(corrupt),
    }


def run_predict(capsys, *argv):
    """(exit code, stdout, stderr) of `python -m kerasrrn.predict argv`."""
    code = predict.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def class_names(run_path):
    return records.read_dataset_info(run_path.parent / "data")["class_names"]


def reference_probabilities(model, video):
    """`model` applied by hand to clips cut with numpy: `NUM_TEST_CLIPS` clips whose starts are
    evenly spaced over the frames a whole clip can start at (rounded half to even), frames every
    `FRAME_STEP`, looping past the end. Returns the mean probabilities `(C,)`."""
    frames = read_video(video)
    span = (CLIP_LENGTH - 1) * FRAME_STEP + 1
    starts = np.round(np.linspace(0, max(len(frames) - span, 0), NUM_TEST_CLIPS)).astype(int)
    indices = (starts[:, None] + FRAME_STEP * np.arange(CLIP_LENGTH)[None, :]) % len(frames)
    return np.asarray(model(frames[indices].astype(np.float32), training=False)).mean(axis=0)


def test_probabilities_equal_the_model_on_numpy_clips(tiny_run, videos, capsys):
    import keras

    code, out, err = run_predict(
        capsys, tiny_run, videos["long"], videos["short"], "--json", "--top-k", "10",
        "--frame-step", FRAME_STEP, "--num-test-clips", NUM_TEST_CLIPS,
    )
    assert code == 0 and err == ""
    predictions = json.loads(out)
    assert [prediction["video"] for prediction in predictions] == [videos["long"], videos["short"]]
    model = keras.saving.load_model(tiny_run / "checkpoints" / "best.keras")
    names = class_names(tiny_run)
    for prediction in predictions:
        reference = reference_probabilities(model, prediction["video"])
        # --top-k above the class count lists every class, best first.
        listed = [entry["class"] for entry in prediction["top5"]]
        assert listed == [names[index] for index in np.argsort(-reference, kind="stable")]
        scores = {entry["class"]: entry["score"] for entry in prediction["top5"]}
        np.testing.assert_allclose([scores[name] for name in names], reference, atol=1e-5)


def test_a_corrupt_file_fails_alone(tiny_run, videos, capsys):
    code, out, err = run_predict(capsys, tiny_run, videos["corrupt"], videos["long"], "--top-k", "3")
    assert code == 1
    assert err.count("\n") == 1 and videos["corrupt"] in err and "not a video" in err
    lines = out.splitlines()
    assert lines[0] == videos["long"] and len(lines) == 1 + 3
    scores = [float(line.split()[0]) for line in lines[1:]]
    assert scores == sorted(scores, reverse=True)
    assert {line.split()[1] for line in lines[1:]} <= set(class_names(tiny_run))


def test_a_missing_file_fails_and_json_still_parses(tiny_run, videos, tmp_path, capsys):
    missing = tmp_path / "missing.mp4"
    code, out, err = run_predict(capsys, tiny_run, videos["short"], missing, "--json")
    assert code == 1 and err.count("\n") == 1 and str(missing) in err
    predictions = json.loads(out)
    assert [prediction["video"] for prediction in predictions] == [videos["short"]]
    assert len(predictions[0]["top5"]) == min(5, len(class_names(tiny_run)))


def test_a_model_path_that_is_neither_is_a_usage_error(videos, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        predict.main([str(tmp_path), videos["long"]])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and str(tmp_path) in error


def test_a_frame_size_change_fails_alone_and_json_still_parses(tiny_run, videos, tmp_path, capsys):
    from tests.pipelines.video_fixtures import write_size_changing_video

    spliced = str(write_size_changing_video(tmp_path / "spliced.mpg"))
    code, out, err = run_predict(capsys, tiny_run, spliced, videos["long"], "--json")
    assert code == 1 and err.count("\n") == 1 and spliced in err and "frame size changes" in err
    assert [prediction["video"] for prediction in json.loads(out)] == [videos["long"]]
