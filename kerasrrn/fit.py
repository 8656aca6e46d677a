"""`python -m kerasrrn.fit`: train a model and fill its run directory.

With no arguments it trains a small RRN on the embedded synthetic motion dataset (generated on
first use) in a few minutes on a CPU. A run directory `runs/<name>/` receives:

    config.json                the resolved config (defaults < --config < flags)
    checkpoints/best.keras     best validation top-1; checkpoints/last.keras: last epoch
    backup/                    BackupAndRestore state (removed when training completes)
    logs/                      TensorBoard
    history.csv                one row per epoch: loss, top1, top5, val_*, learning_rate
    metrics.json               video-level multi-clip evaluation of the best checkpoint
    curves.png confusion_matrix.png per_class_accuracy.png

Re-running the same command resumes an interrupted run from its last backup.
"""

import dataclasses
import json
import sys
import time

from kerasrrn import config as config_lib


def build_parser():
    parser = config_lib.OneLineArgumentParser(
        prog="python -m kerasrrn.fit",
        description="Train an RRN (or a baseline) on a prepared or the embedded synthetic dataset.",
    )
    config_lib.add_flags(parser)
    return parser


def check_run_directory(config):
    """Refuses a run directory that holds a run with another config (one line, exit 2)."""
    saved = config.run_path / "config.json"
    if saved.is_file() and json.loads(saved.read_text()) != config.to_dict():
        raise config_lib.ConfigError(
            f"--name {config.run_name}: {config.run_path} holds a run with a different config; "
            "choose another --name or --run-dir"
        )


def prepare_run(config):
    """Checks everything that can be checked before training and loads the dataset
    description (generating the synthetic dataset on first use).

    Returns:
        `kerasrrn.data.RunData`.

    Raises:
        ValueError (ConfigError) or FileNotFoundError with one line naming the flag or file.
    """
    from kerasrrn.data import load_run_data
    from kerasrrn.models.registry import check_model_config

    check_model_config(config)
    check_run_directory(config)
    data = load_run_data(config)
    train_videos = data.videos(data.train_split)
    if train_videos < config.train.batch_size and not config.train.steps_per_epoch:
        raise config_lib.ConfigError(
            f"--batch-size {config.train.batch_size}: larger than the {train_videos} training videos"
        )
    return data


def train(config, data):
    """Trains `config`'s model on `data` (a `kerasrrn.data.RunData`), evaluates the best
    checkpoint and writes the run directory.

    Returns:
        dict, the video-level validation report (as in `metrics.json`).
    """
    import keras

    from kerasrrn import evaluation, reports, runtime, training
    from kerasrrn.models import build_model

    run_path = config.run_path
    policy = runtime.set_up(config.train.seed, config.train.precision)
    model = build_model(config, len(data.class_names))
    run_path.mkdir(parents=True, exist_ok=True)
    config_lib.save(config, run_path / "config.json")

    batch_size = config.train.batch_size
    train_videos = data.videos(data.train_split)
    # Repeated, so that an epoch is exactly `steps_per_epoch` steps and a resumed run can
    # continue mid-epoch.
    train_dataset = data.train_dataset(batch_size).repeat()
    steps_per_epoch = config.train.steps_per_epoch or train_videos // batch_size
    val_spec = dataclasses.replace(data.spec, num_test_clips=1, three_crop=False)
    training.compile_model(model, config.train, steps_per_epoch, len(data.class_names))

    print(
        f"Training {config.model.model} ({model.count_params():,} parameters, precision {policy}) "
        f"on {data.path} [{data.train_split}: {train_videos} videos, "
        f"{data.val_split}: {data.videos(data.val_split)} videos, {len(data.class_names)} classes]; "
        f"run directory {run_path}",
        flush=True,
    )
    started = time.time()
    model.fit(
        train_dataset,
        epochs=config.train.epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=data.val_dataset(batch_size, val_spec),
        shuffle=False,  # tf.data shuffles; Keras cannot shuffle a dataset.
        callbacks=training.run_callbacks(run_path),
        verbose=config.train.verbose,
    )
    training_seconds = time.time() - started

    best = keras.saving.load_model(run_path / "checkpoints" / "best.keras")
    print(f"Evaluating the best checkpoint on {data.val_split} ({data.spec.num_test_clips} clips per video)")
    views = evaluation.predict_views(
        best, data.eval_dataset(data.val_split, batch_size), config.train.verbose,
        data.num_views(data.val_split),
    )
    report, *_ = evaluation.video_report(*views, data.class_names)
    report.update({"split": data.val_split, "training_seconds": round(training_seconds, 1)})
    written = reports.write_report(report, run_path)
    written.append(reports.plot_training_curves(run_path / "history.csv", run_path / "curves.png"))
    print(
        f"Validation ({data.val_split}, video level): top-1 {report['top1']:.3f}, "
        f"top-5 {report['top5']:.3f}, mean class accuracy {report['mean_class_accuracy']:.3f} "
        f"(chance {1 / len(data.class_names):.3f}); trained in {training_seconds:.0f} s"
    )
    print(f"Run directory: {run_path}")
    for path in [run_path / "config.json", run_path / "checkpoints", run_path / "history.csv",
                 run_path / "logs", *written]:
        print(f"  {path}")
    print(f"TensorBoard: tensorboard --logdir {run_path / 'logs'}")
    return report


def main(argv=None):
    parser = build_parser()
    _, config = config_lib.parse_config(parser, argv)
    try:
        data = prepare_run(config)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    train(config, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
