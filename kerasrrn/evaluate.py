"""`python -m kerasrrn.evaluate`: video-level multi-clip evaluation of a trained model.

    python -m kerasrrn.evaluate RUN_DIR|SAVED_MODEL [--data DIR] [--split test] [flags]

Every video of the split gives `num_test_clips` evenly spaced clips, each as one centre crop or
(`--three-crop`) three crops; the views' probabilities are averaged per video. Writes into
`--out` (default `RUN_DIR/eval/`, or `./eval-<saved model name>/`):

    metrics.json              top1, top5, mean_class_accuracy, per_class, confusion_matrix,
                              clip_top1, num_views, split, num_test_clips, ...
    confusion_matrix.png per_class_accuracy.png
    predictions.csv           video, true, predicted, top5 ("class:score;..."), correct

Usage errors (no checkpoint, no dataset, unknown split, media ids shared by several videos, bad
flag) exit 2 with one line. A damaged dataset (a truncated or garbled shard, an undecodable
frame, a label outside the classes, a `dataset.json` that is not JSON or whose counts differ
from the shards') exits 1 with one line naming the file (and the record where known).
"""

import sys

from kerasrrn.cli import entry, flags
from pipelines.cli import OneLineArgumentParser, directory_path, positive_int


def build_parser():
    parser = OneLineArgumentParser(
        prog="python -m kerasrrn.evaluate",
        description="Video-level multi-clip evaluation of a run directory or a SavedModel.",
    )
    parser.add_argument("model", metavar="RUN_DIR|SAVED_MODEL",
                        help="a run directory of `python -m kerasrrn.fit` or a SavedModel directory")
    parser.add_argument("--data", metavar="DIR",
                        help="prepared dataset (default: the run's own; required for a SavedModel)")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--batch-size", type=positive_int, metavar="B",
                        help="views per batch (default: the run's batch size, or 16)")
    parser.add_argument("--out", metavar="DIR", type=directory_path,
                        help="output folder (default: RUN_DIR/eval or ./eval-<saved model name>)")
    parser.add_argument("--verbose", type=int, choices=(0, 1), default=1,
                        help="1 shows a progress bar (default: 1)")
    flags.add_view_flags(parser, (*flags.VIEW_FIELDS, "three_crop"))
    return parser


def main(argv=None):
    return entry.run_command(build_parser(), argv, "evaluate")


if __name__ == "__main__":
    sys.exit(main())
