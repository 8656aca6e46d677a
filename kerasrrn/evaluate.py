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

import pathlib
import sys

import tensorflow as tf

from kerasrrn.cli import flags
from kerasrrn.evaluation import reports, views
from kerasrrn.evaluation.predictions import write_predictions
from kerasrrn.runs.loading import InferenceError, load_model
from pipelines.cli import OneLineArgumentParser, directory_path, positive_int
from pipelines.dataset import check_counts, check_media_ids, data_error, resolve_split
from pipelines.records import DatasetError

# Up to this many classes the summary lists every class; above it, the worst ones only.
SUMMARY_CLASSES = 10


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


def print_summary(report, loaded, written):
    spec, class_names = loaded.spec, loaded.class_names
    crops = spec.crops_per_clip
    print(
        f"{loaded.description} on {loaded.data.path} [{report['split']}: {report['num_samples']} videos, "
        f"{report['num_views']} views = {spec.num_test_clips} clips x {crops} crop{'s' * (crops > 1)}]"
    )
    print(
        f"top-1 {report['top1']:.3f}  top-5 {report['top5']:.3f}  mean class accuracy "
        f"{report['mean_class_accuracy']:.3f}  clip top-1 {report['clip_top1']:.3f}  "
        f"(chance {1 / len(class_names):.3f})"
    )
    per_class = [(name, entry) for name, entry in report["per_class"].items() if entry["support"]]
    if len(per_class) > SUMMARY_CLASSES:
        per_class = sorted(per_class, key=lambda item: item[1]["accuracy"])[:SUMMARY_CLASSES]
        print(f"{SUMMARY_CLASSES} worst classes (accuracy, videos):")
    else:
        print("per class (accuracy, videos):")
    for name, entry in per_class:
        print(f"  {name:<24} {entry['accuracy']:.3f}  {entry['support']}")
    print("wrote:")
    for path in written:
        print(f"  {path}")


def load(args):
    """The model and the resolved split named by the command line.

    Returns:
        (`kerasrrn.runs.loading.LoadedModel`, str split).

    Raises:
        InferenceError, FileNotFoundError or ValueError (one line) for unusable input;
        `DatasetError` for a damaged dataset.
    """
    loaded = load_model(args.model, args.data, **flags.view_overrides(args))
    if loaded.data is None:
        raise InferenceError(f"--data: required to evaluate {loaded.description}")
    split = resolve_split(loaded.data.path, args.split)
    check_counts(loaded.data.path, split)
    check_media_ids(loaded.data.path, split)
    return loaded, split


def evaluate(loaded, split, args):
    """Evaluates `loaded` on `split`, writes the report files and prints the summary.

    Returns:
        dict, the report written to `metrics.json`.
    """
    data = loaded.data
    predicted = data.predict_views(loaded.model, split, args.batch_size or loaded.batch_size, args.verbose)
    report, video_ids, video_labels, video_scores = views.video_report(*predicted, loaded.class_names)
    report.update({
        "split": split,
        "num_test_clips": loaded.spec.num_test_clips,
        "three_crop": loaded.spec.three_crop,
        "model": str(args.model),
        "data": str(data.path),
    })
    out = pathlib.Path(args.out) if args.out else loaded.default_out
    written = reports.write_report(report, out)
    written.append(write_predictions(
        out / "predictions.csv", video_ids, video_labels, video_scores, loaded.class_names
    ))
    print_summary(report, loaded, written)
    return report


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        loaded, split = load(args)
    except DatasetError as error:
        return parser.fail(str(error))
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    try:
        evaluate(loaded, split, args)
    except DatasetError as error:
        return parser.fail(str(error))
    except tf.errors.OpError as error:
        line = data_error(error, loaded.data.path, [split])
        if line is None:
            raise
        return parser.fail(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
