"""The work of `python -m kerasrrn.preview` once its arguments parse (see `kerasrrn.preview`)."""

import collections
import dataclasses

import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kerasrrn.models.inputs import augmentation_layers
from kerasrrn.models.registry import augmentation_of
from pipelines import dataset, records
from pipelines.dataset import ClipSpec

# Inches per frame cell: frames smaller than this are upscaled, larger ones kept at full size.
CELL_INCHES = 1.0
DPI = 100


def draw_clips(data_dir, split, spec, num_clips, seed=None, augmentation=None):
    """The clips the preview draws, with their row labels.

    Args:
        data_dir: str, a prepared dataset directory.
        split: str; `validation` falls back to `test` when absent (`resolve_split`).
        spec: `pipelines.dataset.ClipSpec`.
        num_clips: int, rows to draw.
        seed: int or None. The same seed draws the same training clips.
        augmentation: `kerasrrn.models.Augmentation` of training clips, default none (the
            clips as the pipeline gives them, uncropped).

    Returns:
        (array `(num_clips', T, S, S, 3)` of pixel values in [0, 255] (training without a
        crop: `(num_clips', T, H, W, 3)` uint8, the frames' stored size), list of class
        names, list of media ids); `num_clips'` is less
        than `num_clips` only when the split has fewer clips (training: videos, evaluation:
        views).

    Raises:
        FileNotFoundError / ValueError with a one-line message for a missing dataset or split.
    """
    class_names = records.read_dataset_info(data_dir)["class_names"]
    split = dataset.resolve_split(data_dir, split)
    if seed is not None:
        tf.random.set_seed(seed)
    if split == "train":
        examples = dataset.read_records(data_dir, split, shuffle=True, deterministic=True)
        examples = examples.shuffle(spec.shuffle_buffer)
        rows = examples.map(lambda example: (*dataset.train_clip(example, spec), example["media_id"]))
    else:
        examples = dataset.read_records(data_dir, split, shuffle=False, deterministic=True)
        rows = examples.map(lambda example: dataset.eval_views(example, spec)).unbatch()
    drawn = list(rows.take(num_clips).as_numpy_iterator())
    labels = [class_names[label] for _, label, _ in drawn]
    media_ids = [media_id.decode("utf-8") for _, _, media_id in drawn]
    if not drawn:
        return None, labels, media_ids
    clips = [clip for clip, _, _ in drawn]
    if split == "train" and augmentation is not None:
        clips = augment(clips, spec.image_size, augmentation, seed)
    return np.stack(clips), labels, media_ids


def augment(clips, image_size, augmentation, seed=None):
    """Training clips through the models' augmentation layers, as in training; one clip at a
    time, since the frame size of clips from different videos may differ.

    Args:
        clips: list of uint8 arrays `(T, H, W, 3)`.

    Returns:
        list of float32 arrays `(T, S, S, 3)` (`(T, H, W, 3)` when `augmentation` does not crop).
    """
    layers = augmentation_layers(image_size, augmentation, seed)
    augmented = []
    for clip in clips:
        batch = clip[None]
        for layer in layers:
            batch = layer(batch, training=True)
        augmented.append(np.asarray(batch[0], dtype=np.float32))
    return augmented


def row_titles(labels, media_ids):
    """`"<class>   <media id>"` per row; a media id drawn several times (evaluation views) gets
    its view number too, counted in the order of `eval_views`."""
    views_of = collections.Counter(media_ids)
    views_drawn = collections.Counter()
    titles = []
    for label, media_id in zip(labels, media_ids):
        views_drawn[media_id] += 1
        view = f"   view {views_drawn[media_id]}" if views_of[media_id] > 1 else ""
        titles.append(f"{label}   {media_id}{view}")
    return titles


def save_grid(clips, labels, media_ids, path):
    """Writes a PNG with one row per clip and one column per frame.

    Args:
        clips: array `(N, T, S, S, 3)` of pixel values in [0, 255].
        labels, media_ids: lists of N strings, the row titles.
        path: str, the PNG to write.
    """
    num_clips, clip_length, size = clips.shape[:3]
    cell = max(CELL_INCHES, size / DPI)
    figure = Figure(figsize=(cell * clip_length, (cell + 0.3) * num_clips), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(num_clips, clip_length, squeeze=False)
    for row, (clip, title) in enumerate(zip(clips, row_titles(labels, media_ids))):
        for column, frame in enumerate(clip):
            axes[row, column].imshow(np.clip(frame, 0, 255).astype(np.uint8), interpolation="nearest")
            axes[row, column].set_axis_off()
        axes[row, 0].set_title(title, loc="left", fontsize=8)
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.3 / ((cell + 0.3) * num_clips),
                           wspace=0.03, hspace=0.3)
    figure.savefig(path, dpi=DPI)


def run(parser, args):
    """What the command does once `args` parse (`parser` for the errors' exit status)."""
    spec = ClipSpec(**{field.name: getattr(args, field.name) for field in dataclasses.fields(ClipSpec)})
    try:
        augmentation = augmentation_of(args)
        clips, labels, media_ids = draw_clips(args.data_dir, args.split, spec, args.clips, args.seed, augmentation)
    except (FileNotFoundError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    if clips is None:
        parser.exit(2, f"{parser.prog}: error: split {args.split!r} of {args.data_dir} holds no videos\n")
    save_grid(clips, labels, media_ids, args.out)
    print(f"Wrote {args.out}: {len(labels)} clips x {spec.clip_length} frames of {spec.image_size} px "
          f"({args.split})")
    return 0
