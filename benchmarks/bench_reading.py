"""Training-pipeline throughput against the JPEG-decoding limit, on the same frames and cores.

    python benchmarks/bench_reading.py [DATA] [--short-side 128] [--frame-steps 2,1]
                                       [--clip-length 8] [--batch-size 8] [--repeats 5]
                                       [--clips-per-repeat 800]

DATA is a prepared dataset (`python -m pipelines.prepare`); without it, a synthetic one with
frames of 128x171 (UCF-101 prepared at `--short-side 128`; `--short-side 256`: 256x341) is
written once to `--data-dir` (default: a folder in the system temp dir). Two pipelines read its train split:

- pipeline: `build_dataset(..., training=True)`: shuffle, random clip, decode, batches of one
  frame size (what `model.fit` consumes; the crop, flip and colour jitter are done by the model,
  `kerasrrn.layers.ClipCrop` and `ClipColorJitter`, whatever `--train-crop` says);
- decode limit: the same parsed (and cached) records, shuffled alike, the same random clip
  indices, gather, then `tf.io.decode_jpeg` on every selected frame, no augmentation, AUTOTUNE
  parallelism; two ways, each frame its own element (`limit_per_frame`, clips/s = frames/s / T)
  or a `tf.map_fn` over each clip (`limit_per_clip`). The faster of the two is the limit.

Each measurement makes a fresh iterator, discards `--warmup-clips` (cache filled, autotuning
settled), times `--clips-per-repeat` clips and deletes the iterator (an idle iterator would keep
filling its buffers in the background while another is timed). The three are timed
`--repeats` times each, interleaved in rotating order so that the load of a shared machine hits
all alike. Reported: median clips/s of each, the ratio of the pipeline's
median to the limit's, and the median of the per-round ratios (pipeline / faster limit in that
round). Target: the pipeline reaches at least 85% of the limit.
"""

import argparse
import os
import pathlib
import statistics
import tempfile
import time

import numpy as np


def write_ucf_like_dataset(out_dir, short_side, videos, frames_per_video):
    """Synthetic motion videos cut to 4:3 frames `short_side x round(short_side * 4 / 3)` (UCF-101
    prepared with `--short-side`), JPEG quality 90 (the `prepare` default), as one train shard
    and `dataset.json`. Does nothing when `out_dir/dataset.json` exists."""
    from pipelines import records
    from pipelines.sources import synthetic

    out_dir = pathlib.Path(out_dir)
    if (out_dir / records.DATASET_JSON).is_file():
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    names = synthetic.class_names(10)
    height, width = short_side, round(short_side * 4 / 3)
    top = (width - height) // 2
    with records.ShardWriter(out_dir / records.shard_filename("train", 0, 1)) as writer:
        for index in range(videos):
            label = index % len(names)
            square = synthetic.generate_video(names[label], index, width, frames_per_video)
            frames = square[:, top : top + height]
            writer.write(records.make_sequence_example(
                [records.encode_jpeg(frame, 90) for frame in frames], label, names[label], f"train/{index:05d}"
            ))
    records.write_dataset_info(out_dir, {
        "class_names": names, "splits": {"train": {"videos": videos, "shards": 1, "frames": videos * frames_per_video}},
        "frame_step": 1, "frame_size": [height, width], "source": "bench_reading",
    })


def decode_limit_datasets(data_dir, spec, batch_size):
    """The decoding limit, two ways: parse (cached) + random clip indices + gather, then
    `tf.io.decode_jpeg` on every selected frame either as its own element (`per_frame`) or in a
    `tf.map_fn` over the clip (`per_clip`); AUTOTUNE parallelism, batches of `batch_size` clips.

    Returns:
        {name: `tf.data.Dataset` of uint8 frames `(batch_size * T, H, W, 3)` (per_frame) or
        clips `(batch_size, T, H, W, 3)` (per_clip)}, repeated.
    """
    import tensorflow as tf

    from pipelines import clips, dataset

    def selected_frames(example):
        indices = clips.random_clip_indices(
            tf.shape(example["frames"])[0], spec.clip_length, spec.frame_step, spec.short_video
        )
        return tf.gather(example["frames"], indices)

    def decode(jpeg):
        return tf.io.decode_jpeg(jpeg, channels=3)

    def decode_clip(jpegs):
        return tf.map_fn(decode, jpegs, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))

    def selected():
        examples = dataset.read_records(data_dir, "train", shuffle=True, deterministic=False).repeat()
        return examples.shuffle(spec.shuffle_buffer).map(selected_frames, num_parallel_calls=tf.data.AUTOTUNE)

    per_frame = selected().unbatch().map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    per_clip = selected().map(decode_clip, num_parallel_calls=tf.data.AUTOTUNE)
    return {
        "limit_per_frame": per_frame.batch(batch_size * spec.clip_length, drop_remainder=True).prefetch(tf.data.AUTOTUNE),
        "limit_per_clip": per_clip.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE),
    }


def clips_per_second(dataset, warmup_batches, batches, clips_per_batch):
    """Times `batches` batches of a fresh iterator after `warmup_batches` untimed ones. The
    iterator is deleted afterwards, so that no idle pipeline keeps working in the background
    while another is timed."""
    iterator = iter(dataset)
    for _ in range(warmup_batches):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    seconds = time.perf_counter() - start
    del iterator
    return batches * clips_per_batch / seconds


def measure(data_dir, spec, batch_size, repeats, clips_per_repeat, warmup_clips):
    """clips/s per round of the pipeline and of both limits, measured in rotating order.

    Returns:
        ({name: [clips/s per round]}, [pipeline / faster limit, per round]).
    """
    from pipelines.dataset import build_dataset

    datasets = {"pipeline": build_dataset(data_dir, "train", spec, batch_size, training=True).repeat()}
    datasets.update(decode_limit_datasets(data_dir, spec, batch_size))
    names = list(datasets)
    batches, warmup_batches = max(1, clips_per_repeat // batch_size), max(1, warmup_clips // batch_size)
    rates = {name: [] for name in names}
    for round_index in range(repeats):
        for name in names[round_index % len(names):] + names[: round_index % len(names)]:
            rates[name].append(clips_per_second(datasets[name], warmup_batches, batches, batch_size))
    ratios = [
        rates["pipeline"][index] / max(rates["limit_per_frame"][index], rates["limit_per_clip"][index])
        for index in range(repeats)
    ]
    return rates, ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", help="a prepared dataset (default: a synthetic one)")
    parser.add_argument("--short-side", type=int, default=128, help="synthetic frames: 128 -> 128x171")
    parser.add_argument("--data-dir", help="where the synthetic dataset goes (default: in the temp dir)")
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--frames-per-video", type=int, default=48)
    parser.add_argument("--frame-steps", default="2,1")
    parser.add_argument("--clip-length", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clips-per-repeat", type=int, default=800)
    parser.add_argument("--warmup-clips", type=int, default=400)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from pipelines.dataset import ClipSpec

    data_dir = args.data
    if data_dir is None:
        data_dir = args.data_dir or os.path.join(
            tempfile.gettempdir(), f"bench_reading_{args.short_side}px_{args.videos}v_{args.frames_per_video}f"
        )
        write_ucf_like_dataset(data_dir, args.short_side, args.videos, args.frames_per_video)
    print(f"data: {data_dir}; clip length {args.clip_length}, "
          f"batch {args.batch_size}, {args.repeats} x {args.clips_per_repeat} clips per side, "
          f"{args.warmup_clips} warm-up clips; {os.cpu_count()} CPUs; load {os.getloadavg()}")
    for frame_step in [int(step) for step in args.frame_steps.split(",")]:
        spec = ClipSpec(clip_length=args.clip_length, frame_step=frame_step)
        rates, ratios = measure(data_dir, spec, args.batch_size, args.repeats, args.clips_per_repeat,
                                args.warmup_clips)
        medians = {name: statistics.median(values) for name, values in rates.items()}
        limit = max(medians["limit_per_frame"], medians["limit_per_clip"])
        print(f"frame_step {frame_step}: "
              + "  ".join(f"{name} {rate:.1f}" for name, rate in medians.items())
              + f" clips/s (median); limit {limit * args.clip_length:.0f} frames/s; pipeline / limit: "
              f"ratio of medians {medians['pipeline'] / limit:.3f}, median of round ratios "
              f"{statistics.median(ratios):.3f}")
        for name, values in rates.items():
            print(f"  {name:16s} rounds {np.round(values, 1).tolist()}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
