"""A fused MRRN run: trained streams combined into one model, `p = sum_i w_i * p_i`.

The streams are run directories of `python -m kerasrrn.fit` (their `checkpoints/best.keras`)
that take the same clips (clip length, image size) of the same dataset (class names). The
fused run directory receives:

    checkpoints/best.keras     the fused model: frames (B, T, S, S, 3) -> probabilities (B, C),
                               so `evaluate`/`export`/`predict` treat it like any run
    config.json                the first stream's config (clip length, image size, data)
    fusion.json                the stream run directories, model names and weights
    metrics.json               video-level multi-clip evaluation of the fused model on the
                               validation split; `streams` holds each stream's scores
    confusion_matrix.png per_class_accuracy.png

`python -m kerasrrn.fuse` and the fusion search (`python -m tuning.search fusion`) both write
fused runs with `fuse`.
"""

import dataclasses
import hashlib
import json

import keras

from kerasrrn import config as config_lib
from kerasrrn.evaluation import reports, views
from kerasrrn.models import build_fused_mrrn
from kerasrrn.runs.layout import RunLayout
from kerasrrn.runs.loading import TrainedRun
from kerasrrn.training import runtime
from kerasrrn.training.callbacks import save_model_atomically


def check_stream(run_dir):
    """Raises FileNotFoundError (one line naming the stream) unless `run_dir` is a run
    directory with a best checkpoint."""
    layout = RunLayout(run_dir)
    for needed in (layout.config, layout.best_checkpoint):
        if not needed.is_file():
            raise FileNotFoundError(
                f"--streams {run_dir}: no {needed.relative_to(layout.path)} (expected a run "
                "directory written by `python -m kerasrrn.fit`)"
            )


def load_streams(run_dirs):
    """Opens each stream's run directory and checks that the streams can be fused.

    Returns:
        list of `TrainedRun`.

    Raises:
        ConfigError or FileNotFoundError, one line naming the run directory.
    """
    if len(run_dirs) < 2:
        raise config_lib.ConfigError(f"--streams: expected at least 2 run directories, got {len(run_dirs)}")
    streams = []
    for run_dir in run_dirs:
        check_stream(run_dir)
        streams.append(TrainedRun.open(run_dir))
    first, first_classes = streams[0], streams[0].data().class_names
    for stream in streams[1:]:
        for what, mine, theirs in (
            ("clip length", stream.config.data.clip_length, first.config.data.clip_length),
            ("image size", stream.config.data.image_size, first.config.data.image_size),
            ("class names", stream.data().class_names, first_classes),
        ):
            if mine != theirs:
                raise config_lib.ConfigError(
                    f"--streams: {stream.path} has {what} {mine}, {first.path} has "
                    f"{theirs}; fused streams must take the same clips of the same dataset"
                )
    return streams


def fusion_description(streams, weights, models):
    """The content of `fusion.json`."""
    return {
        "streams": [
            {"run": str(stream.path), "model": model.name, "weight": weight}
            for stream, model, weight in zip(streams, models, weights)
        ],
    }


def default_out_path(streams, weights):
    """`<parent of the first stream>/mrrn_fused-<hash of the streams and weights>`."""
    content = json.dumps({"streams": [str(s.path.resolve()) for s in streams], "weights": weights})
    return streams[0].path.parent / f"mrrn_fused-{hashlib.sha256(content.encode()).hexdigest()[:8]}"


def check_out_path(out_path, streams, weights):
    """Refuses an output directory that holds a fusion of other streams or weights."""
    saved = RunLayout(out_path).fusion
    if not saved.is_file():
        return
    previous = [(entry["run"], entry["weight"]) for entry in json.loads(saved.read_text())["streams"]]
    if previous != [(str(stream.path), weight) for stream, weight in zip(streams, weights)]:
        raise config_lib.ConfigError(
            f"--out {out_path}: holds a fusion of other streams or weights; choose another --out"
        )


def load_stream_models(streams):
    """Loads every stream's best checkpoint (`TrainedRun.load_model`: `last.keras`, with one
    warning, where `best.keras` is unreadable), without its training state (the fused model is
    saved uncompiled); models with the same name (two `mrrn_high` streams) are renamed
    `<name>_<stream number>` so the fused model can nest them all."""
    models = [stream.load_model(compile=False) for stream in streams]
    names = [model.name for model in models]
    for number, model in enumerate(models, start=1):
        if names.count(model.name) > 1:
            model.name = f"{model.name}_{number}"
    return models


def evaluate_streams_and_fusion(fused, data, batch_size, verbose):
    """Video-level multi-clip reports of every stream and of the fused model, in one pass over
    the validation split of `data` (a `RunData`).

    Returns:
        list of S + 1 report dicts: the streams', then the fused model's.
    """
    stream_scores = fused.get_layer("fusion").input
    # One model that outputs every stream's scores and the fused scores, (B, (S + 1) * C).
    all_scores = keras.layers.Concatenate(name="stream_and_fused_scores")([*stream_scores, fused.output])
    probe = keras.Model(fused.input, all_scores)
    view_ids, view_labels, view_scores = data.predict_views(probe, data.val_split, batch_size, verbose)
    view_scores = view_scores.reshape(len(view_ids), len(stream_scores) + 1, len(data.class_names))
    return [
        views.video_report(view_ids, view_labels, view_scores[:, index], data.class_names)[0]
        for index in range(len(stream_scores) + 1)
    ]


def fuse(streams, weights, out_path, batch_size, verbose):
    """Builds, saves and evaluates the fused model; fills the run directory `out_path`.

    Returns:
        dict, the fused model's report (as in `metrics.json`).
    """
    first = streams[0].config
    runtime.set_up(first.train.seed, first.train.precision)
    models = load_stream_models(streams)
    description = fusion_description(streams, weights, models)
    layout = RunLayout(out_path)
    layout.checkpoints.mkdir(parents=True, exist_ok=True)
    save_model_atomically(build_fused_mrrn(models, weights), layout.best_checkpoint)
    config = dataclasses.replace(
        first, train=dataclasses.replace(first.train, name=layout.path.name, run_dir=str(layout.path.parent))
    )
    config_lib.save(config, layout.config)
    layout.fusion.write_text(json.dumps(description, indent=2) + "\n")

    print(f"Evaluating the fused model of {len(streams)} streams ({config.data.num_test_clips} clips per video)")
    fused_run = TrainedRun.open(layout.path)
    data = fused_run.validation_data()
    *per_stream, report = evaluate_streams_and_fusion(fused_run.load_model(), data, batch_size, verbose)
    report["split"] = data.val_split
    report["streams"] = [
        {**entry, **{key: stream_report[key] for key in ("top1", "top5", "mean_class_accuracy")}}
        for entry, stream_report in zip(description["streams"], per_stream)
    ]
    written = reports.write_report(report, layout.path)
    print_comparison(report, data.val_split)
    print(f"Run directory: {layout.path}")
    for path in [layout.best_checkpoint, layout.config, layout.fusion, *written]:
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
