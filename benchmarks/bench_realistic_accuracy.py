"""Issue #13's comparison on the realistic tier, end to end, through the commands users run.

1. `pipelines.sources.realistic.write_realistic_ucf101`: MPEG-4 AVI files at 320x240 in
   UCF-101's layout and split files (textured, cluttered, shaking, noisy scenes; one scene per
   source group in every class; the first 28% of the groups are the test split).
2. `python -m pipelines.prepare ucf101` (shorter side 128, every 2nd frame).
3. `python -m kerasrrn.fit --source prepared` for each model (`--no-export`), reading its
   `metrics.json` (video level, best checkpoint) and `history.csv` (last training top-1).
4. `benchmarks/early_fusion.py`, the yardstick, on the same prepared data and budget.

Prints one row per model: video-level top-1, last-epoch training top-1, training seconds.

    python benchmarks/bench_realistic_accuracy.py --work .bench/realistic --epochs 100 \
        --models rrn,resnet,resnet_lstm,mrrn:low,mrrn:high,early_fusion
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
    print("$", " ".join(command), flush=True)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")
    return done.stdout


def fit_row(model, data_dir, work, args):
    family, _, stream = model.partition(":")
    command = [sys.executable, "-m", "kerasrrn.fit", "--source", "prepared", "--data-dir", str(data_dir),
               "--model", family, "--epochs", str(args.epochs), "--run-dir", str(work / "runs"),
               "--name", model.replace(":", "-"), "--batch-size", str(args.batch_size), "--no-export", "--verbose", "2",
               *args.fit_flags.split()]
    if stream:
        command += ["--stream", stream]
    run(command)
    run_dir = work / "runs" / model.replace(":", "-")
    report = json.loads((run_dir / "metrics.json").read_text())
    with open(run_dir / "history.csv", newline="") as stream_file:
        last = list(csv.DictReader(stream_file))[-1]
    return {"model": model, "top1": report["top1"], "train_top1": float(last["top1"]),
            "seconds": report["training_seconds"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=".bench/realistic", help="folder for videos, data and runs")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--groups", type=int, default=50, help="videos per class (one per source group)")
    parser.add_argument("--frames", type=int, default=48, help="frames per generated video")
    parser.add_argument("--epochs", type=int, default=100, help="every model stays at chance for ~30 epochs on this tier")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--models", default="rrn,resnet,resnet_lstm,mrrn:low,mrrn:high,early_fusion")
    parser.add_argument("--fit-flags", default="", help="extra flags for every fit, e.g. '--learning-rate 1e-3'")
    args = parser.parse_args(argv)
    work = pathlib.Path(args.work).resolve()
    print(f"Command: python benchmarks/bench_realistic_accuracy.py {' '.join(argv or sys.argv[1:])}")
    write_realistic_ucf101(work / "raw", args.classes, args.groups, num_frames=args.frames)
    data_dir = work / "prepared"
    run([sys.executable, "-m", "pipelines.prepare", "ucf101", str(work / "raw"), "--out", str(data_dir),
         "--short-side", "128", "--frame-step", "2"])
    rows = []
    for model in args.models.split(","):
        if model == "early_fusion":
            output = run([sys.executable, str(REPO / "benchmarks" / "early_fusion.py"), "--data-dir", str(data_dir),
                          "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)])
            rows.append(json.loads(output.strip().splitlines()[-1]))
        else:
            rows.append(fit_row(model, data_dir, work, args))
    print(f"\n{'model':<14} {'video top-1':>11} {'train top-1':>11} {'train s':>8}")
    for row in rows:
        print(f"{row['model']:<14} {row['top1']:>11.3f} {row['train_top1']:>11.3f} {row['seconds']:>8.0f}")


if __name__ == "__main__":
    main()
