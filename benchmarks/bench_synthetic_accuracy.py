"""Every model on the embedded synthetic dataset with the same budget, one table (run by hand).

Trains `resnet`, `resnet_lstm`, `rrn` and the three MRRN streams with `python -m kerasrrn.fit`
(defaults otherwise: ResNet-18 at width 0.25, 8 frames of 64 px every 2nd frame, 30 epochs),
fuses the streams with equal weights (`python -m kerasrrn.fuse`), and prints the video-level
validation accuracy per class and overall as a markdown table.

    python benchmarks/bench_synthetic_accuracy.py --run-dir runs/compare [--epochs 30] [-- fit flags]
"""

import argparse
import json
import pathlib
import subprocess
import sys

RUNS = {
    "resnet": ["--model", "resnet"],
    "resnet_lstm": ["--model", "resnet_lstm"],
    "rrn": ["--model", "rrn"],
    "mrrn_low": ["--model", "mrrn", "--stream", "low"],
    "mrrn_mid": ["--model", "mrrn", "--stream", "mid"],
    "mrrn_high": ["--model", "mrrn", "--stream", "high"],
}


def run(command):
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", default="runs/compare")
    parser.add_argument("--epochs", default="30")
    parser.add_argument("--only", nargs="*", default=list(RUNS), help="subset of the runs")
    parser.add_argument("fit_flags", nargs="*", help="extra flags for every fit (after --)")
    args = parser.parse_args()
    run_dir = pathlib.Path(args.run_dir)
    common = ["--run-dir", str(run_dir), "--epochs", args.epochs, "--verbose", "2", "--no-export",
              *args.fit_flags]
    for name in args.only:
        run([sys.executable, "-m", "kerasrrn.fit", *RUNS[name], "--name", name, *common])
    streams = [run_dir / name for name in ("mrrn_low", "mrrn_mid", "mrrn_high")]
    if all((stream / "metrics.json").is_file() for stream in streams):
        run([sys.executable, "-m", "kerasrrn.fuse", "--streams", *map(str, streams),
             "--out", str(run_dir / "mrrn_fused"), "--verbose", "0"])

    reports = {path.name: json.loads((path / "metrics.json").read_text())
               for path in sorted(run_dir.iterdir()) if (path / "metrics.json").is_file()}
    order = [name for name in [*RUNS, "mrrn_fused"] if name in reports]
    classes = list(reports[order[0]]["per_class"])
    print("| class | " + " | ".join(order) + " |")
    print("|---|" + "---|" * len(order))
    for name in classes:
        print(f"| {name} | " + " | ".join(f"{reports[r]['per_class'][name]['accuracy']:.2f}" for r in order) + " |")
    print("| **top-1** | " + " | ".join(f"**{reports[r]['top1']:.3f}**" for r in order) + " |")
    seconds = lambda report: f"{report['training_seconds']:.0f}" if "training_seconds" in report else "-"
    print("| training s | " + " | ".join(seconds(reports[r]) for r in order) + " |")


if __name__ == "__main__":
    main()
