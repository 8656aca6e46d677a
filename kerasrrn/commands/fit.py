"""The work of `python -m kerasrrn.fit` once its arguments parse (see `kerasrrn.fit`)."""

import tensorflow as tf

from kerasrrn import config as config_lib
from kerasrrn.cli import flags
from kerasrrn.evaluation import reports, views
from kerasrrn.commands.export import export_run
from kerasrrn.models.pretrained import WeightsUnavailableError
from kerasrrn.runs.layout import RunLayout
from kerasrrn.runs.loading import TrainedRun
from kerasrrn.training import distribution
from kerasrrn.training.backup import TrainingBackup
from kerasrrn.training.run import prepare_run, train
from pipelines.cli import no_space_left, not_a_directory
from pipelines.dataset import data_error
from pipelines.records import DatasetError


def resolve_config(parser, args, config):
    """The run's Config: from `--resume RUN_DIR`'s config.json, or `config`, from flags."""
    if not args.resume:
        return config
    extra = flags.given_config_flags(args)
    if extra:
        parser.error(f"--resume {args.resume}: the run keeps its own config; drop {' '.join(extra)}")
    layout = RunLayout(args.resume)
    if not layout.is_run():
        parser.error(f"--resume {args.resume}: no config.json there (not a run directory)")
    try:
        config = config_lib.load(layout.config)
        config.validate()
    except config_lib.ConfigError as error:
        parser.error(str(error))
    config.train.run_dir, config.train.name = str(layout.path.parent), layout.path.name
    return config


def check_run_directory(config):
    """Refuses a run directory that is a file, or holds a run with another config (one line,
    exit 2). Where the run is and how verbose it is do not count: a run moved or named by
    another spelling of its path resumes."""
    path = not_a_directory(config.train.run_dir, config.run_path)
    if path:
        raise config_lib.ConfigError(f"--run-dir {config.train.run_dir}: {path} exists and is not a directory")
    saved = RunLayout(config.run_path).config
    if saved.is_file() and config_lib.load(saved).fingerprint() != config.fingerprint():
        raise config_lib.ConfigError(
            f"--name {config.run_name}: {config.run_path} holds a run with a different config; "
            "choose another --name or --run-dir"
        )


def evaluate_best(config, data, trained):
    """Evaluates the run's best checkpoint on the validation split (video level, every test
    view), writes the report and the training curves, and prints where everything went.

    Returns:
        dict, the report written to `metrics.json`.
    """
    layout = RunLayout(config.run_path)
    best = TrainedRun(layout, config).load_model()
    print(f"Evaluating the best checkpoint on {data.val_split} ({data.spec.num_test_clips} clips per video)")
    predicted = data.predict_views(best, data.val_split, trained.batch_size, config.train.verbose)
    report, *_ = views.video_report(*predicted, data.class_names)
    report.update({"split": data.val_split, "training_seconds": round(trained.seconds, 1),
                   "steps": int(trained.model.optimizer.iterations)})
    written = reports.write_report(report, layout.path)
    written.append(reports.plot_training_curves(layout.history, layout.curves))
    print(
        f"Validation ({data.val_split}, video level): top-1 {report['top1']:.3f}, "
        f"top-5 {report['top5']:.3f}, mean class accuracy {report['mean_class_accuracy']:.3f} "
        f"(chance {1 / len(data.class_names):.3f}); trained in {trained.seconds:.0f} s"
    )
    print(f"Run directory: {layout.path}")
    for path in [layout.config, layout.checkpoints, layout.history, layout.logs, *written]:
        print(f"  {path}")
    print(f"TensorBoard: tensorboard --logdir {layout.logs}")
    return report


def run(parser, args, config):
    """What the command does once `args` parse into `config` (`parser` for the errors' exit
    status)."""
    config = resolve_config(parser, args, config)
    try:
        check_run_directory(config)
    except config_lib.ConfigError as error:
        parser.error(str(error))
    layout = RunLayout(config.run_path)
    if layout.is_complete():
        TrainingBackup(layout.backup).remove()  # what a kill while saving it may have left
        print(f"{config.run_path} is complete (metrics.json); choose another --name to train again")
        return 0
    try:
        # MultiWorkerMirroredStrategy must exist before any TensorFlow op runs.
        strategy = distribution.strategy_for(config.train.strategy)
        data = prepare_run(config, distribution.global_batch_size(config.train.batch_size, strategy))
    except (ValueError, FileNotFoundError) as error:  # DatasetError: exit 1, others 2
        return parser.input_error(error)
    try:
        train_and_finish(config, data, strategy)
    except (WeightsUnavailableError, DatasetError) as error:
        return parser.fail(str(error))
    except (tf.errors.OpError, OSError) as error:
        line = no_space_left(error, config.run_path)
        if line is None and isinstance(error, tf.errors.OpError):
            line = data_error(error, data.path, [data.train_split, data.val_split])
        if line is None:
            raise
        return parser.fail(line)
    return 0


def train_and_finish(config, data, strategy):
    """Trains (or resumes) the run; the chief then evaluates and exports it and only then
    removes the backup, so that a kill before the end repeats the unfinished part only."""
    trained = train(config, data, strategy)
    if distribution.is_chief(strategy):
        evaluate_best(config, data, trained)
        if config.train.export:
            export_run(config.run_path)
        TrainingBackup(RunLayout(config.run_path).backup).remove()

