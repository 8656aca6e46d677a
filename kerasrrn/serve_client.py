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

import json
import sys
import urllib.error
import urllib.request

import numpy as np

from kerasrrn.cli import flags
from pipelines import clips
from pipelines.cli import OneLineArgumentParser, non_negative_int, positive_int
from pipelines.dataset import ClipSpec, video_views
from pipelines.decode import VideoDecodeError, read_video

SIGNATURES = ("video", "serving_default", "stream")
# `stream_step`'s outputs that are not state (`kerasrrn.export`).
STREAM_OUTPUTS = ("probabilities", "clip_probabilities", "clip_top_classes", "clip_top_scores")


class ServeError(RuntimeError):
    """The server could not be reached or answered with an error; `str()` is one line."""


def build_request(frames, signature="video", spec=None):
    """The JSON body of a TF Serving REST predict request for one decoded video.

    Args:
        frames: uint8 array `(N, H, W, 3)`, the decoded video.
        signature: str, `"video"` or `"serving_default"`.
        spec: `pipelines.dataset.ClipSpec` (clip_length, frame_step, image_size,
            num_test_clips, short_video); required for `"serving_default"`.

    Returns:
        dict: for `video`, `{"signature_name": "video", "inputs": {"frames": (N, H, W, 3)}}`;
        for `serving_default`, `{"signature_name": "serving_default",
        "instances": (num_test_clips, T, S, S, 3)}`; pixel values as nested lists of ints.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or not len(frames):
        raise ValueError(
            f"`frames` must be uint8 (N, H, W, 3) with N >= 1. Received: dtype={frames.dtype}, "
            f"shape={frames.shape}"
        )
    if signature == "video":
        return {"signature_name": "video", "inputs": {"frames": frames.tolist()}}
    if signature != "serving_default":
        raise ValueError(f"`signature` must be one of {SIGNATURES}. Received: signature={signature!r}")
    if spec is None:
        raise ValueError("`spec` (clip length, image size) is required for signature='serving_default'")
    clips = np.clip(np.round(video_views(frames, spec).numpy()), 0, 255).astype(np.uint8)
    return {"signature_name": "serving_default", "instances": clips.tolist()}


def post_json(url, body, timeout=60.0):
    """POSTs `body` as JSON and returns the decoded JSON answer.

    Raises:
        ServeError naming the URL and the server's error message, or why it was unreachable.
    """
    request = urllib.request.Request(
        url, data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode("utf-8", "replace")
        try:
            message = json.loads(text).get("error", text)
        except (json.JSONDecodeError, AttributeError):
            message = text
        raise ServeError(f"{url}: HTTP {error.code}: {' '.join(str(message).split())}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ServeError(f"{url}: cannot reach the server ({reason})") from None


def stream_video(url, frames, spec, timeout=60.0):
    """Sends a decoded video to `stream_init` and then frame by frame to `stream_step`.

    Args:
        url: the predict endpoint.
        frames: uint8 array `(N, H, W, 3)`.
        spec: `ClipSpec`; its `frame_step` and `image_size` select and crop the frames.

    Returns:
        The last `stream_step` response, its outputs renamed so that `response_rows` reads the
        running clip's `top_classes` and `top_scores`.
    """
    selected = np.asarray(frames)[:: spec.frame_step]
    cropped = np.clip(np.round(clips.center_crop(selected, spec.image_size).numpy()), 0, 255).astype(np.uint8)
    state = post_json(url, {"signature_name": "stream_init", "inputs": {"batch_size": 1}}, timeout)["outputs"]
    for frame in cropped:
        body = {"signature_name": "stream_step", "inputs": {"frames": frame[None].tolist(), **state}}
        outputs = post_json(url, body, timeout)["outputs"]
        state = {name: value for name, value in outputs.items() if name not in STREAM_OUTPUTS}
    outputs["top_classes"], outputs["top_scores"] = outputs.pop("clip_top_classes"), outputs.pop("clip_top_scores")
    return {"outputs": outputs}


def response_rows(response):
    """The per-row outputs of a predict response, in either format.

    Args:
        response: dict, `{"predictions": [row, ...]}` (row format) or
            `{"outputs": {name: [value per row, ...]}}` (columnar format).

    Returns:
        list of dicts `{output name: value}`, one per row.
    """
    if "predictions" in response:
        return list(response["predictions"])
    if "outputs" in response:
        outputs = response["outputs"]
        return [dict(zip(outputs, values)) for values in zip(*outputs.values())]
    raise ServeError(f"unexpected response: neither 'predictions' nor 'outputs' in {sorted(response)}")


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


def clip_spec(args, parser):
    """The `ClipSpec` of the serving_default flags (None for the video signature)."""
    if args.signature == "video":
        return None
    if args.signature == "stream":
        if args.image_size is None:
            parser.error("--image-size: required with --signature stream")
        return ClipSpec(frame_step=args.frame_step, image_size=args.image_size)
    if args.clip_length is None or args.image_size is None:
        parser.error("--clip-length and --image-size: required with --signature serving_default")
    return ClipSpec(clip_length=args.clip_length, frame_step=args.frame_step,
                    image_size=args.image_size, num_test_clips=args.num_test_clips)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    spec = clip_spec(args, parser)
    try:
        frames = read_video(args.video, args.decode_step, args.short_side)
        if args.signature == "stream":
            response = stream_video(args.url, frames, spec, args.timeout)
        else:
            response = post_json(args.url, build_request(frames, args.signature, spec), args.timeout)
        rows = response_rows(response)
    except VideoDecodeError as error:
        print(f"{parser.prog}: cannot decode {error.path}: {error.reason}", file=sys.stderr)
        return 1
    except ServeError as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(response, indent=2))
        return 0
    for index, row in enumerate(rows):
        print(f"{args.video} ({args.signature}, row {index})")
        for name, score in zip(row["top_classes"], row["top_scores"]):
            print(f"  {score:.3f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
