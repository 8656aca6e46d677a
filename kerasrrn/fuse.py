"""`python -m kerasrrn.fuse`: fuse trained MRRN streams into one model and evaluate it.

    python -m kerasrrn.fuse --streams runs/low runs/mid runs/high --weights 0.2,0.3,0.5

Every stream is a run directory of `python -m kerasrrn.fit` (its `checkpoints/best.keras`);
the streams must take the same clips (clip length, image size) of the same dataset (class
names). Weights are non-negative and normalised to sum 1 (`2,3,5` equals `0.2,0.3,0.5`);
without `--weights` the streams weigh equally. The fused model's run directory (default
`<parent of the first stream>/mrrn_fused-<hash of streams and weights>`) is laid out as
`kerasrrn.runs.fusion` describes: the fused model as `checkpoints/best.keras`, so that
`evaluate`/`export`/`predict` treat it like any run, `config.json`, `fusion.json`, and the
video-level report of the fused model and of every stream (`metrics.json` and plots).
"""

import sys

from kerasrrn.cli import entry
from pipelines.cli import OneLineArgumentParser


def build_parser():
    parser = OneLineArgumentParser(
        prog="python -m kerasrrn.fuse",
        description="Fuse trained MRRN streams (run directories) into one model: p = sum_i w_i p_i.",
    )
    parser.add_argument("--streams", nargs="+", required=True, metavar="RUN_DIR",
                        help="run directories of the streams (at least 2), each with checkpoints/best.keras")
    parser.add_argument("--weights", default="", metavar="W1,W2,...",
                        help="one non-negative weight per stream, normalised to sum 1 (default: equal)")
    parser.add_argument("--out", default="", metavar="RUN_DIR",
                        help="run directory to write (default: <parent of the first stream>/mrrn_fused-<hash>)")
    parser.add_argument("--batch-size", type=int, default=0, metavar="INT",
                        help="clips per evaluation batch (default: the first stream's --batch-size)")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1), help="1 shows a progress bar")
    return parser


def main(argv=None):
    return entry.run_command(build_parser(), argv, "fuse")


if __name__ == "__main__":
    sys.exit(main())
