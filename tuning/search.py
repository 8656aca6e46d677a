"""`python -m tuning.search {skip,fusion}`: Keras Tuner searches, resumable and distributed.

    skip     where the temporal skips of an RRN go (units, kind, delay, span) and the learning
             rate; each trial trains like `python -m kerasrrn.fit` (all of its flags give the base
             point), with early stopping on `val_top1`.
    fusion   the weights that fuse three trained streams (`--streams RUN_LOW RUN_MID RUN_HIGH`)
             into an MRRN, on cached validation scores: no retraining.

Both write into `<directory>/<project-name>/`: Keras Tuner's state (`oracle.json`, `trial_*/`),
`results.csv` (one row per trial: id, status, score, hyperparameters) and `results.png` (score per
trial). `skip` adds `best.json`, a config that `python -m kerasrrn.fit --config best.json` trains;
`fusion` adds `fusion.json` and builds the fused MRRN with `kerasrrn.fuse`.

Running the same command again continues a stopped search; `--overwrite` starts over. `--chief`
and `--worker ID` run one search in several processes (Keras Tuner's gRPC oracle). The command
exits 1, naming the count and the first error, when any trial failed.
"""

import sys
import warnings

import kerasrrn
from kerasrrn import config as config_lib
from kerasrrn.cli import flags
from pipelines.cli import OneLineArgumentParser, bounded, positive_int

SKIP_TUNERS = ("bayesian", "random", "hyperband")
FUSION_TUNERS = ("bayesian", "random")


port_number = bounded(int, 1, 65535, "a port number 1..65535")


def add_search_flags(parser, tuners, project_name, max_trials):
    group = parser.add_argument_group("search options")
    group.add_argument("--tuner", choices=tuners, default=tuners[0], help=f"search algorithm (default: {tuners[0]})")
    group.add_argument("--max-trials", type=positive_int, default=None, metavar="INT",
                       help=f"trials to run in all (default: {max_trials})")
    group.add_argument("--directory", default="runs/tuning", help="parent of the project folder (default: runs/tuning)")
    group.add_argument("--project-name", default=project_name, help=f"project folder (default: {project_name})")
    group.add_argument("--overwrite", action="store_true", help="start over instead of continuing the project")
    role = group.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true",
                      help="serve the oracle of a distributed search (runs no trials itself)")
    role.add_argument("--worker", metavar="ID", help="run trials for the chief at --oracle-ip:--oracle-port")
    group.add_argument("--oracle-ip", default="127.0.0.1", help="chief's address (default: 127.0.0.1)")
    group.add_argument("--oracle-port", type=port_number, default=8000, metavar="PORT",
                       help="chief's port (default: 8000)")
    parser.set_defaults(default_max_trials=max_trials)


def build_parser():
    parser = OneLineArgumentParser(
        prog="python -m tuning.search",
        description="Keras Tuner searches over RRN temporal skips and MRRN fusion weights.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{skip,fusion}")
    skip = commands.add_parser(
        "skip", help="search temporal-skip placement, kind, delay, span and learning rate",
        description="Search the temporal skips of an RRN; every trial trains like `python -m kerasrrn.fit`, "
                    "whose flags give the base point (--epochs: epochs per trial).",
    )
    add_search_flags(skip, SKIP_TUNERS, "skip", max_trials=10)
    skip.add_argument("--patience", type=positive_int, default=3, metavar="INT",
                      help="epochs without a better val_top1 before a trial stops (default: 3)")
    flags.add_config_flags(skip)
    fusion = commands.add_parser(
        "fusion", help="search the MRRN fusion weights of three trained streams",
        description="Search the weights fusing three streams' validation scores (computed once, cached).",
    )
    fusion.add_argument("--streams", nargs=3, required=True, metavar=("RUN_LOW", "RUN_MID", "RUN_HIGH"),
                        help="run directories of the three streams")
    add_search_flags(fusion, FUSION_TUNERS, "fusion", max_trials=100)
    fusion.add_argument("--seed", type=int, default=1234, help="oracle seed (default: 1234)")
    fusion.add_argument("--verbose", type=int, choices=(0, 1), default=0,
                        help="1: print every trial and the prediction progress (default: 0)")
    return parser, {"skip": skip, "fusion": fusion}


def check_search_args(args):
    """Raises ConfigError (one line naming the flag) for search flags that do not go together."""
    if args.worker is not None and (not args.worker.replace("-", "").replace("_", "").isalnum()
                                    or "chief" in args.worker):
        raise config_lib.ConfigError(
            f"--worker {args.worker}: expected letters, digits, '-' or '_' without 'chief'"
        )
    if args.worker is not None and args.overwrite:
        raise config_lib.ConfigError("--overwrite: only the chief starts a distributed search over, not a worker")
    if args.tuner == "hyperband" and args.max_trials is not None:
        raise config_lib.ConfigError(
            "--max-trials: Hyperband sets its trials from --epochs (brackets of factor 3); leave it out"
        )


def main(argv=None):
    # The oracle's GP warns when a length scale reaches its bound: expected, not actionable.
    warnings.filterwarnings("ignore", module="sklearn.gaussian_process")
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    command_parser = commands[args.command]
    try:
        check_search_args(args)
        config = flags.from_args(args) if args.command == "skip" else None
    except config_lib.ConfigError as error:
        command_parser.error(str(error))
    # Late: the searches import Keras Tuner and TensorFlow, which `--help` and usage errors must
    # not wait for; this process skipped the custom objects' registration (see `kerasrrn`).
    kerasrrn.register_custom_objects()
    from tuning import searches

    return searches.run(command_parser, args, config)


if __name__ == "__main__":
    sys.exit(main())
