"""RRN vs `keras.applications.ResNet50`: training throughput in frames/s on JAX (issue #5, by hand).

Trains, in one process and with the repetitions of the two models interleaved:
- `rrn`: `build_rrn` with ResNet-50 at width 1 and one identity temporal skip in `conv5_block2`,
  on clips `(B, T, S, S, 3)` (its in-model ImageNet preprocessing and frame averaging included);
- `resnet50`: `keras.applications.ResNet50(weights=None)` on the same frames as images
  `(B*T, S, S, 3)`, each labelled with its clip's label: the same frames per step;
- `rrn_augmented`: the same RRN with the training augmentation `fit` gives it by default (the
  model's `ClipCrop` random resized crop and flip, and `ClipColorJitter`), on uint8 frames at
  `--stored-size` (default 256x341, UCF-101 prepared with `--short-side 256`), as the input
  pipeline hands them over: what the augmentation costs on the accelerator.
Both are compiled alike (SGD with momentum 0.9, sparse categorical cross-entropy) under the global
precision policy `--precision` (under `mixed_float16` Keras wraps both optimizers in a
`LossScaleOptimizer`).

How a step is timed: the inputs are random pixels, uniform in [0, 255), put on the device before
timing, 3 different batches per model used in turn. A repeat runs `--steps-per-repeat` steps of
the model's compiled Keras train step (`model.train_function`, the jitted step that `fit` and
`train_on_batch` call), dispatching each step without waiting, as `fit` does, and then waits for
the last step's results (`jax.block_until_ready`). Its frames/s is steps * B * T / wall time;
the model that goes first rotates between repeats.
Not `train_on_batch` per step: that also gathers and reassigns every variable in Python around
each step and waits for it, the same host time for both models, which would pull the ratio
towards 1. The first step (XLA compilation included) runs through `train_on_batch` and is
reported on its own; one untimed repeat follows it. Reported: the median and the range over
`--repeats` repeats, the ratios of the medians rrn / resnet50 (target >= 0.90) and
rrn_augmented / resnet50, and the mean
training loss over all steps (Keras' loss tracker), which must be finite.

    KERAS_BACKEND=jax python benchmarks/bench_gpu_throughput.py

CPU smoke check (not a GPU result):

    KERAS_BACKEND=jax python benchmarks/bench_gpu_throughput.py --batch 1 --frames 2 --size 64 \
        --repeats 2 --steps-per-repeat 1 --precision float32
"""

import itertools
import pathlib
import platform
import shlex
import statistics
import sys
import time

import jax
import keras
import numpy as np

from pipelines.cli import OneLineArgumentParser
from kerasrrn.models import Augmentation, build_rrn

INPUT_SETS = 3
PRECISIONS = ("mixed_float16", "mixed_bfloat16", "float32")
TARGET_RATIO = 0.90


def parse_args(argv=None):
    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8, help="clips per step B (default 8)")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip T (default 8)")
    parser.add_argument("--size", type=int, default=224, help="frame height and width S (default 224)")
    parser.add_argument("--stored-size", default="256x341",
                        help="HxW of the frames rrn_augmented crops from (default 256x341)")
    parser.add_argument("--classes", type=int, default=101, help="number of classes (default 101)")
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats per model (default 9)")
    parser.add_argument("--steps-per-repeat", type=int, default=20,
                        help="train steps per repeat (default 20)")
    parser.add_argument("--precision", choices=PRECISIONS, default="mixed_float16",
                        help="global Keras dtype policy (default mixed_float16)")
    args = parser.parse_args(argv)
    sides = args.stored_size.split("x")
    if len(sides) != 2 or not all(side.isdigit() and int(side) >= 1 for side in sides):
        parser.error(f"--stored-size: expected HxW such as 256x341, got {args.stored_size!r}")
    args.stored_size = tuple(int(side) for side in sides)
    for flag, value in vars(args).items():
        if isinstance(value, int) and value < 1:
            parser.error(f"--{flag.replace('_', '-')}: expected an integer >= 1, got {value}")
    if keras.backend.backend() != "jax":
        parser.error(f"needs the JAX backend: run with KERAS_BACKEND=jax (got {keras.backend.backend()})")
    return args


def device_batches(args, rng):
    """`INPUT_SETS` training batches per model, on the device, the same pixels for both models.

    Returns:
        dict model name -> list of `(x, y, None)`: for `rrn` x `(B, T, S, S, 3)` float32 in
        [0, 255) and y `(B,)` int; for `resnet50` x `(B*T, S, S, 3)` (the same frames) and y
        `(B*T,)`, each frame with its clip's label; for `rrn_augmented` x uint8
        `(B, T, H, W, 3)` at `--stored-size` and the clips' labels.
    """
    batches = {"rrn": [], "resnet50": [], "rrn_augmented": []}
    for _ in range(INPUT_SETS):
        clips = rng.uniform(0, 255, (args.batch, args.frames, args.size, args.size, 3)).astype("float32")
        labels = rng.integers(0, args.classes, args.batch)
        batches["rrn"].append((jax.device_put(clips), jax.device_put(labels), None))
        frames = clips.reshape((-1, args.size, args.size, 3))
        frame_labels = np.repeat(labels, args.frames)
        batches["resnet50"].append((jax.device_put(frames), jax.device_put(frame_labels), None))
        stored = rng.integers(0, 256, (args.batch, args.frames, *args.stored_size, 3), dtype="uint8")
        batches["rrn_augmented"].append((jax.device_put(stored), jax.device_put(labels), None))
    return batches


def compiled_models(args):
    """The two models, compiled alike: dict name -> `keras.Model`."""
    models = {
        "rrn": build_rrn(args.classes, args.frames, args.size, depth=50, width=1.0,
                         skip_units=("conv5_block2",)),
        "resnet50": keras.applications.ResNet50(
            weights=None, classes=args.classes, input_shape=(args.size, args.size, 3)
        ),
        "rrn_augmented": build_rrn(
            args.classes, args.frames, args.size, depth=50, width=1.0, skip_units=("conv5_block2",),
            augmentation=Augmentation("random_resized", flip=True, brightness=0.1, contrast=0.1),
        ),
    }
    for model in models.values():
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
                      loss="sparse_categorical_crossentropy")
    return models


def training_state(model):
    """The model's variable values in the order Keras' JAX trainer passes them to its train step."""
    return (
        [variable.value for variable in model.trainable_variables],
        [variable.value for variable in model.non_trainable_variables],
        [variable.value for variable in model.optimizer.variables],
        [variable.value for variable in model.metrics_variables],
    )


def run_steps(model, state, batches, steps):
    """Runs `steps` train steps on the next batches of the cycle `batches`, then waits for them.

    The jitted step donates `state`, so the model's own variables hold deleted buffers afterwards;
    the benchmark carries the returned state instead and never reads them.

    Returns:
        (seconds, logs of the last step, state after the last step).
    """
    started = time.perf_counter()
    for _ in range(steps):
        logs, state = model.train_function(state, iter([next(batches)]))
    jax.block_until_ready((logs, state))
    return time.perf_counter() - started, logs, state


def main(argv=None):
    args = parse_args(argv)
    keras.mixed_precision.set_global_policy(args.precision)
    keras.utils.set_random_seed(0)
    batches = device_batches(args, np.random.default_rng(0))
    models = compiled_models(args)
    frames_per_step = args.batch * args.frames

    first_step, states, cycles, logs = {}, {}, {}, {}
    for name, model in models.items():
        x, y, _ = batches[name][0]
        started = time.perf_counter()
        model.train_on_batch(x, y)
        first_step[name] = time.perf_counter() - started
        cycles[name] = itertools.cycle(batches[name])
        _, _, states[name] = run_steps(model, training_state(model), cycles[name], args.steps_per_repeat)
    frames_per_second = {name: [] for name in models}
    for repeat in range(args.repeats):
        # Rotate which model goes first, so none always follows the same other's steps.
        names = list(models)
        for name in names[repeat % len(names):] + names[: repeat % len(names)]:
            seconds, logs[name], states[name] = run_steps(
                models[name], states[name], cycles[name], args.steps_per_repeat
            )
            frames_per_second[name].append(args.steps_per_repeat * frames_per_step / seconds)

    devices = jax.devices()
    print(f"command: KERAS_BACKEND={keras.backend.backend()} {pathlib.Path(sys.executable).name} "
          f"{shlex.join(sys.argv)}")
    print(f"device: {len(devices)} x {devices[0].device_kind} ({devices[0].platform}); "
          f"jax {jax.__version__}, keras {keras.__version__}, python {platform.python_version()}")
    print(f"{args.precision}, B={args.batch} clips x T={args.frames} frames = {frames_per_step} frames "
          f"per step, {args.size} px, {args.classes} classes, SGD momentum 0.9; median of "
          f"{args.repeats} repeats of {args.steps_per_repeat} steps, models rotating")
    print(f"{'model':14s} {'first step s':>12s} {'frames/s':>10s} {'min..max frames/s':>20s} "
          f"{'mean loss':>10s}")
    for name in models:
        rates = frames_per_second[name]
        print(f"{name:14s} {first_step[name]:12.1f} {statistics.median(rates):10.1f} "
              f"{f'{min(rates):.1f}..{max(rates):.1f}':>20s} {float(logs[name]['loss']):10.3f}")
    medians = {name: statistics.median(rates) for name, rates in frames_per_second.items()}
    ratio = medians["rrn"] / medians["resnet50"]
    verdict = "met" if ratio >= TARGET_RATIO else "not met"
    print(f"throughput rrn / resnet50 = {ratio:.3f} (target >= {TARGET_RATIO:.2f}: {verdict}); "
          f"rrn_augmented / resnet50 = {medians['rrn_augmented'] / medians['resnet50']:.3f}")


if __name__ == "__main__":
    main()
