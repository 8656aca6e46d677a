"""Streaming vs recomputing the sliding clip, per output (run by hand; results in BENCHMARKS.md).

To follow a live video with a clip of `T` frames, a clip model recomputes the backbone on all
`T` frames for every new frame; the streaming model (`kerasrrn.models.streaming`) computes the
new frame only and carries the skip sources and the last `T` frame scores in its state. Both are
the same RRN (ResNet-50, one identity skip in `conv5_block2`, the same weights), batch 1, timed
side by side in one process with their repetitions interleaved. Prints, per `T` and image size,
the median seconds per output of each, their ratio (the issue's target: at least `0.9 x T`) and
the state's size in MB. A third column times the same network on one frame at batch 1 (the
clip model with `T = 1`, no skip): what a frame costs when it is not batched with `T - 1`
others. `stream / frame` near 1 says the streaming machinery (skip queue, window) costs next to
nothing; the ratio then falls short of `T` by how much cheaper a frame is inside a batch of `T`
on this machine (`T x frame / clip`).

    python benchmarks/bench_streaming.py                      # T = 8, 16; 112 and 224 px; CPU
    python benchmarks/bench_streaming.py --depth 18 --width 0.125 --frames 4 --sizes 32 --repeats 2   # smoke
"""

import argparse
import os
import platform
import shlex
import statistics
import sys
import time

import keras
import numpy as np

from kerasrrn import config as config_lib
from kerasrrn.models import build_model
from kerasrrn.models.streaming import build_streaming_model


def rrn_config(clip_length, image_size, depth, width):
    config = config_lib.Config()
    config.data.clip_length, config.data.image_size = clip_length, image_size
    config.model.model, config.model.depth, config.model.width = "rrn", depth, width
    config.model.skip_units, config.model.skip_kind, config.model.skip_delay = ["conv5_block2"], "identity", 1
    return config


def cpu_name():
    """The CPU's model name (Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def comma_ints(text):
    return [int(value) for value in text.split(",")]


def measure(clip_length, image_size, args):
    """(median seconds per output of the sliding clip, of the stream, of one frame, state MB)."""
    config = rrn_config(clip_length, image_size, args.depth, args.width)
    model = build_model(config, args.classes)
    stream = build_streaming_model(model, config)
    single = rrn_config(1, image_size, args.depth, args.width)
    single.model.model, single.model.skip_units = "resnet", []
    one_frame = build_model(single, args.classes)
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (1, clip_length + args.repeats, image_size, image_size, 3), np.uint8)
    state = stream.initial_state(1)
    for index in range(clip_length):  # warm-up: compile both, fill the stream's window
        _, _, state = stream.step(video[:, index], state)
    model.predict_on_batch(video[:, :clip_length].astype("float32"))
    one_frame.predict_on_batch(video[:, :1].astype("float32"))
    clip_times, stream_times, frame_times = [], [], []
    for index in range(clip_length, clip_length + args.repeats):
        clip = video[:, index - clip_length + 1: index + 1].astype("float32")
        started = time.perf_counter()
        model.predict_on_batch(clip)
        clip_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        _, _, state = stream.step(video[:, index], state)
        stream_times.append(time.perf_counter() - started)
        frame = video[:, index: index + 1].astype("float32")
        started = time.perf_counter()
        one_frame.predict_on_batch(frame)
        frame_times.append(time.perf_counter() - started)
    medians = [statistics.median(times) for times in (clip_times, stream_times, frame_times)]
    return (*medians, stream.state_bytes(1) / 2**20)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=comma_ints, default=[8, 16], help="clip lengths T (default: 8,16)")
    parser.add_argument("--sizes", type=comma_ints, default=[112, 224], help="image sizes (default: 112,224)")
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--classes", type=int, default=101)
    parser.add_argument("--repeats", type=int, default=10, help="timed outputs per setting (default: 10)")
    args = parser.parse_args()
    print(f"# python {shlex.join(sys.argv)}")
    print(f"# {cpu_name()} ({os.cpu_count()} CPUs), Keras {keras.__version__} on {keras.backend.backend()}, "
          f"ResNet-{args.depth} x{args.width} RRN (identity skip in conv5_block2), batch 1, "
          f"median of {args.repeats} outputs")
    print(f"{'T':>3} {'size':>5} {'clip s/output':>14} {'stream s/output':>16} {'ratio':>7} {'0.9 T':>6} "
          f"{'state MB':>9} {'frame s':>8} {'stream/frame':>13} {'T frame/clip':>13}")
    for clip_length in args.frames:
        for image_size in args.sizes:
            clip_time, stream_time, frame_time, state_mb = measure(clip_length, image_size, args)
            print(f"{clip_length:>3} {image_size:>5} {clip_time:>14.4f} {stream_time:>16.4f} "
                  f"{clip_time / stream_time:>7.2f} {0.9 * clip_length:>6.1f} {state_mb:>9.3f} "
                  f"{frame_time:>8.4f} {stream_time / frame_time:>13.2f} {clip_length * frame_time / clip_time:>13.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
