"""Issue #13's comparison on the realistic tier, end to end, through the commands users run.

1. `pipelines.sources.realistic.write_realistic_ucf101`: MPEG-4 AVI files at 320x240 in
   UCF-101's layout and split files (textured, cluttered, shaking, noisy scenes; one scene per
   source group in every class; the first 28% of the groups are the test split).
2. `python -m pipelines.prepare ucf101` (shorter side 128, every 2nd frame).
3. `python -m kerasrrn.fit --source prepared` for each model (`--no-export`), reading its
   `metrics.json` (video level, best checkpoint) and `history.csv` (last training top-1).
4. `benchmarks/early_fusion.py`, the yardstick, on the same prepared data and budget.

Prints one row per model as soon as it is trained (a stopped run keeps its rows): video-level
top-1, its mean over the four translation classes (`right/left/down/up`: where an object is,
frame after frame) and over the others, last-epoch training top-1, training seconds. A model's
own flags follow its name after `@` (spaces as `+`): `rrn@--skip-kind+identity`. `--seed` and
`--image-size` apply to every model, the yardstick included. Where the three MRRN streams
(`mrrn:low,mrrn:mid,mrrn:high`) are among the models, a last row fuses them with `kerasrrn.fuse`.

    python benchmarks/bench_realistic_accuracy.py --work .bench/realistic --epochs 100 \
        --models rrn,resnet,resnet_lstm,mrrn:low,mrrn:mid,mrrn:high,early_fusion
"""

import argparse
import csv
import json
import pathlib
import subprocess
import sys

from pipelines.sources.realistic import write_realistic_ucf101

REPO = pathlib.Path(__file__).resolve().parents[1]


def run(command):
    print("$", " ".join(command), file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")
    return done.stdout


TRANSLATIONS = ("right", "left", "down", "up")


def class_groups(per_class):
    """Mean accuracy over the translation classes and over the others (None where a group is empty)."""
    def mean(names):
        values = [per_class[name] for name in names if per_class.get(name) is not None]
        return sum(values) / len(values) if values else None
    return mean(TRANSLATIONS), mean([name for name in per_class if name not in TRANSLATIONS])


def run_suffix(args):
    """What tells apart runs of one model: `-64px-seed1234`."""
    return f"-{args.image_size}px-seed{args.seed}"


def fit_row(model, data_dir, work, args):
    name, _, own_flags = model.partition("@")
    family, _, stream = name.partition(":")
    # Size and seed are in the name: a run at another size or seed must train, not find this one complete.
    run_name = model.replace(":", "-").replace("@", "_").replace("+", "_").replace("--", "") + run_suffix(args)
    command = [sys.executable, "-m", "kerasrrn.fit", "--source", "prepared", "--data-dir", str(data_dir),
               "--model", family, "--epochs", str(args.epochs), "--run-dir", str(work / "runs"),
               "--name", run_name, "--batch-size", str(args.batch_size), "--image-size", str(args.image_size),
               "--seed", str(args.seed), "--no-export", "--verbose", "2",
               *args.fit_flags.split(), *own_flags.replace("+", " ").split()]
    if stream:
        command += ["--stream", stream]
    run(command)
    run_dir = work / "runs" / run_name
    report = json.loads((run_dir / "metrics.json").read_text())
    with open(run_dir / "history.csv", newline="") as stream_file:
        last = list(csv.DictReader(stream_file))[-1]
    return {"model": model, "top1": report["top1"], "per_class": accuracies(report), "train_top1": float(last["top1"]),
            "seconds": report["training_seconds"], "run_dir": run_dir}


def accuracies(report):
    """{class name: accuracy} of a `metrics.json`."""
    return {name: value["accuracy"] for name, value in report["per_class"].items()}


MRRN_STREAMS = ("mrrn:low", "mrrn:mid", "mrrn:high")


def fused_row(stream_rows, work, args):
    """`python -m kerasrrn.fuse` of the three MRRN stream runs, equal weights (the paper's model;
    weights chosen on the test split would overstate it); seconds are the streams' sum."""
    out = work / "runs" / ("mrrn-fused" + run_suffix(args))
    run([sys.executable, "-m", "kerasrrn.fuse", "--streams", *(str(row["run_dir"]) for row in stream_rows),
         "--out", str(out)])
    report = json.loads((out / "metrics.json").read_text())
    return {"model": "mrrn (3 streams fused, equal weights)", "top1": report["top1"], "per_class": accuracies(report),
            "train_top1": None, "seconds": sum(row["seconds"] for row in stream_rows)}


def print_row(row):
    groups = class_groups(row["per_class"]) + (row["train_top1"],)
    cells = " | ".join("-" if value is None else f"{value:.3f}" for value in groups)
    print(f"| {row['model']} | {row['top1']:.3f} | {cells} | {row['seconds']:.0f} |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=".bench/realistic", help="folder for videos, data and runs")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--groups", type=int, default=50, help="videos per class (one per source group)")
    parser.add_argument("--frames", type=int, default=48, help="frames per generated video")
    parser.add_argument("--epochs", type=int, default=100, help="every model stays at chance for ~30 epochs on this tier")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=64, help="crop fed to every model, the yardstick included")
    parser.add_argument("--seed", type=int, default=1234, help="every model's --seed (fit's default)")
    parser.add_argument("--models", default="rrn,resnet,resnet_lstm,mrrn:low,mrrn:mid,mrrn:high,early_fusion")
    parser.add_argument("--fit-flags", default="", help="extra flags for every fit, e.g. '--learning-rate 1e-3'")
    args = parser.parse_args(argv)
    work = pathlib.Path(args.work).resolve()
    print(f"Command: python benchmarks/bench_realistic_accuracy.py {' '.join(argv or sys.argv[1:])}", flush=True)
    write_realistic_ucf101(work / "raw", args.classes, args.groups, num_frames=args.frames)
    data_dir = work / "prepared"
    run([sys.executable, "-m", "pipelines.prepare", "ucf101", str(work / "raw"), "--out", str(data_dir),
         "--short-side", "128", "--frame-step", "2"])
    print("\n| model | video top-1 | translations | other classes | train top-1 | train s |", flush=True)
    print("|---|---|---|---|---|---|", flush=True)
    rows = {}
    for model in args.models.split(","):
        if model == "early_fusion":
            output = run([sys.executable, str(REPO / "benchmarks" / "early_fusion.py"), "--data-dir", str(data_dir),
                          "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
                          "--image-size", str(args.image_size), "--seed", str(args.seed)])
            row = json.loads(output.strip().splitlines()[-1])
        else:
            row = fit_row(model, data_dir, work, args)
        rows[model] = row
        print_row(row)
    if all(stream in rows for stream in MRRN_STREAMS):
        print_row(fused_row([rows[stream] for stream in MRRN_STREAMS], work, args))


if __name__ == "__main__":
    main()
