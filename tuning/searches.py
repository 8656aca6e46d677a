"""The searches of `python -m tuning.search` once its arguments parse (see `tuning.search`)."""

import csv
import json
import os
import pathlib
import sys

import keras_tuner
import numpy as np
from keras_tuner.src import utils as tuner_utils
from threadpoolctl import threadpool_limits

from kerasrrn import config as config_lib
from kerasrrn.evaluation.reports import new_figure, save_figure
from kerasrrn.runs import fusion as fused_runs
from kerasrrn.training.run import prepare_run
from tuning import fusion
from tuning.hypermodels import SkipHyperModel, check_base_config, trial_config


def set_distribution(args):
    """Sets Keras Tuner's distribution variables from --chief / --worker (before any Tuner exists).

    Returns:
        "chief", "worker" or "single", as Keras Tuner will read the environment.
    """
    if args.chief or args.worker is not None:
        os.environ["KERASTUNER_TUNER_ID"] = "chief" if args.chief else f"worker{args.worker}"
        os.environ["KERASTUNER_ORACLE_IP"] = args.oracle_ip
        os.environ["KERASTUNER_ORACLE_PORT"] = str(args.oracle_port)
    # As keras_tuner's distribute.utils: the variables alone make a process a chief or worker.
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def project_dir(args):
    return pathlib.Path(args.directory) / args.project_name


def write_tuner_state_atomically():
    """Makes Keras Tuner write its JSON state (`oracle.json`, `trial.json`, `<tuner id>.json`)
    to a temporary file and rename it into place.

    Keras Tuner 1.4.8 truncates the file, then writes it: a search killed in between (it saves
    after every trial; a distributed chief does little else) left an empty `oracle.json` that
    the next start could not reload. A rename replaces the file whole. `--directory` must
    therefore be a local folder.
    """
    def save_json(path, content):
        text = json.dumps(content)
        partial = f"{path}.{os.getpid()}.partial"
        with open(partial, "w") as file:
            file.write(text)
        os.replace(partial, path)
        return text

    tuner_utils.save_json = save_json


def save_oracle_after_each_trial(oracle):
    """Makes `oracle.end_trial` save the oracle once the trial has left its ongoing trials.

    Keras Tuner 1.4.7/1.4.8 `Oracle.end_trial` saves `oracle.json` while the ended trial is still
    listed as ongoing and removes it only afterwards; a reload sends ongoing trials to be run
    again. A single process saves again in `on_trial_end`, but a distributed chief saves next only
    when it creates the next trial: a chief killed in between (e.g. while the Bayesian oracle fits
    its next proposal) re-ran the trial that had just completed.

    (The chief's own `chief.json`, whose absence makes a restarted chief start from trial 0, is
    written by `BaseTuner.search` before the chief starts serving, so it exists once any trial
    exists: a killed chief reloads without help; tests/tuning/test_search.py checks both.)
    """
    end_trial = oracle.end_trial

    def end_trial_and_save(trial):
        end_trial(trial)
        oracle.save()

    oracle.end_trial = end_trial_and_save


def drop_retries_of_ended_trials(oracle):
    """Keeps a reloaded search from running an ended trial again.

    Keras Tuner 1.4.7/1.4.8 `Oracle.end_trial` records the trial in `end_order` and saves
    `oracle.json` while the trial is still listed as ongoing (it prints "Trial N Complete" and
    only then drops it from the ongoing trials), and a reload sends every ongoing trial for
    retry. `save_oracle_after_each_trial` narrows that window; a search killed inside it still
    came back with the ended trial queued. Retries of trials that ended are dropped here.
    """
    oracle._retry_queue = [trial_id for trial_id in oracle._retry_queue if trial_id not in oracle.end_order]


def search(tuner, role, **search_kwargs):
    """Runs `tuner.search`; a stop for consecutive failed trials (a RuntimeError of the oracle)
    returns like a finished search, so that the failures are reported as such."""
    write_tuner_state_atomically()
    if role != "worker":
        drop_retries_of_ended_trials(tuner.oracle)
        save_oracle_after_each_trial(tuner.oracle)
    try:
        # The Bayesian oracle fits a small Gaussian process per trial; OpenBLAS's threads made
        # that 3x slower on 2 busy cores (25 -> 8 s of CPU for 30 fusion trials).
        with threadpool_limits(limits=1, user_api="blas"):
            tuner.search(**search_kwargs)
    except RuntimeError:
        if not failed_trials(tuner.oracle):
            raise


def failed_trials(oracle):
    return [trial for trial in sorted_trials(oracle) if trial.status in ("FAILED", "INVALID")]


def sorted_trials(oracle):
    return sorted(oracle.trials.values(), key=lambda trial: trial.trial_id)


def failure_line(oracle):
    """One line naming the failed trials and the first one's error, or None when none failed."""
    failed = failed_trials(oracle)
    if not failed:
        return None
    # The message is the trial's traceback; its last line holds the error, except that TensorFlow
    # ends op errors with a `[[{{node ...}}]]` line naming the graph node.
    message_lines = [line.strip() for line in (failed[0].message or "").splitlines()
                     if line.strip() and not line.strip().startswith("[[")]
    error = message_lines[-1] if message_lines else "no error message recorded"
    return (
        f"{len(failed)} of {len(oracle.trials)} trials failed; first: trial {failed[0].trial_id}: {error}"
    )


def write_results(oracle, out_dir, derived_columns):
    """Writes `results.csv` (trial id, status, score, derived columns, hyperparameters) and
    `results.png` (score per trial, failed trials marked, best so far).

    Args:
        oracle: the search's `keras_tuner.Oracle` (not a worker's client).
        out_dir: pathlib.Path, the project folder.
        derived_columns: callable(trial) -> dict of readable columns (e.g. skip units, weights).

    Returns:
        [csv path, png path].
    """
    trials = sorted_trials(oracle)
    rows = []
    for trial in trials:
        completed = trial.status == "COMPLETED"
        derived = derived_columns(trial.hyperparameters) if completed else {}
        rows.append({"trial_id": trial.trial_id, "status": trial.status,
                     "score": trial.score if completed else "", **derived, **trial.hyperparameters.values})
    columns = list(dict.fromkeys(name for row in rows for name in row))
    csv_path = out_dir / "results.csv"
    with csv_path.open("w", newline="") as csv_file:
        writer = csv.DictWriter(csv_file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return [csv_path, plot_scores(trials, oracle.objective.name, out_dir / "results.png")]


def plot_scores(trials, objective_name, out_png):
    """Plots each trial's score against its number, failed trials as crosses on the axis."""
    figure = new_figure(8, 4)
    axes = figure.subplots()
    numbers = np.arange(1, len(trials) + 1)
    completed = np.array([trial.status == "COMPLETED" and trial.score is not None for trial in trials], dtype=bool)
    scores = np.array([trial.score if done else np.nan for trial, done in zip(trials, completed)], dtype=float)
    axes.plot(numbers[completed], scores[completed], "o", markersize=4, label="trial")
    if completed.any():
        axes.plot(numbers, np.fmax.accumulate(np.nan_to_num(scores, nan=-np.inf)), "-", label="best so far")
        floor = np.nanmin(scores)
    else:
        floor = 0.0
    if (~completed).any():
        axes.plot(numbers[~completed], np.full((~completed).sum(), floor), "x", color="tab:red", label="failed")
    axes.set_xlabel("trial")
    axes.set_ylabel(objective_name)
    axes.set_title(f"{objective_name} per trial ({completed.sum()} completed of {len(trials)})")
    axes.grid(alpha=0.3)
    axes.legend()
    return save_figure(figure, out_png)


def run_skip(args, config, data):
    """The skip search from a checked base config and its `RunData`; returns the exit status."""
    role = set_distribution(args)
    hypermodel = SkipHyperModel(config, data, args.patience)
    common = {
        "objective": keras_tuner.Objective("val_top1", direction="max"),
        "seed": config.train.seed,
        "directory": args.directory,
        "project_name": args.project_name,
        "overwrite": args.overwrite,
    }
    if args.tuner == "hyperband":
        tuner = keras_tuner.Hyperband(hypermodel, max_epochs=config.train.epochs, **common)
    else:
        tuner_class = {"bayesian": keras_tuner.BayesianOptimization, "random": keras_tuner.RandomSearch}[args.tuner]
        tuner = tuner_class(hypermodel, max_trials=args.max_trials or args.default_max_trials, **common)
    searched = search_and_write(
        tuner, role, args, lambda hp: {"skip_units": " ".join(trial_config(config, hp).model.skip_units)},
        worker_done=lambda: "finished", epochs=config.train.epochs, verbose=config.train.verbose,
    )
    if searched is None:
        return 0
    out_dir, written, best = searched
    if best is not None:
        best_config = trial_config(config, best.hyperparameters)
        best_path = out_dir / "best.json"
        config_lib.save(best_config, best_path)
        written.insert(0, best_path)
        model = best_config.model
        print(
            f"Best trial {best.trial_id}: val_top1 {best.score:.3f} with {model.skip_kind} skips into "
            f"{','.join(model.skip_units)} (delay {model.skip_delay}, span {model.skip_span}), "
            f"learning rate {best_config.train.learning_rate:.3g}"
        )
        print(f"Train it: python -m kerasrrn.fit --config {best_path}")
    return finish(tuner.oracle, out_dir, written)


def best_completed_trial(oracle):
    """The oracle's best trial, or None when it did not complete (e.g. a search stopped before
    any trial ended)."""
    best = [trial for trial in oracle.get_best_trials(1) if trial.status == "COMPLETED"]
    return best[0] if best else None


def run_fusion(args):
    """The fusion search over checked --streams; returns the exit status."""
    role = set_distribution(args)
    oracle_class = {
        "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
        "random": keras_tuner.oracles.RandomSearchOracle,
    }[args.tuner]
    num_streams = len(args.streams)
    oracle = oracle_class(
        objective=fusion.fusion_objective(), max_trials=args.max_trials or args.default_max_trials,
        hyperparameters=fusion.fusion_space(num_streams), seed=args.seed,
    )
    cache_root = pathlib.Path(args.directory) / "stream_scores"
    streams = [(stream, fusion.cached_stream_scores(stream, cache_root, args.verbose)) for stream in args.streams]
    _, labels, stream_scores = fusion.align_streams(streams)
    tuner = fusion.FusionTuner(
        oracle, stream_scores, labels,
        directory=args.directory, project_name=args.project_name, overwrite=args.overwrite,
    )
    searched = search_and_write(
        tuner, role, args, lambda hp: {"weights": " ".join(f"{w:.4f}" for w in fusion.trial_weights(hp, num_streams))},
        worker_done=lambda: f"ran {tuner.trials_run} trials", verbose=args.verbose,
    )
    if searched is None:
        return 0
    out_dir, written, best = searched
    if best is not None:
        weights = fusion.trial_weights(best.hyperparameters, num_streams)
        references = fusion.reference_weightings(stream_scores, labels)
        best_single = max(range(num_streams), key=lambda index: references["single"][index]["score"])
        summary = {
            "streams": [str(stream) for stream in args.streams],
            "num_videos": int(len(labels)),
            "completed_trials": sum(trial.status == "COMPLETED" for trial in tuner.oracle.trials.values()),
            "best": {"trial_id": best.trial_id, "weights": weights.tolist(),
                     **fusion.fusion_metrics(stream_scores, labels, weights)},
            "equal": references["equal"],
            "single": [{"stream": str(stream), **metrics} for stream, metrics in zip(args.streams, references["single"])],
            "best_single": {"stream": str(args.streams[best_single]), **references["single"][best_single]},
        }
        written[:0] = write_fusion(summary, out_dir)
        print(
            f"Fused top-1 on {len(labels)} validation videos: searched weights "
            f"{', '.join(f'{w:.3f}' for w in weights)} -> {summary['best']['top1']:.3f}; "
            f"equal weights -> {summary['equal']['top1']:.3f}; best single stream "
            f"({summary['best_single']['stream']}) -> {summary['best_single']['top1']:.3f}"
        )
    return finish(tuner.oracle, out_dir, written)


def write_fusion(summary, out_dir):
    """Builds the fused MRRN with the best weights (`kerasrrn.fuse`, run directory
    `<parent of the first stream>/mrrn_fused-<hash of streams and weights>`) and writes
    `fusion.json` (the summary and that run directory). Returns the written paths."""
    streams = fused_runs.load_streams(summary["streams"])
    weights = summary["best"]["weights"]
    fused_path = fused_runs.default_out_path(streams, weights)
    fused_runs.check_out_path(fused_path, streams, weights)
    fused_runs.fuse(streams, weights, fused_path, streams[0].config.train.batch_size, verbose=0)
    fusion_path = out_dir / "fusion.json"
    fusion_path.write_text(json.dumps({**summary, "fused_run": str(fused_path)}, indent=2) + "\n")
    return [fusion_path, fused_path]


def search_and_write(tuner, role, args, derived_columns, worker_done, **search_args):
    """Runs the search in this process's role. A worker prints `Worker ID <worker_done()>.` and
    gets None; the chief (or a process searching alone) writes `results.csv` and `results.png`
    (`write_results` with `derived_columns`) and gets (project folder, written paths, best
    completed trial or None)."""
    announce(role, args)
    search(tuner, role, **search_args)
    if role == "worker":
        print(f"Worker {os.environ['KERASTUNER_TUNER_ID']} {worker_done()}.")
        return None
    out_dir = project_dir(args)
    return out_dir, write_results(tuner.oracle, out_dir, derived_columns), best_completed_trial(tuner.oracle)


def announce(role, args):
    if role == "chief":
        print(
            f"Chief: serving the oracle on {os.environ['KERASTUNER_ORACLE_IP']}:"
            f"{os.environ['KERASTUNER_ORACLE_PORT']} until the workers have run the trials "
            f"(start them with the same command and --worker ID)", flush=True,
        )


def finish(oracle, out_dir, written):
    """Prints the written files; returns 1 with a one-line error when any trial failed, else 0."""
    print(f"Search directory: {out_dir}")
    for path in written:
        print(f"  {path}")
    failure = failure_line(oracle)
    if failure:
        print(f"python -m tuning.search: error: {failure}", file=sys.stderr)
        return 1
    return 0


def run(command_parser, args, config):
    """Runs the search `args.command` (`command_parser`, its subcommand's parser, for the errors'
    exit status); `config` is the skip search's base point (None for fusion)."""
    try:
        if args.command == "skip":
            check_base_config(config)
            # Trials train on one device, so the global batch is the batch.
            data = prepare_run(config, config.train.batch_size)
        else:
            for stream in args.streams:
                fused_runs.check_stream(stream)
    except (ValueError, FileNotFoundError) as error:  # DatasetError: exit 1, others 2
        return command_parser.input_error(error)
    try:
        return run_skip(args, config, data) if args.command == "skip" else run_fusion(args)
    except config_lib.ConfigError as error:
        command_parser.error(str(error))
