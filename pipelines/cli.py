"""What every command line of the project shares: a parser whose usage errors are one line,
and argparse types with bounds or for output directories.

It lives in `pipelines`, the lowest layer, so that `pipelines.prepare` and the `kerasrrn` and
`tuning` commands use the one definition.
"""

import argparse
import errno
import os
import re
import sys


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, exit status 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)

    def fail(self, message):
        """Writes a run-time error (not a usage error) as one line on stderr; returns the exit
        status 1, for `return parser.fail(...)` in a command's `main`."""
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        return 1

    def input_error(self, error):
        """One line for `error`, met while a command reads its inputs: a damaged input (an
        error whose class sets `exit_status = 1`, as `pipelines.records.DatasetError` does; no
        flag is wrong) returns 1, for `return parser.input_error(error)`; any other is a
        usage error, exit status 2."""
        if getattr(error, "exit_status", 2) == 1:
            return self.fail(str(error))
        self.error(str(error))


def no_space_left(error, path):
    """`no space left on device writing PATH` for an error a full disk raised: an `OSError`
    with errno ENOSPC (PATH: the file it names, else `path`, what the command was writing
    into) or a TensorFlow error saying so; None for any other error."""
    if getattr(error, "errno", None) != errno.ENOSPC and os.strerror(errno.ENOSPC) not in str(error):
        return None
    return f"no space left on device writing {getattr(error, 'filename', None) or path}"


def bounded(kind, low, high=None, description=""):
    """An argparse type: `kind` within [low, high], with a message saying what was expected."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value != value or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}")
        return value

    return parse


positive_int = bounded(int, 1, description="an integer >= 1")
non_negative_int = bounded(int, 0, description="an integer >= 0")


def not_a_directory(*paths):
    """The first of `paths` that exists but is not a directory (where an output directory was
    meant), else None."""
    return next((path for path in paths if os.path.exists(path) and not os.path.isdir(path)), None)


def directory_path(text):
    """An argparse type: an output directory, which may not exist yet but must not be a file
    (checked before any work, rather than failing after it)."""
    if not_a_directory(text):
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory")
    return text


def split_pattern(text):
    """An argparse type: `SPLIT=PATTERN` -> `(split, pattern)`, the split a name of letters,
    digits, `_` or `-`."""
    split, sep, pattern = text.partition("=")
    if not sep or not pattern or not re.fullmatch(r"[A-Za-z0-9_-]+", split):
        raise argparse.ArgumentTypeError(f"expected SPLIT=PATTERN (e.g. 'train=/data/train*.tfrecord*'), got {text!r}")
    return split, pattern
