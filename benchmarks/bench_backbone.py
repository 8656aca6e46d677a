"""Folded backbone vs TimeDistributed, and the cost of a temporal skip (run by hand).

Compares, on the same clips and in one process, with the repetitions of the models interleaved:
- `folded`: our per-frame ResNet-50 (`--model resnet`): frames folded into the batch;
- `time_distributed`: `keras.layers.TimeDistributed(keras.applications.ResNet50(...))` with the
  same head (Keras 3 calls the wrapped model once per time step);
- `rrn`: the folded ResNet-50 with one identity temporal skip in `conv5_block2`.

Reports the first train step (tracing included), then the median train step and inference step.

    python benchmarks/bench_backbone.py --batch 2 --frames 8 --size 112 --repeats 7
"""

import argparse
import platform
import statistics
import time

import keras
import numpy as np

from kerasrrn.models import build_rrn


def time_distributed_resnet50(num_classes, frames, size):
    clips = keras.Input((frames, size, size, 3))
    backbone = keras.applications.ResNet50(
        include_top=False, weights=None, pooling="avg", input_shape=(size, size, 3)
    )
    features = keras.layers.TimeDistributed(backbone)(clips)
    scores = keras.layers.TimeDistributed(keras.layers.Dense(num_classes, activation="softmax"))(features)
    return keras.Model(clips, keras.layers.GlobalAveragePooling1D()(scores), name="time_distributed")


def timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--classes", type=int, default=101)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    clips = rng.uniform(0, 255, (args.batch, args.frames, args.size, args.size, 3)).astype("float32")
    labels = rng.integers(0, args.classes, args.batch)
    models = {
        "folded": build_rrn(args.classes, args.frames, args.size, 50, 1.0, skip_units=(), name="folded"),
        "time_distributed": time_distributed_resnet50(args.classes, args.frames, args.size),
        "rrn": build_rrn(args.classes, args.frames, args.size, 50, 1.0, skip_units=("conv5_block2",)),
    }
    first_step, train, infer = {}, {name: [] for name in models}, {name: [] for name in models}
    for name, model in models.items():
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        first_step[name] = timed(lambda: model.train_on_batch(clips, labels))
        model.predict_on_batch(clips)
    for _ in range(args.repeats):
        for name, model in models.items():
            train[name].append(timed(lambda: model.train_on_batch(clips, labels)))
            infer[name].append(timed(lambda: model.predict_on_batch(clips)))

    print(f"machine: {platform.processor() or platform.machine()}, backend {keras.backend.backend()}, "
          f"B={args.batch} T={args.frames} {args.size}px, median of {args.repeats}")
    print(f"{'model':18s} {'first step s':>12s} {'train step s':>12s} {'inference s':>12s}")
    for name in models:
        print(f"{name:18s} {first_step[name]:12.2f} {statistics.median(train[name]):12.3f} "
              f"{statistics.median(infer[name]):12.3f}")
    ratio = lambda a, b, table: statistics.median(table[a]) / statistics.median(table[b])
    print(f"train step: time_distributed / folded = {ratio('time_distributed', 'folded', train):.2f}x "
          f"(target >= 1.4x); first step {first_step['time_distributed'] / first_step['folded']:.2f}x")
    print(f"inference: time_distributed / folded = {ratio('time_distributed', 'folded', infer):.2f}x")
    print(f"skip overhead: train {100 * (ratio('rrn', 'folded', train) - 1):+.1f}%, "
          f"inference {100 * (ratio('rrn', 'folded', infer) - 1):+.1f}% (target <= 3%)")


if __name__ == "__main__":
    main()
