"""The `main` of a `kerasrrn` command that parses its flags, then runs `kerasrrn.commands.<name>`."""

import importlib


def run_command(parser, argv, name):
    """Parses `argv` with `parser`, then returns `kerasrrn.commands.<name>.run(parser, args)`.

    The command's module is imported only after parsing: it imports TensorFlow, which `--help`
    and usage errors must not wait for.

    Args:
        parser: the command's `argparse.ArgumentParser`.
        argv: list of strings, or `None` for `sys.argv[1:]`.
        name: str, the module name under `kerasrrn.commands` (e.g. `"evaluate"`).

    Returns:
        The exit status `run` returns.
    """
    args = parser.parse_args(argv)
    work = importlib.import_module(f"kerasrrn.commands.{name}")
    return work.run(parser, args)
