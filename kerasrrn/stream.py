"""`python -m kerasrrn.stream`: follow a video, a capture device or a URL one frame at a time.

    python -m kerasrrn.stream RUN_DIR|SAVED_MODEL SOURCE [--every 10] [--csv FILE] [--top-k 5] [--data DIR]

SOURCE is anything PyAV opens: a video file, a device such as `/dev/video0`, an RTSP/HTTP URL.
Frames are decoded as the run's dataset was prepared (its frame step and shorter side), every
`frame_step`-th of them is taken as in the run's clips, centre-cropped to the model's image size
as `evaluate` crops, and fed to the run's model in its streaming form
(`kerasrrn.models.streaming`), or to a SavedModel's `stream_init`/`stream_step` signatures
(`kerasrrn.export`; decoded at full size unless `--data` names its dataset, and with
`--frame-step` or `fit`'s default, as `predict` takes a SavedModel's clips). Every `--every` frames it prints the running clip's top class
and score (the clip of the last `T` frames) and the step's latency; `--csv` writes one row per
step: `frame` (index of the decoded frame), `seconds` (its presentation time), `latency_ms`,
then `class_1, score_1, ...` up to `--top-k`. The last line says how the stream ended.

Exit status 0 when the stream ended, 1 when SOURCE could not be opened or the stream broke,
2 for usage errors.
"""

import csv
import math
import sys
import time

import numpy as np

from kerasrrn.cli import flags
from kerasrrn.evaluation.predictions import top_classes
from kerasrrn.runs.loading import load_streaming_model
from pipelines import clips, decode
from pipelines.cli import OneLineArgumentParser, positive_int
from pipelines.decode import VideoDecodeError


def build_parser():
    parser = OneLineArgumentParser(
        prog="python -m kerasrrn.stream",
        description="Running top class of a video, device or URL, one frame at a time.",
    )
    parser.add_argument("model", metavar="RUN_DIR|SAVED_MODEL",
                        help="a run directory of `python -m kerasrrn.fit` or `fuse`, or a SavedModel directory")
    parser.add_argument("source", metavar="SOURCE", help="a video file, a capture device (/dev/video0) or a URL")
    parser.add_argument("--every", type=positive_int, default=10, metavar="N",
                        help="print the running top class every N frames (default: 10)")
    parser.add_argument("--csv", metavar="FILE", help="write one row per frame: frame, seconds, latency, top-k")
    parser.add_argument("--top-k", type=positive_int, default=5, metavar="K",
                        help="classes per CSV row (default: 5)")
    parser.add_argument("--data", metavar="DIR",
                        help="prepared dataset giving class names and decoding settings (default: the run's own)")
    flags.add_view_flags(parser, names=("frame_step",))
    return parser


def model_frames(loaded, source):
    """The frames the streaming model takes from `source`, as the run's clips take them.

    Yields:
        (decoded frame index, seconds, uint8 frame `(1, S, S, 3)`).
    """
    step = loaded.stored_frame_step * loaded.spec.frame_step
    size = loaded.spec.image_size
    for index, seconds, frame in decode.iter_timed_frames(source, step, loaded.stored_short_side):
        cropped = clips.center_crop(frame[None], size).numpy()
        yield index, seconds, np.clip(np.round(cropped), 0, 255).astype(np.uint8)


def csv_header(top_k):
    return ["frame", "seconds", "latency_ms"] + [f"{what}_{rank}" for rank in range(1, top_k + 1)
                                                 for what in ("class", "score")]


def csv_row(index, seconds, latency, best):
    row = [index, "" if math.isnan(seconds) else f"{seconds:.3f}", f"{latency * 1e3:.2f}"]
    for entry in best:
        row += [entry["class"], f"{entry['score']:.4f}"]
    return row


def follow(stream, loaded, source, every, top_k, writer=None):
    """Streams `source` through `stream`, printing every `every` frames.

    Returns:
        (steps done, the last top-k list or None, mean latency in seconds after the first
        step (which also compiles), the `VideoDecodeError` that ended the stream or None).
    """
    state = stream.initial_state(1)
    steps, best, latencies, failure = 0, None, [], None
    try:
        for index, seconds, frame in model_frames(loaded, source):
            started = time.perf_counter()
            _, clip_probabilities, state = stream.step(frame, state)
            latency = time.perf_counter() - started
            latencies.append(latency)
            steps += 1
            best = top_classes(clip_probabilities[0], loaded.class_names, top_k)
            if writer:
                writer.writerow(csv_row(index, seconds, latency, best))
            if steps % every == 0:
                print(f"frame {index}  {best[0]['class']} {best[0]['score']:.3f}  "
                      f"({latency * 1e3:.1f} ms/frame)", flush=True)
    except VideoDecodeError as error:
        failure = error
    mean_latency = float(np.mean(latencies[1:] or latencies)) if latencies else float("nan")
    return steps, best, mean_latency, failure


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        stream, loaded = load_streaming_model(args.model, args.data, frame_step=args.frame_step)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    try:
        csv_file = open(args.csv, "w", newline="") if args.csv else None
    except OSError as error:
        parser.error(f"--csv {args.csv}: cannot write ({error.strerror})")
    clip = f"clip of {stream.clip_length} frames, " if stream.clip_length else ""
    print(f"streaming {args.source} with {loaded.description}: {clip}{stream.image_size} px, "
          f"state {stream.state_bytes() / 2**20:.3f} MB", flush=True)
    writer = csv.writer(csv_file) if csv_file else None
    if writer:
        writer.writerow(csv_header(args.top_k))
    try:
        steps, best, latency, failure = follow(stream, loaded, args.source, args.every, args.top_k, writer)
    finally:
        if csv_file:
            csv_file.close()
    if failure and steps == 0:
        print(f"{parser.prog}: cannot stream {failure.path}: {failure.reason}", file=sys.stderr)
        return 1
    if failure:
        print(f"stream broke after {steps} frames: {failure.reason}; last: {best[0]['class']} "
              f"{best[0]['score']:.3f}", file=sys.stderr)
        return 1
    print(f"stream ended after {steps} frames: {best[0]['class']} {best[0]['score']:.3f}, "
          f"{latency * 1e3:.1f} ms/frame", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
