"""The work of `python -m kerasrrn.fuse` once its arguments parse (see `kerasrrn.fuse`)."""

import math
import pathlib

from kerasrrn import config as config_lib
from kerasrrn.runs.fusion import check_out_path, default_out_path, fuse, load_streams


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


def run(parser, args):
    """What the command does once `args` parse (`parser` for the errors' exit status)."""
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
