"""`python -m kerasrrn.stream`: follow a video, a capture device or a URL one frame at a time.

    python -m kerasrrn.stream RUN_DIR|SAVED_MODEL SOURCE [--every 10] [--csv FILE] [--top-k 5] [--data DIR]

SOURCE is anything PyAV opens: a video file, a device such as `/dev/video0`, an RTSP/HTTP URL.
Frames are decoded as the run's dataset was prepared (its frame step and shorter side), every
`frame_step`-th of them is taken as in the run's clips, centre-cropped to the model's image size
as `evaluate` crops, and fed to the run's model in its streaming form
(`kerasrrn.models.streaming`), or to a SavedModel's `stream_init`/`stream_step` signatures
(`kerasrrn.export`; decoded at full size unless `--data` names its dataset, and with
`--frame-step` or `fit`'s default, as `predict` takes a SavedModel's clips). Every `--every` frames it prints the running clip's top class
and score (the clip of the last `T` frames) and the step's latency; `--csv` writes one row per
step: `frame` (index of the decoded frame), `seconds` (its presentation time), `latency_ms`,
then `class_1, score_1, ...` up to `--top-k`. The last line says how the stream ended.

Exit status 0 when the stream ended, 1 when SOURCE could not be opened or the stream broke,
2 for usage errors.
"""

import sys

from kerasrrn.cli import entry, flags
from pipelines.cli import OneLineArgumentParser, positive_int


def build_parser():
    parser = OneLineArgumentParser(
        prog="python -m kerasrrn.stream",
        description="Running top class of a video, device or URL, one frame at a time.",
    )
    parser.add_argument("model", metavar="RUN_DIR|SAVED_MODEL",
                        help="a run directory of `python -m kerasrrn.fit` or `fuse`, or a SavedModel directory")
    parser.add_argument("source", metavar="SOURCE", help="a video file, a capture device (/dev/video0) or a URL")
    parser.add_argument("--every", type=positive_int, default=10, metavar="N",
                        help="print the running top class every N frames (default: 10)")
    parser.add_argument("--csv", metavar="FILE", help="write one row per frame: frame, seconds, latency, top-k")
    parser.add_argument("--top-k", type=positive_int, default=5, metavar="K",
                        help="classes per CSV row (default: 5)")
    parser.add_argument("--data", metavar="DIR",
                        help="prepared dataset giving class names and decoding settings (default: the run's own)")
    flags.add_view_flags(parser, names=("frame_step",))
    return parser


def main(argv=None):
    return entry.run_command(build_parser(), argv, "stream")


if __name__ == "__main__":
    sys.exit(main())
