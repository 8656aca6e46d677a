"""The work of `python -m kerasrrn.stream` once its arguments parse (see `kerasrrn.stream`)."""

import csv
import math
import sys
import time

import numpy as np

from kerasrrn.evaluation.predictions import top_classes
from kerasrrn.runs.loading import load_streaming_model
from pipelines import clips, decode
from pipelines.decode import VideoDecodeError


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


def run(parser, args):
    """What the command does once `args` parse (`parser` for the errors' exit status)."""
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
