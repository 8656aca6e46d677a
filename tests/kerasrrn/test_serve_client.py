"""Tests for `python -m kerasrrn.serve_client`: request bodies, and a round trip through a local
HTTP server standing in for TF Serving (which is not available here)."""

import http.server
import json
import socket
import threading

import numpy as np
import pytest

from kerasrrn import serve_client
from kerasrrn.commands import serve_client as serve_client_work
from pipelines.dataset import ClipSpec
from tests.pipelines.video_fixtures import HEIGHT, NUM_FRAMES, WIDTH, write_video

CLASS_NAMES = ["walk", "run", "jump"]


def flat_video(num_frames, height, width):
    """Frame `i` is filled with the value `10 * i`, so a test can tell which frames were sent."""
    values = (10 * np.arange(num_frames)).astype(np.uint8)
    return np.broadcast_to(values[:, None, None, None], (num_frames, height, width, 3)).copy()


def test_video_request_sends_the_whole_video_in_columnar_format():
    frames = np.random.default_rng(0).integers(0, 256, (7, 9, 5, 3), np.uint8)
    body = json.loads(json.dumps(serve_client_work.build_request(frames, "video")))
    assert body["signature_name"] == "video"
    assert list(body["inputs"]) == ["frames"]
    sent = np.asarray(body["inputs"]["frames"])
    assert sent.dtype.kind == "i" and sent.shape == (7, 9, 5, 3)
    np.testing.assert_array_equal(sent, frames)


def test_clip_request_sends_evenly_spaced_clips_at_the_model_size():
    """10 frames, clips of 4 every 2nd frame: span 7, so 2 clips start at frames 0 and 3."""
    spec = ClipSpec(clip_length=4, frame_step=2, image_size=16, num_test_clips=2)
    body = json.loads(json.dumps(serve_client_work.build_request(flat_video(10, 20, 30), "serving_default", spec)))
    assert body["signature_name"] == "serving_default"
    sent = np.asarray(body["instances"])
    assert sent.dtype.kind == "i" and sent.shape == (2, 4, 16, 16, 3)
    expected_frames = np.array([[0, 2, 4, 6], [3, 5, 7, 9]])
    np.testing.assert_array_equal(sent, np.broadcast_to(10 * expected_frames[..., None, None, None], sent.shape))


def test_clip_request_loops_a_short_video():
    spec = ClipSpec(clip_length=5, frame_step=1, image_size=8, num_test_clips=1)
    sent = np.asarray(serve_client_work.build_request(flat_video(2, 8, 8), "serving_default", spec)["instances"])
    np.testing.assert_array_equal(sent[0, :, 0, 0, 0], [0, 10, 0, 10, 0])


@pytest.mark.parametrize("frames, signature, spec, message", [
    (np.zeros((3, 4, 4, 3), np.float32), "video", None, "uint8"),
    (np.zeros((0, 4, 4, 3), np.uint8), "video", None, "N >= 1"),
    (np.zeros((3, 4, 4, 3), np.uint8), "serving_default", None, "spec"),
    (np.zeros((3, 4, 4, 3), np.uint8), "predict", None, "signature"),
])
def test_bad_requests_are_refused(frames, signature, spec, message):
    with pytest.raises(ValueError, match=message):
        serve_client_work.build_request(frames, signature, spec)


def test_response_rows_reads_both_formats():
    row_format = {"predictions": [{"top_classes": ["a"], "top_scores": [0.9]},
                                  {"top_classes": ["b"], "top_scores": [0.8]}]}
    columnar = {"outputs": {"top_classes": [["a"], ["b"]], "top_scores": [[0.9], [0.8]]}}
    assert serve_client_work.response_rows(row_format) == serve_client_work.response_rows(columnar) == row_format["predictions"]


def stream_answer(body):
    """The fake `stream_init`/`stream_step` outputs: the state counts frames; the running clip's
    scores favour `run` once two frames have been seen."""
    if body["signature_name"] == "stream_init":
        return {"frames_seen": [[0.0]], "frame_average_window": [[[0.0] * 3] * 2]}
    inputs = body["inputs"]
    seen = inputs["frames_seen"][0][0] + 1
    scores = [0.7, 0.2, 0.1] if seen >= 2 else [0.2, 0.7, 0.1]
    names = ["run", "walk", "jump"] if seen >= 2 else ["walk", "run", "jump"]
    return {"frames_seen": [[seen]], "frame_average_window": inputs["frame_average_window"],
            "probabilities": [scores], "clip_probabilities": [scores],
            "clip_top_classes": [names], "clip_top_scores": [sorted(scores, reverse=True)]}


class FakeServing(http.server.BaseHTTPRequestHandler):
    """Answers :predict like TF Serving: columnar requests get `outputs`, row requests get
    `predictions`; a request without `signature_name` gets TF Serving's kind of error."""

    received = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeServing.received.append((self.path, self.headers["Content-Type"], body))
        if "signature_name" not in body:
            self.answer(400, {"error": "Missing 'signature_name'\nin request"})
            return
        if body["signature_name"].startswith("stream_"):
            self.answer(200, {"outputs": stream_answer(body)})
            return
        rows = len(body["instances"]) if "instances" in body else 1
        prediction = {"probabilities": [0.2, 0.7, 0.1], "top_classes": ["run", "walk", "jump"],
                      "top_scores": [0.7, 0.2, 0.1]}
        if "instances" in body:
            self.answer(200, {"predictions": [prediction] * rows})
        else:
            self.answer(200, {"outputs": {key: [value] for key, value in prediction.items()}})

    def answer(self, status, content):
        data = json.dumps(content).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A fake TF Serving on 127.0.0.1; yields its predict URL."""
    FakeServing.received = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), FakeServing)
    httpd.timeout = 10
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1/models/tiny:predict"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("videos") / "clip.avi")


def test_round_trip_video_signature(server, video_file, capsys):
    assert serve_client.main(["--url", server, "--timeout", "20", str(video_file)]) == 0
    (path, content_type, body), = FakeServing.received
    assert path == "/v1/models/tiny:predict" and content_type == "application/json"
    assert body["signature_name"] == "video"
    frames = np.asarray(body["inputs"]["frames"])
    assert frames.shape == (NUM_FRAMES, HEIGHT, WIDTH, 3) and 0 <= frames.min() <= frames.max() <= 255
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["0.700", "run"] and lines[2].split() == ["0.200", "walk"]


def test_round_trip_serving_default_with_decoding_flags(server, video_file, capsys):
    argv = ["--url", server, "--signature", "serving_default", "--clip-length", "3", "--image-size", "16",
            "--num-clips", "2", "--decode-step", "2", "--short-side", "16", "--json", str(video_file)]
    assert serve_client.main(argv) == 0
    (_, _, body), = FakeServing.received
    assert np.asarray(body["instances"]).shape == (2, 3, 16, 16, 3)
    assert len(json.loads(capsys.readouterr().out)["predictions"]) == 2


def test_round_trip_stream_keeps_the_state_on_the_client(server, video_file, capsys):
    argv = ["--url", server, "--signature", "stream", "--image-size", "16", "--frame-step", "3", str(video_file)]
    assert serve_client.main(argv) == 0
    bodies = [body for _, _, body in FakeServing.received]
    steps = -(-NUM_FRAMES // 3)
    assert [body["signature_name"] for body in bodies] == ["stream_init"] + ["stream_step"] * steps
    assert bodies[1]["inputs"]["frames_seen"] == [[0.0]]
    assert [body["inputs"]["frames_seen"] for body in bodies[2:]] == [[[float(seen)]] for seen in range(1, steps)]
    frames = np.asarray(bodies[1]["inputs"]["frames"])
    assert frames.shape == (1, 16, 16, 3) and 0 <= frames.min() <= frames.max() <= 255
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["0.700", "run"] and lines[2].split() == ["0.200", "walk"]


def test_server_error_is_one_line_and_exit_1(server, video_file, capsys, monkeypatch):
    monkeypatch.setattr(serve_client_work, "build_request", lambda frames, signature, spec: {"inputs": {}})
    assert serve_client.main(["--url", server, str(video_file)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "HTTP 400" in error and "Missing 'signature_name' in request" in error


def test_unreachable_server_is_one_line_and_exit_1(video_file, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/models/tiny:predict"
    assert serve_client.main(["--url", url, "--timeout", "5", str(video_file)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "cannot reach the server" in error


@pytest.mark.parametrize("argv, message", [
    (["--signature", "serving_default"], "--clip-length and --image-size"),
    (["--signature", "stream"], "--image-size: required with --signature stream"),
    (["--short-side", "-1"], "--short-side"),
    (["--decode-step", "0"], "--decode-step"),
])
def test_usage_errors_exit_2_with_one_line(argv, message, video_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        serve_client.main(["--url", "http://127.0.0.1:9/v1/models/m:predict", *argv, str(video_file)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error


def test_undecodable_video_exits_1(tmp_path, capsys):
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"not a video")
    assert serve_client.main(["--url", "http://127.0.0.1:9/v1/models/m:predict", str(broken)]) == 1
    assert "cannot decode" in capsys.readouterr().err
