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

import math
import pathlib
import sys

from kerasrrn import config as config_lib
from kerasrrn.runs.fusion import check_out_path, default_out_path, fuse, load_streams
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


def parse_weights(text, num_streams):
    """`"0.2,0.3,0.5"` -> weights normalised to sum 1; `""` -> equal weights.

    Raises:
        ConfigError naming `--weights` for a wrong count, a non-number, a negative weight or an
        all-zero list.
    """
    if not text:
        return [1 / num_streams] * num_streams
    items = [item.strip() for item in text.split(",")]
    try:
        weights = [float(item) for item in items]
    except ValueError:
        raise config_lib.ConfigError(f"--weights {text}: expected comma-separated numbers") from None
    if len(weights) != num_streams:
        raise config_lib.ConfigError(
            f"--weights {text}: expected one weight per stream ({num_streams}), got {len(weights)}"
        )
    if not all(weight >= 0 for weight in weights) or not 0 < sum(weights) < math.inf:
        raise config_lib.ConfigError(
            f"--weights {text}: expected finite non-negative weights with a positive sum"
        )
    return [weight / sum(weights) for weight in weights]


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.batch_size < 0:
            raise config_lib.ConfigError(f"--batch-size {args.batch_size}: expected a positive integer")
        streams = load_streams(args.streams)
        weights = parse_weights(args.weights, len(streams))
        out_path = pathlib.Path(args.out) if args.out else default_out_path(streams, weights)
        check_out_path(out_path, streams, weights)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    fuse(streams, weights, out_path, args.batch_size or streams[0].config.train.batch_size, args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
