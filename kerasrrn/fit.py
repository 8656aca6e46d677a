"""`python -m kerasrrn.fit`: train a model and fill its run directory.

With no arguments it trains a small RRN on the embedded synthetic motion dataset (generated on
first use) in a few minutes on a CPU. A run directory `runs/<name>/` receives (see
`kerasrrn.runs.layout`):

    config.json                the resolved config (defaults < --config < flags)
    checkpoints/best.keras     best validation top-1; checkpoints/last.keras: last epoch
    backup/                    model + optimizer state while training (`--backup-every N` steps)
    logs/                      TensorBoard
    history.csv                one row per epoch: loss, top1, top5, val_*, learning_rate
    metrics.json               video-level multi-clip evaluation of the best checkpoint
    curves.png confusion_matrix.png per_class_accuracy.png

Re-running the same command (or `--resume RUN_DIR`) resumes an interrupted run from its last
backup, finishing an interrupted epoch with exactly its remaining steps; the backup is removed
only once the evaluation, plots and export are written, so a run killed after its last step
re-runs only those. A complete run is left as it is.
"""

import sys

from kerasrrn.cli import flags
from pipelines.cli import OneLineArgumentParser


def build_parser():
    parser = OneLineArgumentParser(
        prog="python -m kerasrrn.fit",
        description="Train an RRN (or a baseline) on a prepared or the embedded synthetic dataset.",
    )
    parser.add_argument(
        "--resume", metavar="RUN_DIR",
        help="continue the run in RUN_DIR with its own config.json (no other options allowed)",
    )
    flags.add_config_flags(parser)
    return parser


def main(argv=None):
    parser = build_parser()
    args, config = flags.parse_config(parser, argv)
    # Late: the work imports TensorFlow, which `--help` and usage errors must not wait for.
    from kerasrrn.commands import fit as work

    return work.run(parser, args, config)


if __name__ == "__main__":
    sys.exit(main())
