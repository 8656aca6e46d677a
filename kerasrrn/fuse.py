"""`python -m kerasrrn.fuse`: fuse trained MRRN streams into one model and evaluate it.

    python -m kerasrrn.fuse --streams runs/low runs/mid runs/high --weights 0.2,0.3,0.5

Every stream is a run directory of `python -m kerasrrn.fit` (its `checkpoints/best.keras`);
the streams must take the same clips (clip length, image size) of the same dataset (class
names). Weights are non-negative and normalised to sum 1 (`2,3,5` equals `0.2,0.3,0.5`);
without `--weights` the streams weigh equally. The fused model's run directory (default
`<parent of the first stream>/mrrn_fused-<hash of streams and weights>`) receives:

    checkpoints/best.keras     the fused model: frames (B, T, S, S, 3) -> probabilities (B, C),
                               so `evaluate`/`export`/`predict` treat it like any run
    config.json                the first stream's config (clip length, image size, data)
    fusion.json                the stream run directories, model names and weights
    metrics.json               video-level multi-clip evaluation of the fused model on the
                               validation split; `streams` holds each stream's scores
    confusion_matrix.png per_class_accuracy.png
"""

import dataclasses
import hashlib
import json
import math
import pathlib
import sys

from kerasrrn import config as config_lib


def build_parser():
    parser = config_lib.OneLineArgumentParser(
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


@dataclasses.dataclass
class Stream:
    """A trained stream: its run directory, resolved config and dataset class names."""

    run_path: pathlib.Path
    config: config_lib.Config
    class_names: list

    @property
    def checkpoint(self):
        return self.run_path / "checkpoints" / "best.keras"


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


def load_streams(run_dirs):
    """Reads each run directory's config and dataset class names and checks that the streams
    can be fused.

    Raises:
        ConfigError or FileNotFoundError, one line naming the run directory.
    """
    from pipelines import records

    if len(run_dirs) < 2:
        raise config_lib.ConfigError(f"--streams: expected at least 2 run directories, got {len(run_dirs)}")
    streams = []
    for run_dir in run_dirs:
        run_path = pathlib.Path(run_dir)
        for needed in ("config.json", "checkpoints/best.keras"):
            if not (run_path / needed).is_file():
                raise FileNotFoundError(
                    f"--streams {run_dir}: no {needed} (expected a run directory of python -m kerasrrn.fit)"
                )
        config = config_lib.load(run_path / "config.json")
        class_names = list(records.read_dataset_info(config.data_path)["class_names"])
        streams.append(Stream(run_path, config, class_names))
    first = streams[0]
    for stream in streams[1:]:
        for what, value in (
            ("clip length", lambda s: s.config.data.clip_length),
            ("image size", lambda s: s.config.data.image_size),
            ("class names", lambda s: s.class_names),
        ):
            if value(stream) != value(first):
                raise config_lib.ConfigError(
                    f"--streams: {stream.run_path} has {what} {value(stream)}, {first.run_path} has "
                    f"{value(first)}; fused streams must take the same clips of the same dataset"
                )
    return streams


def fusion_description(streams, weights, models):
    """The content of `fusion.json`."""
    return {
        "streams": [
            {"run": str(stream.run_path), "model": model.name, "weight": weight}
            for stream, model, weight in zip(streams, models, weights)
        ],
    }


def default_out_path(streams, weights):
    content = json.dumps({"streams": [str(s.run_path.resolve()) for s in streams], "weights": weights})
    return streams[0].run_path.parent / f"mrrn_fused-{hashlib.sha256(content.encode()).hexdigest()[:8]}"


def check_out_path(out_path, streams, weights):
    """Refuses an output directory that holds a fusion of other streams or weights."""
    saved = out_path / "fusion.json"
    if not saved.is_file():
        return
    previous = [(entry["run"], entry["weight"]) for entry in json.loads(saved.read_text())["streams"]]
    if previous != [(str(stream.run_path), weight) for stream, weight in zip(streams, weights)]:
        raise config_lib.ConfigError(
            f"--out {out_path}: holds a fusion of other streams or weights; choose another --out"
        )


def load_stream_models(streams):
    """Loads every stream's best checkpoint, without its training state (the fused model is
    saved uncompiled); models with the same name (two `mrrn_high` streams) are renamed
    `<name>_<stream number>` so the fused model can nest them all."""
    import keras

    models = [keras.saving.load_model(stream.checkpoint, compile=False) for stream in streams]
    names = [model.name for model in models]
    for number, model in enumerate(models, start=1):
        if names.count(model.name) > 1:
            model.name = f"{model.name}_{number}"
    return models


def evaluate_streams_and_fusion(fused, config, batch_size, verbose):
    """Video-level multi-clip reports of every stream and of the fused model, in one pass over
    the validation split of `config`'s dataset.

    Returns:
        (list of S + 1 report dicts: the streams', then the fused model's; the split's name).
    """
    import keras

    from kerasrrn import evaluation
    from kerasrrn.data import load_run_data

    data = load_run_data(config)
    stream_scores = fused.get_layer("fusion").input
    # One model that outputs every stream's scores and the fused scores, (B, (S + 1) * C).
    all_scores = keras.layers.Concatenate(name="stream_and_fused_scores")([*stream_scores, fused.output])
    probe = keras.Model(fused.input, all_scores)
    view_ids, view_labels, view_scores = data.predict_views(probe, data.val_split, batch_size, verbose)
    view_scores = view_scores.reshape(len(view_ids), len(stream_scores) + 1, len(data.class_names))
    reports = [
        evaluation.video_report(view_ids, view_labels, view_scores[:, index], data.class_names)[0]
        for index in range(len(stream_scores) + 1)
    ]
    return reports, data.val_split


def fuse(streams, weights, out_path, batch_size, verbose):
    """Builds, saves and evaluates the fused model; fills the run directory `out_path`.

    Returns:
        dict, the fused model's report (as in `metrics.json`).
    """
    import keras

    from kerasrrn import reports as reports_lib
    from kerasrrn import runtime
    from kerasrrn.models import build_fused_mrrn

    first = streams[0].config
    runtime.set_up(first.train.seed, first.train.precision)
    models = load_stream_models(streams)
    description = fusion_description(streams, weights, models)
    fused = build_fused_mrrn(models, weights)
    checkpoint = out_path / "checkpoints" / "best.keras"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    fused.save(checkpoint)
    config = dataclasses.replace(
        first, train=dataclasses.replace(first.train, name=out_path.name, run_dir=str(out_path.parent))
    )
    config_lib.save(config, out_path / "config.json")
    (out_path / "fusion.json").write_text(json.dumps(description, indent=2) + "\n")

    print(f"Evaluating the fused model of {len(streams)} streams ({config.data.num_test_clips} clips per video)")
    stream_reports, split = evaluate_streams_and_fusion(
        keras.saving.load_model(checkpoint), config, batch_size, verbose
    )
    *per_stream, report = stream_reports
    report["split"] = split
    report["streams"] = [
        {**entry, **{key: stream_report[key] for key in ("top1", "top5", "mean_class_accuracy")}}
        for entry, stream_report in zip(description["streams"], per_stream)
    ]
    written = reports_lib.write_report(report, out_path)
    print_comparison(report, split)
    print(f"Run directory: {out_path}")
    for path in [checkpoint, out_path / "config.json", out_path / "fusion.json", *written]:
        print(f"  {path}")
    return report


def print_comparison(report, split):
    """Prints every stream's and the fused model's video-level scores, one line each."""
    rows = [(entry["run"], entry["model"], f"{entry['weight']:.3f}", entry) for entry in report["streams"]]
    rows.append(("fused", "", "", report))
    run_width = max(len(row[0]) for row in rows)
    model_width = max(len("model"), *(len(row[1]) for row in rows))
    print(f"Validation ({split}, video level):")
    print(f"  {'stream':<{run_width}}  {'model':<{model_width}}  weight  top-1  top-5  mean class acc.")
    for run, model, weight, scores in rows:
        print(
            f"  {run:<{run_width}}  {model:<{model_width}}  {weight:>6}  {scores['top1']:.3f}  "
            f"{scores['top5']:.3f}  {scores['mean_class_accuracy']:.3f}"
        )


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
