"""The work of `python -m kerasrrn.predict` once its arguments parse (see `kerasrrn.predict`)."""

import json
import sys

import numpy as np

from kerasrrn.cli import flags
from kerasrrn.evaluation.predictions import top_classes
from kerasrrn.runs.loading import load_model
from pipelines import clips, decode
from pipelines.dataset import test_clip_indices
from pipelines.decode import VideoDecodeError
from pipelines.records import DatasetError


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


def run(parser, args):
    """What the command does once `args` parse (`parser` for the errors' exit status)."""
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
