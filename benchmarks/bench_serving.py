"""Serving latency of an RRN against a plain ResNet-50, both as reloaded SavedModels.

    python benchmarks/bench_serving.py [--configs 8x112,16x112,8x224,16x224] [--repeats 9]
                                       [--warmup 2] [--out serving_latency.md]

For each clip size `TxS` two models are exported with `kerasrrn.commands.export.build_archive` (the same
signatures and in-graph preprocessing) and reloaded with `tf.saved_model.load`:

- rrn: `build_rrn` ResNet-50, one identity temporal skip at conv5_block2, weights=None;
- resnet50: `keras.applications.ResNet50(weights=None)` on the same T frames folded into a batch
  of T images (the wrapper RRN uses: `FramePreprocessing` + `FoldTime`, frame probabilities
  averaged over time).

`serving_default` is then called on one random uint8 clip `(1, T, S, S, 3)`, the two models
interleaved (rrn first in even rounds, resnet50 first in odd ones) so that the load of a shared
machine hits both alike; warm-up calls are excluded. Reported: median latency of each, the ratio
of the medians, and the median of the per-round ratios (the more robust figure on a noisy
machine). Target: RRN overhead at most 10%.
"""

import argparse
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

NUM_CLASSES = 101


def resnet50_clip_model(clip_length, image_size, num_classes):
    """`keras.applications.ResNet50` on frames folded into the batch, frame scores averaged.

    Returns:
        keras.Model mapping pixels `(B, T, S, S, 3)` in [0, 255] to probabilities `(B, C)`.
    """
    import keras

    from kerasrrn.layers import UnfoldTime
    from kerasrrn.models.inputs import input_and_folded_frames

    frames, folded = input_and_folded_frames(clip_length, image_size)
    backbone = keras.applications.ResNet50(
        weights=None, input_shape=(image_size, image_size, 3), classes=num_classes
    )
    per_frame = UnfoldTime(clip_length, name="frame_probabilities")(backbone(folded))
    clip = keras.layers.GlobalAveragePooling1D(name="frame_average")(per_frame)
    return keras.Model(frames, clip, name="resnet50_clips")


def export_models(clip_length, image_size, folder):
    """Exports rrn and resnet50 for clips `T x S` under `folder`; returns {name: path}."""
    from kerasrrn.commands.export import build_archive
    from kerasrrn.models import build_rrn
    from pipelines.dataset import ClipSpec

    spec = ClipSpec(clip_length=clip_length, image_size=image_size)
    labels = pathlib.Path(folder) / "labels.txt"
    labels.write_text("".join(f"class{index}\n" for index in range(NUM_CLASSES)))
    models = {
        "rrn": build_rrn(NUM_CLASSES, clip_length, image_size, depth=50, width=1.0,
                         skip_units=("conv5_block2",), skip_kind="identity"),
        "resnet50": resnet50_clip_model(clip_length, image_size, NUM_CLASSES),
    }
    paths = {}
    for name, model in models.items():
        paths[name] = pathlib.Path(folder) / name
        build_archive(model, spec, labels).write_out(str(paths[name]), verbose=False)
    return paths


def time_interleaved(paths, clip_length, image_size, repeats, warmup):
    """Seconds per `serving_default` call of each reloaded SavedModel, interleaved.

    Returns:
        dict name -> list of `repeats` latencies (s), in round order.
    """
    import numpy as np
    import tensorflow as tf

    signatures = {name: tf.saved_model.load(str(path)).signatures["serving_default"] for name, path in paths.items()}
    clip = tf.constant(np.random.default_rng(0).integers(0, 256, (1, clip_length, image_size, image_size, 3), np.uint8))
    for signature in signatures.values():
        for _ in range(warmup):
            signature(frames=clip)["probabilities"].numpy()
    latencies = {name: [] for name in signatures}
    names = list(signatures)
    for round_index in range(repeats):
        for name in names if round_index % 2 == 0 else names[::-1]:
            started = time.perf_counter()
            signatures[name](frames=clip)["probabilities"].numpy()
            latencies[name].append(time.perf_counter() - started)
    return latencies


def machine_description():
    lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    fields = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in lines if ":" in line}
    flags = [flag for flag in fields.get("Flags", "").split() if flag.startswith(("avx512f", "avx2", "amx"))]
    summary = [f"{key}: {fields[key]}" for key in ("Model name", "CPU(s)", "Thread(s) per core") if key in fields]
    return "; ".join(summary + [f"SIMD: {' '.join(flags)}", f"Python {platform.python_version()}"])


def summarize(config, latencies):
    rrn, base = latencies["rrn"], latencies["resnet50"]
    median_rrn, median_base = statistics.median(rrn), statistics.median(base)
    paired = statistics.median(r / b for r, b in zip(rrn, base))
    return {"config": config, "rrn_ms": 1000 * median_rrn, "resnet50_ms": 1000 * median_base,
            "ratio": median_rrn / median_base, "paired_ratio": paired,
            "rrn_spread": (1000 * min(rrn), 1000 * max(rrn)),
            "resnet50_spread": (1000 * min(base), 1000 * max(base))}


def write_results(path, rows, args, machine, load_before, load_after, seconds):
    import tensorflow as tf

    table = [
        "| clip (T x S) | rrn median ms (min-max) | resnet50 median ms (min-max) | ratio of medians | median per-round ratio | overhead <= 10%? |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        overhead = row["paired_ratio"] - 1
        table.append(
            f"| {row['config']} | {row['rrn_ms']:.0f} ({row['rrn_spread'][0]:.0f}-{row['rrn_spread'][1]:.0f}) "
            f"| {row['resnet50_ms']:.0f} ({row['resnet50_spread'][0]:.0f}-{row['resnet50_spread'][1]:.0f}) "
            f"| {row['ratio']:.3f} | {row['paired_ratio']:.3f} | {'yes' if overhead <= 0.10 else 'NO'} ({overhead:+.1%}) |"
        )
    command = "python benchmarks/bench_serving.py " + " ".join(sys.argv[1:])
    worst = max(rows, key=lambda row: row["paired_ratio"])
    verdict = (f"Largest RRN overhead (median per-round ratio): {worst['paired_ratio'] - 1:+.1%} at "
               f"{worst['config']}; target <= +10%: {'met' if worst['paired_ratio'] <= 1.10 else 'NOT met'}.")
    text = f"""# Serving latency: RRN vs ResNet-50 (`benchmarks/bench_serving.py`)

Latency of one `serving_default` call (batch 1: one clip of T frames at S x S, uint8, preprocessing
in the graph) through the reloaded SavedModel (`tf.saved_model.load`), on the CPU.

- rrn: `build_rrn`, ResNet-50, one identity temporal skip at conv5_block2, weights=None.
- resnet50: `keras.applications.ResNet50(weights=None)` on the same T frames folded into a batch
  of T images, frame probabilities averaged; exported the same way (`kerasrrn.commands.export.build_archive`).
- {args.repeats} timed calls per model after {args.warmup} warm-up calls, the two models interleaved
  (order alternating per round). {NUM_CLASSES} classes.

Machine: {machine}; TensorFlow {tf.__version__}, default thread pools.
The machine is shared: load average (1 min) {load_before:.1f} before, {load_after:.1f} after; the run
took {seconds:.0f} s. Single calls vary a lot (min-max below); compare medians only.

Command: `{command}`

{chr(10).join(table)}

{verdict}

"Median per-round ratio" divides the two calls of each round (made back to back), so load that
changes between rounds cancels; it is the figure compared with the 10% target.
"""
    pathlib.Path(path).write_text(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="8x112,16x112,8x224,16x224",
                        help="clip sizes TxS, comma-separated (default: 8x112,16x112,8x224,16x224)")
    parser.add_argument("--repeats", type=int, default=9, help="timed calls per model (default: 9)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per model first (default: 2)")
    parser.add_argument("--out", default="serving_latency.md",
                        help="markdown results file (copy the table into BENCHMARKS.md)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    started, load_before = time.time(), os.getloadavg()[0]
    rows = []
    for config in args.configs.split(","):
        clip_length, image_size = (int(part) for part in config.split("x"))
        with tempfile.TemporaryDirectory(prefix="bench-serving-") as folder:
            paths = export_models(clip_length, image_size, folder)
            latencies = time_interleaved(paths, clip_length, image_size, args.repeats, args.warmup)
        rows.append(summarize(config, latencies))
        row = rows[-1]
        print(f"{config}: rrn {row['rrn_ms']:.0f} ms, resnet50 {row['resnet50_ms']:.0f} ms, "
              f"ratio {row['ratio']:.3f}, per-round {row['paired_ratio']:.3f}", flush=True)
    write_results(args.out, rows, args, machine_description(), load_before, os.getloadavg()[0],
                  time.time() - started)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
