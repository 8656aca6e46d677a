"""The work of `python -m kerasrrn.evaluate` once its arguments parse (see `kerasrrn.evaluate`)."""

import pathlib

import tensorflow as tf

from kerasrrn.cli import flags
from kerasrrn.evaluation import reports, views
from kerasrrn.evaluation.predictions import write_predictions
from kerasrrn.runs.loading import InferenceError, load_model
from pipelines.dataset import check_counts, check_media_ids, data_error, resolve_split
from pipelines.records import DatasetError

# Up to this many classes the summary lists every class; above it, the worst ones only.
SUMMARY_CLASSES = 10


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


def run(parser, args):
    """What the command does once `args` parse (`parser` for the errors' exit status)."""
    try:
        loaded, split = load(args)
    except (ValueError, FileNotFoundError) as error:  # DatasetError: exit 1, others 2
        return parser.input_error(error)
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
