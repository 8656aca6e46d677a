"""`python -m pipelines.write_videos`: a prepared dataset's videos back as video files.

    python -m pipelines.write_videos DATA OUT [--split test] [--count 20] [--codec mpeg4]

Writes the first `--count` videos of a split of a prepared dataset (its TFRecord shards, in
the order the shards hold them) as `OUT/<media id, '/' as '_'>.avi` at the stored frames' size,
every stored frame once at 25 frames per second, and `OUT/labels.csv` (`video,label`). For
trying the commands that read video files (`kerasrrn.predict`, `kerasrrn.stream`,
`kerasrrn.serve_client`) on the embedded dataset, e.g.

    python -m pipelines.write_videos data/synthetic-64px-16f-10c-60v-seed1234 /tmp/test-videos --count 20

The frames go through the codec (MPEG-4 Part 2 at a high bit rate by default), so they are
close to, not equal to, the stored JPEG frames. Exit status 2 for usage errors (a directory
that is not a prepared dataset, a split it does not have), 1 when OUT cannot be written.
"""

import csv
import pathlib
import sys

import av
import numpy as np

from pipelines import records
from pipelines.cli import OneLineArgumentParser, no_space_left, not_a_directory, positive_int

FRAME_RATE = 25
BIT_RATE = 4_000_000


def split_examples(data_dir, split, count):
    """The first `count` examples of `split`: yields (media id, label text, uint8 frames `(N, H, W, 3)`)."""
    import tensorflow as tf

    shards, compression = records.split_shards(data_dir, split)
    dataset = tf.data.TFRecordDataset(shards, compression_type=compression or None).take(count)
    for serialized in dataset:
        example = records.parse_sequence_example(serialized)
        frames = np.stack([tf.io.decode_jpeg(jpeg, channels=3).numpy() for jpeg in example["frames"]])
        yield example["media_id"].numpy().decode(), example["label_text"].numpy().decode(), frames


def write_video(path, frames, codec="mpeg4"):
    """Writes uint8 RGB frames `(N, H, W, 3)` (even `H` and `W`) as one video file."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FRAME_RATE)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt, stream.bit_rate = "yuv420p", BIT_RATE
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def write_split_videos(data_dir, out_dir, split="test", count=20, codec="mpeg4"):
    """Writes the first `count` videos of `split` into `out_dir` and `labels.csv`.

    Returns:
        list of (video path, label text), in the split's order.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (media_id, label, frames) in enumerate(split_examples(data_dir, split, count)):
        path = out_dir / f"{(media_id or f'{split}_{index:05d}').replace('/', '_')}.avi"
        write_video(path, frames, codec)
        written.append((str(path), label))
    with open(out_dir / "labels.csv", "w", newline="") as file:
        csv.writer(file).writerows([("video", "label"), *written])
    return written


def build_parser():
    parser = OneLineArgumentParser(
        prog="python -m pipelines.write_videos",
        description="Write the first videos of a prepared dataset's split as video files.",
    )
    parser.add_argument("data_dir", metavar="DATA", help="a prepared dataset directory (with dataset.json)")
    parser.add_argument("out_dir", metavar="OUT", help="the folder to write the videos and labels.csv into")
    parser.add_argument("--split", default="test", help="the split to read (default: test)")
    parser.add_argument("--count", type=positive_int, default=20, metavar="N",
                        help="videos to write (default: 20; fewer if the split has fewer)")
    parser.add_argument("--codec", default="mpeg4", help="the video codec (default: mpeg4, in .avi)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (pathlib.Path(args.data_dir) / records.DATASET_JSON).is_file():
        parser.error(f"{args.data_dir} is not a prepared dataset (no {records.DATASET_JSON})")
    if not records.split_shards(args.data_dir, args.split)[0]:
        parser.error(f"{args.data_dir} has no shards for split {args.split!r}")
    if args.codec not in av.codecs_available:
        parser.error(f"--codec {args.codec}: not a codec of this FFmpeg")
    if not_a_directory(args.out_dir):
        parser.error(f"{args.out_dir} exists and is not a directory")
    try:
        written = write_split_videos(args.data_dir, args.out_dir, args.split, args.count, args.codec)
    except OSError as error:
        return parser.fail(no_space_left(error, args.out_dir) or f"cannot write {args.out_dir}: {error}")
    print(f"wrote {len(written)} {args.split} videos and labels.csv to {args.out_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
