"""The work of `python -m kerasrrn.serve_client` once its arguments parse (see `kerasrrn.serve_client`)."""

import json
import sys
import urllib.error
import urllib.request

import numpy as np

from kerasrrn.serve_client import SIGNATURES
from pipelines import clips
from pipelines.dataset import ClipSpec, video_views
from pipelines.decode import VideoDecodeError, read_video

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


def run(parser, args):
    """What the command does once `args` parse (`parser` for the errors' exit status)."""
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
