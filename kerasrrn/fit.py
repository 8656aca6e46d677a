"""`python -m kerasrrn.fit`: train a model and fill its run directory.

With no arguments it trains a small RRN on the embedded synthetic motion dataset (generated on
first use) in a few minutes on a CPU. A run directory `runs/<name>/` receives:

    config.json                the resolved config (defaults < --config < flags)
    checkpoints/best.keras     best validation top-1; checkpoints/last.keras: last epoch
    backup/                    model + optimizer state while training (`--backup-every N` steps)
    logs/                      TensorBoard
    history.csv                one row per epoch: loss, top1, top5, val_*, learning_rate
    metrics.json               video-level multi-clip evaluation of the best checkpoint
    curves.png confusion_matrix.png per_class_accuracy.png

Re-running the same command (or `--resume RUN_DIR`) resumes an interrupted run from its last
backup, finishing an interrupted epoch with exactly its remaining steps; a complete run is left
as it is.
"""

import json
import pathlib
import sys
import time

from kerasrrn import config as config_lib


def build_parser():
    parser = config_lib.OneLineArgumentParser(
        prog="python -m kerasrrn.fit",
        description="Train an RRN (or a baseline) on a prepared or the embedded synthetic dataset.",
    )
    parser.add_argument(
        "--resume", metavar="RUN_DIR",
        help="continue the run in RUN_DIR with its own config.json (no other options allowed)",
    )
    config_lib.add_flags(parser)
    return parser


def resolve_config(parser, argv):
    """The run's Config: from `--resume RUN_DIR`'s config.json, or from flags."""
    args, config = config_lib.parse_config(parser, argv)
    if not args.resume:
        return config
    extra = ["--config"] if args.config else []
    extra += ["--" + name.replace("_", "-") for name in config_lib.field_index() if getattr(args, name) is not None]
    if extra:
        parser.error(f"--resume {args.resume}: the run keeps its own config; drop {' '.join(extra)}")
    saved = pathlib.Path(args.resume) / "config.json"
    if not saved.is_file():
        parser.error(f"--resume {args.resume}: no config.json there (not a run directory)")
    try:
        config = config_lib.load(saved)
    except config_lib.ConfigError as error:
        parser.error(str(error))
    run_path = pathlib.Path(args.resume)
    config.train.run_dir, config.train.name = str(run_path.parent), run_path.name
    return config


def check_run_directory(config):
    """Refuses a run directory that holds a run with another config (one line, exit 2)."""
    saved = config.run_path / "config.json"
    if saved.is_file() and json.loads(saved.read_text()) != config.to_dict():
        raise config_lib.ConfigError(
            f"--name {config.run_name}: {config.run_path} holds a run with a different config; "
            "choose another --name or --run-dir"
        )


def prepare_run(config, global_batch_size):
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
    if config.train.reduce_lr_on_plateau and (config.train.schedule != "constant" or config.train.warmup_epochs):
        raise config_lib.ConfigError(
            "--reduce-lr-on-plateau: needs --schedule constant --warmup-epochs 0 (it sets the rate itself)"
        )
    if config.train.freeze_backbone_epochs >= config.train.epochs:
        raise config_lib.ConfigError(
            f"--freeze-backbone-epochs {config.train.freeze_backbone_epochs}: must be below "
            f"--epochs {config.train.epochs}"
        )
    data = load_run_data(config)
    train_videos = data.videos(data.train_split)
    if train_videos < global_batch_size and not config.train.steps_per_epoch:
        raise config_lib.ConfigError(
            f"--batch-size {config.train.batch_size}: a global batch of {global_batch_size} is "
            f"larger than the {train_videos} training videos"
        )
    return data


def train(config, data, strategy):
    """Trains `config`'s model on `data` (a `kerasrrn.data.RunData`) under `strategy`, or
    resumes it from its backup; then the chief evaluates the best checkpoint and writes the
    reports (other workers of a cluster write to a temporary directory and return None).

    Returns:
        dict, the video-level validation report (as in `metrics.json`), or None on a worker.
    """
    import keras

    from kerasrrn import distribute, evaluation, reports, runtime, training
    from kerasrrn.backup import TrainingBackup
    from kerasrrn.models import build_model

    run_path, chief = config.run_path, distribute.is_chief(strategy)
    policy = runtime.set_up(config.train.seed, config.train.precision)
    batch_size = distribute.global_batch_size(config.train.batch_size, strategy)
    train_videos = data.videos(data.train_split)
    steps_per_epoch = data.steps_per_epoch(batch_size, config.train.steps_per_epoch)
    planned_steps = config.train.epochs * steps_per_epoch
    with strategy.scope():
        model = build_model(config, len(data.class_names))
        training.compile_model(model, config.train, steps_per_epoch, len(data.class_names))
    # Every worker starts from the chief's backup and history.
    done_steps = TrainingBackup(run_path / "backup").restore(model)
    completed_epochs = done_steps // steps_per_epoch
    best_so_far = training.best_val_top1(run_path / "history.csv", completed_epochs)
    if chief:
        run_path.mkdir(parents=True, exist_ok=True)
        config_lib.save(config, run_path / "config.json")
        training.truncate_history(run_path / "history.csv", completed_epochs)
        print(
            f"Training {config.model.model} ({model.count_params():,} parameters, precision {policy}, "
            f"{strategy.num_replicas_in_sync} replica(s), batch {batch_size}) on {data.path} "
            f"[{data.train_split}: {train_videos} videos, {data.val_split}: "
            f"{data.videos(data.val_split)} videos, {len(data.class_names)} classes]; "
            f"run directory {run_path}",
            flush=True,
        )
        if done_steps:
            print(f"Resuming from the backup at step {done_steps} of {planned_steps} "
                  f"(epoch {completed_epochs + 1}, step {done_steps % steps_per_epoch})", flush=True)
    # Repeated, so that an epoch is exactly `steps_per_epoch` steps and a resumed run can
    # finish an interrupted epoch with its remaining steps.
    train_dataset = distribute.shard_by_worker(
        data.train_dataset(batch_size).repeat(), data.num_shards(data.train_split), strategy
    )
    val_dataset = distribute.shard_by_worker(
        data.val_dataset(batch_size), data.num_shards(data.val_split), strategy
    )
    started = time.time()
    with distribute.worker_directory(run_path, strategy) as write_path:
        backup = TrainingBackup(write_path / "backup", config.train.backup_every)
        callbacks = training.run_callbacks(write_path, config.train, backup, best_so_far)
        training.fit_phases(
            model, config.train, len(data.class_names), strategy, train_dataset, val_dataset,
            steps_per_epoch, done_steps, callbacks,
        )
        backup.remove()
    training_seconds = time.time() - started
    if not chief:
        return None

    best = keras.saving.load_model(run_path / "checkpoints" / "best.keras")
    print(f"Evaluating the best checkpoint on {data.val_split} ({data.spec.num_test_clips} clips per video)")
    views = data.predict_views(best, data.val_split, batch_size, config.train.verbose)
    report, *_ = evaluation.video_report(*views, data.class_names)
    report.update({"split": data.val_split, "training_seconds": round(training_seconds, 1),
                   "steps": int(model.optimizer.iterations)})
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
    if config.train.export:
        from kerasrrn.export import export_run

        export_run(run_path)
    return report


def main(argv=None):
    parser = build_parser()
    config = resolve_config(parser, argv)
    try:
        check_run_directory(config)
    except config_lib.ConfigError as error:
        parser.error(str(error))
    if (config.run_path / "metrics.json").is_file() and not (config.run_path / "backup").exists():
        print(f"{config.run_path} is complete (metrics.json); choose another --name to train again")
        return 0
    from kerasrrn import distribute
    from kerasrrn.models.pretrained import WeightsUnavailableError

    try:
        # MultiWorkerMirroredStrategy must exist before any TensorFlow op runs.
        strategy = distribute.strategy_for(config.train.strategy)
        data = prepare_run(config, distribute.global_batch_size(config.train.batch_size, strategy))
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    try:
        train(config, data, strategy)
    except WeightsUnavailableError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
