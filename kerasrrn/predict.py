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

import json
import sys

import numpy as np

from kerasrrn.cli import flags
from kerasrrn.evaluation.predictions import top_classes
from kerasrrn.runs.loading import load_model
from pipelines.cli import OneLineArgumentParser, positive_int
from pipelines import clips, decode
from pipelines.dataset import test_clip_indices
from pipelines.decode import VideoDecodeError
from pipelines.records import DatasetError


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


def video_probabilities(loaded, path):
    """Mean clip probabilities of one video file.

    Args:
        loaded: `kerasrrn.runs.loading.LoadedModel`.
        path: str, the video file.

    Returns:
        float64 array `(C,)`.

    Raises:
        `pipelines.decode.VideoDecodeError` when the file cannot be decoded.
    """
    spec, frame_step = loaded.spec, loaded.stored_frame_step
    # Two decoding passes, one counting and one converting only the frames the views use, so
    # memory holds `num_test_clips x clip_length` frames, not the whole video.
    indices = test_clip_indices(decode.count_frames(path, frame_step), spec).numpy().reshape(-1)
    needed, positions = np.unique(indices, return_inverse=True)
    frames = decode.read_frames_at(path, needed, frame_step, loaded.stored_short_side)
    views = clips.crop_views(frames[positions], spec.clip_length, spec.image_size, spec.three_crop)
    views = views.numpy()
    return np.asarray(loaded.model.predict_on_batch(views), dtype=np.float64).mean(axis=0)


def print_text(prediction):
    print(prediction["video"])
    for entry in prediction["top5"]:
        print(f"  {entry['score']:.3f}  {entry['class']}", flush=True)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        loaded = load_model(args.model, args.data, **flags.view_overrides(args))
    except DatasetError as error:  # e.g. a dataset.json that is not JSON
        return parser.fail(str(error))
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    predictions, failed = [], 0
    for video in args.videos:
        try:
            probabilities = video_probabilities(loaded, video)
        except VideoDecodeError as error:
            print(f"{parser.prog}: cannot predict {error.path}: {error.reason}", file=sys.stderr)
            failed += 1
            continue
        prediction = {"video": video, "top5": top_classes(probabilities, loaded.class_names, args.top_k)}
        predictions.append(prediction)
        if not args.json:
            print_text(prediction)
    if args.json:
        print(json.dumps(predictions, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
