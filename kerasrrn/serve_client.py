"""`python -m kerasrrn.serve_client`: classify one video file with a model served by TF Serving.

    python -m kerasrrn.serve_client --url http://localhost:8501/v1/models/NAME:predict VIDEO
    python -m kerasrrn.serve_client --url ... --signature serving_default \\
        --clip-length 8 --image-size 64 --frame-step 2 VIDEO

The video is decoded with PyAV (`pipelines.decode.read_video`), keeping every
`--decode-step`-th frame at shorter side `--short-side`: use the `frame_step` and `short_side`
its training data were prepared with (`dataset.json`), so that the model counts frames as in
training. Then, per `--signature`:

- `video` (default): the whole video goes in one request, columnar format
  `{"signature_name": "video", "inputs": {"frames": <uint8 (N, H, W, 3)>}}`; the server takes
  the clips, crops and averages exactly as evaluation does.
- `serving_default`: the client takes `--num-test-clips` (or `--num-clips`) evenly spaced centre-cropped clips as
  evaluation does (`pipelines.dataset.video_views`), rounds them to uint8 and sends them in row
  format `{"signature_name": "serving_default", "instances": <uint8 (num_clips, T, S, S, 3)>}`;
  the server's signature has a fixed clip size, so `--clip-length` and `--image-size` must match
  the exported model (`saved_model_cli show` or `GET /v1/models/NAME/metadata` shows it).

- `stream`: the video one frame at a time through `stream_init` and `stream_step`, each
  `--frame-step`-th decoded frame centre-cropped to `--image-size` as evaluation crops; the
  client keeps the state (the server stays stateless): each step sends the frame and the state
  the previous answer returned, columnar format. The top classes are the running clip's at the
  last frame.

Prints the top classes of each returned row, or with `--json` the server's JSON response (the
last one for `stream`).
Exit status 1 when the video cannot be decoded or the server answers with an error, 2 for
usage errors.
"""

import sys

from kerasrrn.cli import entry, flags
from pipelines.cli import OneLineArgumentParser, non_negative_int, positive_int

# What the server is sent: the whole video, sampled clips, or one frame at a time.
SIGNATURES = ("video", "serving_default", "stream")


def build_parser():
    parser = OneLineArgumentParser(
        prog="python -m kerasrrn.serve_client",
        description="Classify a video with a model served by TensorFlow Serving (REST API).",
    )
    parser.add_argument("video", metavar="VIDEO", help="a video file (anything FFmpeg reads)")
    parser.add_argument("--url", required=True,
                        help="predict endpoint, e.g. http://localhost:8501/v1/models/NAME:predict")
    parser.add_argument("--signature", choices=SIGNATURES, default="video",
                        help="video: send the whole video; serving_default: send sampled clips; "
                             "stream: send it frame by frame (default: video)")
    parser.add_argument("--decode-step", type=positive_int, default=1, metavar="K",
                        help="keep every K-th decoded frame, as the training data were prepared "
                             "(dataset.json frame_step; default: 1)")
    parser.add_argument("--short-side", type=non_negative_int, default=0, metavar="S",
                        help="resize the shorter side to S pixels when decoding, as the training "
                             "data were prepared (dataset.json short_side; default: 0 = keep)")
    clip_flags = parser.add_argument_group("serving_default clips and stream frames (must match the exported model)")
    # The view flags of evaluate and predict; `--num-clips` is this command's older spelling.
    flags.add_field_flags(
        clip_flags, ("clip_length", "image_size", "frame_step", "num_test_clips"),
        defaults={"frame_step": 1, "num_test_clips": 1}, aliases={"num_test_clips": ("--num-clips",)},
    )
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="give up waiting for the server after this long (default: 60)")
    parser.add_argument("--json", action="store_true", help="print the server's JSON response")
    return parser


def main(argv=None):
    return entry.run_command(build_parser(), argv, "serve_client")


if __name__ == "__main__":
    sys.exit(main())
