"""Tests for `python -m kerasrrn.stream` on the tiny run and tiny PyAV-written videos."""

import csv
import json

import pytest

from kerasrrn import predict, stream
from tests.kerasrrn.tiny_run import CLIP_LENGTH, IMAGE_SIZE
from tests.pipelines.video_fixtures import truncate, write_video

LONG_FRAMES = 13


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A video of exactly one clip (its last clip has no frames before it), a longer one and a
    truncated one, all of the run's image size."""
    folder = tmp_path_factory.mktemp("stream-videos")
    square = {"width": IMAGE_SIZE, "height": IMAGE_SIZE}
    broken = truncate(write_video(folder / "broken.avi", num_frames=15, **square), keep_fraction=0.9)
    return {
        "clip": str(write_video(folder / "clip.avi", num_frames=CLIP_LENGTH, **square)),
        "long": str(write_video(folder / "long.avi", num_frames=LONG_FRAMES, **square)),
        "broken": str(broken),
    }


def run_command(module, capsys, *argv):
    """(exit code, stdout, stderr) of `module.main(argv)`, exit 2 included."""
    try:
        code = module.main([str(arg) for arg in argv])
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_running_top_class_at_the_last_frame_agrees_with_predict(tiny_run, videos, tmp_path, capsys):
    table = tmp_path / "clip.csv"
    code, out, err = run_command(stream, capsys, tiny_run, videos["clip"], "--every", "1", "--csv", table,
                                 "--top-k", "10")
    assert code == 0 and err == ""
    rows = read_csv(table)
    assert [int(row["frame"]) for row in rows] == list(range(CLIP_LENGTH))
    code, predicted, _ = run_command(predict, capsys, tiny_run, videos["clip"], "--json", "--top-k", "10")
    assert code == 0
    expected = json.loads(predicted)[0]["top5"]
    last = rows[-1]
    assert last["class_1"] == expected[0]["class"]
    for rank, entry in enumerate(expected, start=1):
        assert last[f"class_{rank}"] == entry["class"]
        assert abs(float(last[f"score_{rank}"]) - entry["score"]) <= 1e-4
    lines = out.splitlines()
    assert len(lines) == 1 + CLIP_LENGTH + 1  # the opening line, one per frame, the closing line
    assert lines[-2].startswith(f"frame {CLIP_LENGTH - 1}  {expected[0]['class']} ")
    assert lines[-1].startswith(f"stream ended after {CLIP_LENGTH} frames: {expected[0]['class']} ")


def test_every_n_frames_and_one_csv_row_per_frame(tiny_run, videos, tmp_path, capsys):
    table = tmp_path / "long.csv"
    code, out, _ = run_command(stream, capsys, tiny_run, videos["long"], "--every", "5", "--csv", table,
                               "--top-k", "2")
    assert code == 0
    rows = read_csv(table)
    assert list(rows[0]) == ["frame", "seconds", "latency_ms", "class_1", "score_1", "class_2", "score_2"]
    assert len(rows) == LONG_FRAMES
    seconds = [float(row["seconds"]) for row in rows]
    assert seconds == sorted(seconds) and seconds[0] == 0.0
    assert all(float(row["latency_ms"]) > 0 for row in rows)
    assert [line.split()[1] for line in out.splitlines()[1:-1]] == ["4", "9"]


def test_a_source_that_cannot_be_opened_is_one_line_exit_1(tiny_run, tmp_path, capsys):
    missing = tmp_path / "missing.mp4"
    code, _, err = run_command(stream, capsys, tiny_run, missing)
    assert code == 1 and err.count("\n") == 1 and str(missing) in err and "cannot stream" in err


def test_a_stream_that_breaks_ends_with_a_closing_line(tiny_run, videos, capsys):
    code, _, err = run_command(stream, capsys, tiny_run, videos["broken"])
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("stream broke after ") and "; last: " in err


@pytest.mark.parametrize("argv", [["--every", "0"], ["--top-k", "x"], ["--bogus"], ["--frame-step", "0"], ["--csv", "/"]])
def test_bad_flags_are_one_line_exit_2(tiny_run, videos, argv, capsys):
    code, _, err = run_command(stream, capsys, tiny_run, videos["clip"], *argv)
    assert code == 2 and err.count("\n") == 1


def test_an_exported_saved_model_streams_as_its_run(tiny_run, videos, tmp_path, capsys):
    from kerasrrn.commands import export

    version = export.export_run(tiny_run, tmp_path / "saved_models", verify=False)
    capsys.readouterr()
    tables = {kind: tmp_path / f"{kind}.csv" for kind in ("run", "saved_model")}
    data = tiny_run.parent / "data"
    for kind, model in (("run", tiny_run), ("saved_model", version)):
        code, out, err = run_command(stream, capsys, model, videos["long"], "--csv", tables[kind], "--data", data,
                                     "--frame-step", "1")
        assert code == 0 and err == "", err
    run_rows, served_rows = read_csv(tables["run"]), read_csv(tables["saved_model"])
    assert len(served_rows) == LONG_FRAMES
    for run_row, served_row in zip(run_rows, served_rows):
        assert served_row["class_1"] == run_row["class_1"]
        assert abs(float(served_row["score_1"]) - float(run_row["score_1"])) <= 1e-4


def test_a_saved_model_without_stream_signatures_or_other_directory_is_a_usage_error(videos, tmp_path, capsys):
    import tensorflow as tf

    saved = tmp_path / "old"
    module = tf.Module()
    module.serve = tf.function(lambda frames: {"probabilities": tf.reduce_mean(tf.cast(frames, tf.float32), [1, 2, 3])},
                               input_signature=[tf.TensorSpec([None, 4, 32, 32, 3], tf.uint8, name="frames")])
    tf.saved_model.save(module, str(saved), signatures={"serving_default": module.serve})
    (saved / "assets").mkdir(exist_ok=True)
    (saved / "assets" / "labels.txt").write_text("a\nb\nc\n")
    code, _, err = run_command(stream, capsys, saved, videos["clip"])
    assert code == 2 and err.count("\n") == 1 and "no stream_init or stream_step signature" in err
    code, _, err = run_command(stream, capsys, tmp_path / "nothing", videos["clip"])
    assert code == 2 and err.count("\n") == 1 and "no config.json" in err
