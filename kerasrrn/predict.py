"""`python -m kerasrrn.predict`: classify video files with a trained model.

    python -m kerasrrn.predict RUN_DIR|SAVED_MODEL VIDEO [VIDEO ...] [--top-k 5] [--json]

Each video is decoded with PyAV as its dataset was prepared (that dataset's frame step and
shorter side; every frame at full size for a SavedModel without `--data`); `num_test_clips`
evenly spaced clips are centre-cropped exactly as `python -m kerasrrn.evaluate` takes them
(short videos loop) and their probabilities averaged. Prints the top-k classes per video, or with
`--json` one JSON list of `{"video": ..., "top5": [{"class": ..., "score": ...}, ...]}`.

A video that cannot be decoded gets one line on stderr naming it and the reason; the others are
still predicted. Exit status 1 if any video failed, 0 otherwise, 2 for usage errors.
"""

import sys

from kerasrrn.cli import entry, flags
from pipelines.cli import OneLineArgumentParser, positive_int


def build_parser():
    parser = OneLineArgumentParser(
        prog="python -m kerasrrn.predict",
        description="Top-k classes of video files, averaged over evenly spaced centre clips.",
    )
    parser.add_argument("model", metavar="RUN_DIR|SAVED_MODEL",
                        help="a run directory of `python -m kerasrrn.fit` or a SavedModel directory")
    parser.add_argument("videos", metavar="VIDEO", nargs="+", help="video files (anything FFmpeg reads)")
    parser.add_argument("--top-k", type=positive_int, default=5, metavar="K",
                        help="classes to print per video (default: 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON list instead of text")
    parser.add_argument("--data", metavar="DIR",
                        help="prepared dataset giving class names and decoding settings "
                             "(default: the run's own)")
    flags.add_view_flags(parser)
    return parser


def main(argv=None):
    return entry.run_command(build_parser(), argv, "predict")


if __name__ == "__main__":
    sys.exit(main())
