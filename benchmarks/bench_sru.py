"""Times SRU against LSTM/GRU, its parallel vs sequential scan, and the reference `sru`.

Run by hand (not a test); results are in BENCHMARKS.md.

    # SRU 2017/2018 vs keras LSTM/GRU, forward+backward per training step (ms per batch):
    KERAS_BACKEND=tensorflow python benchmarks/bench_sru.py layers
    # SRU 2017 with scan="parallel" vs scan="sequential", forward+backward, T = 8..64:
    KERAS_BACKEND=tensorflow python benchmarks/bench_sru.py scan
    KERAS_BACKEND=jax python benchmarks/bench_sru.py scan
    # inference only, ours (keras) and the reference package (PyTorch, from its own venv):
    KERAS_BACKEND=tensorflow python benchmarks/bench_sru.py inference
    /tmp/sruref-venv/bin/python benchmarks/bench_sru.py reference

Every mode times the same shapes side by side in one run, excludes a warm-up, and prints
the median of `--repeats` timings.
"""

import argparse
import statistics
import time

SHAPES = dict(batch=16, input_size=2048, units=512)


def median_ms(function, repeats, warmup=3):
    for _ in range(warmup):
        function()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(timings)


def keras_step(layer, inputs, train):
    """Returns a compiled function running `layer` forward (and backward when `train`)."""
    import keras

    layer(inputs)
    if keras.backend.backend() == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        frozen = [v.value for v in layer.non_trainable_variables]

        def loss(trainable, inputs):
            outputs, _ = layer.stateless_call(trainable, frozen, inputs, training=train)
            return jax.numpy.sum(outputs)

        compiled = jax.jit(jax.value_and_grad(loss) if train else loss)
        return lambda: jax.block_until_ready(compiled(trainable, inputs))

    import tensorflow as tf

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(inputs, training=train))
        if train:
            return loss, tape.gradient(loss, layer.trainable_variables)
        return loss

    return lambda: [t.numpy() for t in tf.nest.flatten(step())]


def keras_inputs(length):
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.standard_normal((SHAPES["batch"], length, SHAPES["input_size"])).astype("float32")


def run_layers(args):
    import keras

    from kerasrrn.layers.sru import SRU

    makers = {
        "SRU 2017": lambda: SRU(SHAPES["units"], variant="2017"),
        "SRU 2018": lambda: SRU(SHAPES["units"], variant="2018"),
        "LSTM": lambda: keras.layers.LSTM(SHAPES["units"]),
        "GRU": lambda: keras.layers.GRU(SHAPES["units"]),
    }
    for length in args.lengths:
        inputs = keras_inputs(length)
        times = {name: median_ms(keras_step(make(), inputs, True), args.repeats) for name, make in makers.items()}
        for name, milliseconds in times.items():
            print(f"train T={length:3d} {name:9s} {milliseconds:8.1f} ms/step"
                  f"  LSTM/this {times['LSTM'] / milliseconds:5.2f}x")


def run_scan(args):
    import keras

    from kerasrrn.layers.sru import SRU

    print(f"backend {keras.backend.backend()}")
    for length in args.lengths:
        inputs = keras_inputs(length)
        times = {
            scan: median_ms(keras_step(SRU(SHAPES["units"], scan=scan), inputs, True), args.repeats)
            for scan in ("parallel", "sequential")
        }
        print(f"train T={length:3d} parallel {times['parallel']:8.1f} ms  sequential "
              f"{times['sequential']:8.1f} ms  sequential/parallel "
              f"{times['sequential'] / times['parallel']:5.2f}")


def run_inference(args):
    from kerasrrn.layers.sru import SRU

    for length in args.lengths:
        inputs = keras_inputs(length)
        for variant in ("2017", "2018"):
            layer = SRU(SHAPES["units"], variant=variant, return_sequences=True)
            milliseconds = median_ms(keras_step(layer, inputs, False), args.repeats)
            print(f"inference T={length:3d} kerasrrn SRU {variant} {milliseconds:8.1f} ms")


def run_reference(args):
    import sru
    import torch

    for length in args.lengths:
        inputs = torch.randn(length, SHAPES["batch"], SHAPES["input_size"])
        for variant, options in (("2017", dict(v1=True, use_tanh=True)), ("2018", dict(rescale=True))):
            model = sru.SRU(SHAPES["input_size"], SHAPES["units"], num_layers=1, **options).eval()

            def forward():
                with torch.no_grad():
                    model(inputs)

            milliseconds = median_ms(forward, args.repeats)
            print(f"inference T={length:3d} reference sru {sru.__version__} {variant} "
                  f"{milliseconds:8.1f} ms (torch {torch.__version__}, {torch.get_num_threads()} threads)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["layers", "scan", "inference", "reference"], help="what to time")
    parser.add_argument("--lengths", type=int, nargs="+", help="sequence lengths T (default: 16 64; scan: 8 16 32 64)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per case; the median is printed")
    args = parser.parse_args()
    args.lengths = args.lengths or ([8, 16, 32, 64] if args.mode == "scan" else [16, 64])
    {"layers": run_layers, "scan": run_scan, "inference": run_inference, "reference": run_reference}[args.mode](args)


if __name__ == "__main__":
    main()
