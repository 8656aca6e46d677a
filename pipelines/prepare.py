"""`python -m pipelines.prepare`: videos -> TFRecord shards, `dataset.json`, `failures.jsonl`.

    python -m pipelines.prepare {ucf101,hmdb51,folder,tfds} ROOT --out DIR [flags]
    python -m pipelines.prepare merge DIR [DIR ...] --out DIR
    python -m pipelines.prepare tfrecord SPLIT=PATTERN [SPLIT=PATTERN ...] --out DIR [--label-map FILE]

Each split's videos are put in a deterministic order (a hash of their media id, which mixes
classes within a shard; TFDS keeps its own order) and cut into contiguous shards. Workers
(spawned processes) decode, JPEG-encode and serialize whole videos; the main process only
frames the examples into each shard under a temporary name, renames it when whole, then writes
its sidecar `<shard>.json` (videos, frames, failures, settings). Neither imports TensorFlow
(the `tfds` source does, to read TFDS). A shard with its sidecar is finished: a
re-run skips it, so an interrupted job resumes, and deleting a shard redoes only that one. A
re-run with other settings (frame step, size, quality, sharding) or into a DIR holding shards
of another shard plan is refused; a shard whose planned videos changed (another validation
split or group pattern, a video added or removed: the sidecar keeps a hash of them) is redone.
A full disk or a killed worker ends the job with one line; finished shards stay, a re-run
resumes. Workers die with the main process (Linux).

Bad videos never stop the job: each is recorded in `failures.jsonl` with its path and reason
(rewritten from the sidecars at the end of every run); the exit code is 1 only when the failed
share exceeds `--max-failures`. Usage errors exit 2 with one line naming the flag.

Several machines: `--shard-index i --num-shards n` makes a machine write only the output
shards `j` with `j % n == i`, under their final global names (`train-00007-of-00040.tfrecord`),
in its own DIR, with a partial `dataset.json`. `merge` then links (or copies) all shards into
one DIR, checks that every shard of every split is there exactly once and that the parts agree
on classes and settings, and writes the combined `dataset.json` and `failures.jsonl`.

Shards that exist already (TF Model Garden's, or any `tf.train.SequenceExample` video dataset):
`tfrecord` indexes them where they are, nothing copied (`pipelines.tfrecord_index`): DIR gets a
`dataset.json` that lists each split's files, counted by reading every record.
"""

import collections
import ctypes
import concurrent.futures
import concurrent.futures.process
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import pathlib
import shutil
import signal
import sys
import time

from pipelines import decode, records, tfrecord_index
from pipelines.cli import (
    OneLineArgumentParser, bounded, directory_path, no_space_left, non_negative_int, positive_int, split_pattern
)
from pipelines.sources.folder import list_folder
from pipelines.sources.hmdb51 import list_hmdb51
from pipelines.sources.tfds import list_tfds
from pipelines.sources.ucf101 import list_ucf101

SOURCES = ("ucf101", "hmdb51", "folder", "tfds")
SIDECAR_SUFFIX = ".json"


class UsageError(Exception):
    """A problem with the command line or the input layout: one line, exit code 2."""


def list_source(args):
    """The `SourceListing` for the chosen source."""
    if args.source == "ucf101":
        return list_ucf101(args.root, args.split, args.videos, args.splits)
    if args.source == "hmdb51":
        return list_hmdb51(args.root, args.split, args.videos, args.splits)
    if args.source == "folder":
        return list_folder(args.root, args.validation_fraction, args.group_pattern)
    return list_tfds(args.name, args.root)


def plan_shards(items, num_shards, keep_order):
    """Cuts one split's items into `num_shards` contiguous shards of near-equal size.

    Unless `keep_order`, items are first ordered by a hash of their media id, so shards mix
    classes and the plan does not depend on the order a source listed them in.
    """
    if not keep_order:
        items = sorted(items, key=lambda item: hashlib.sha1(item.media_id.encode()).hexdigest())
    return [
        items[len(items) * index // num_shards : len(items) * (index + 1) // num_shards]
        for index in range(num_shards)
    ]


def count_shards(num_videos, args):
    """How many shards a split of `num_videos` videos gets."""
    if args.shards_per_split:
        return min(args.shards_per_split, num_videos)
    return math.ceil(num_videos / args.videos_per_shard)


def encode_video(task):
    """Worker: decodes one video and serializes it as an example; never raises for bad input.

    Args:
        task: `(VideoItem, label_text, frames or None, options)`; `frames` is a uint8
            `(N, H, W, 3)` array when the source decoded it already (TFDS), else the item's file
            is decoded.

    Returns:
        `(item, example, num_frames, None)` with the serialized `tf.train.SequenceExample`
        (bytes) of `num_frames` JPEG frames, or `(item, None, 0, reason)`.
    """
    item, label_text, frames, options = task
    selection = options["selection"]
    try:
        if frames is None:
            # Each frame is JPEG-encoded as it is decoded: a worker holds one raw frame, not
            # the whole video (a 1080p video of 300 frames is 1.9 GB raw).
            frames = decode.iter_frames(item.path, **selection)
        else:
            frames = decode.select_frames(frames, name=item.path, **selection)
        jpegs = [records.encode_jpeg(frame, options["quality"]) for frame in frames]
        decode.require_frames(jpegs, options["min_frames"], item.path, selection["frame_step"])
        example = records.make_sequence_example(jpegs, item.label, label_text, item.media_id)
        return item, example, len(jpegs), None
    except decode.VideoDecodeError as error:
        return item, None, 0, error.reason
    except Exception as error:  # noqa: BLE001 - a bad video must not stop the job
        return item, None, 0, f"{type(error).__name__}: {error}"


class WorkerDied(Exception):
    """A worker process was killed (e.g. by the out-of-memory killer) while `task` was in flight.

    Attributes:
        task: the oldest task still in flight when the pool broke.
    """

    def __init__(self, task):
        super().__init__("a worker process died")
        self.task = task


def die_with_parent():
    """Pool initializer: the worker gets SIGKILL when the main process dies (Linux), and exits
    now if the main process is already gone, so a killed job leaves no workers running."""
    if sys.platform.startswith("linux"):
        set_parent_death_signal = 1  # PR_SET_PDEATHSIG in <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(set_parent_death_signal, signal.SIGKILL)
    if os.getppid() == 1:
        os._exit(1)


def map_ordered(function, tasks, workers):
    """`map(function, tasks)` over `workers` spawned processes, in order, with at most
    `2 * workers` tasks in flight (TFDS tasks carry whole decoded videos). A killed worker
    raises `WorkerDied`; workers die with the main process."""
    if workers == 1:
        return map(function, tasks)
    pool = concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent
    )
    tasks = iter(tasks)
    pending = collections.deque(
        (task, pool.submit(function, task)) for task in itertools.islice(tasks, 2 * workers)
    )
    return _drain(pool, pending, tasks, function)


def _drain(pool, pending, tasks, function):
    """Yields results in order, submitting one task per result taken; closes the pool."""
    with pool:
        while pending:
            task, future = pending.popleft()
            try:
                result = future.result()
            except concurrent.futures.process.BrokenProcessPool as error:
                raise WorkerDied(task) from error
            for task in itertools.islice(tasks, 1):
                pending.append((task, pool.submit(function, task)))
            yield result


class Progress:
    """A one-line progress report on stderr: videos done, videos/s, ETA, failures."""

    def __init__(self, total):
        self.total, self.done, self.failed = total, 0, 0
        self.start = self.last = time.monotonic()
        self.interval = 0.5 if sys.stderr.isatty() else 10.0

    def update(self, failed):
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        if now - self.last >= self.interval or self.done == self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate
            end = "\n" if self.done == self.total or not sys.stderr.isatty() else ""
            print(
                f"\r{self.done}/{self.total} videos  {rate:.2f} videos/s  "
                f"ETA {int(eta // 60)}m{int(eta % 60):02d}s  {self.failed} failed",
                end=end,
                file=sys.stderr,
                flush=True,
            )


def sidecar_path(shard_path):
    return pathlib.Path(f"{shard_path}{SIDECAR_SUFFIX}")


def shard_contents(items):
    """A hash of the videos planned into one shard (media ids, labels, paths, in order): a
    shard planned from other videos (another --validation-fraction or --group-pattern, a video
    added or removed) differs, so a resume cannot keep it."""
    listed = json.dumps([[item.media_id, item.label, item.path] for item in items])
    return hashlib.sha1(listed.encode()).hexdigest()


def read_finished(shard_path, settings, contents):
    """The sidecar of a finished shard, None if it must be (re)written, which includes a shard
    planned from other videos (`contents`); refuses a shard written with other settings,
    which a resume would silently mix in."""
    sidecar = sidecar_path(shard_path)
    if not (sidecar.is_file() and pathlib.Path(shard_path).is_file()):
        return None
    finished = json.loads(sidecar.read_text())
    if finished["settings"] != settings:
        raise UsageError(
            f"{shard_path} was prepared with other settings ({finished['settings']}, now "
            f"{settings}): use another --out or delete it"
        )
    return finished if finished.get("contents") == contents else None


def refuse_other_shard_sets(out, planned):
    """Refuses an `out` that holds shards outside this run's plan (another --videos-per-shard,
    --shards-per-split or split layout): the reader would read both sets."""
    stale = sorted(
        path.name for path in out.glob("*-*-of-*.tfrecord") if path.name not in planned
    )
    if stale:
        raise UsageError(
            f"{out} holds {len(stale)} shards of another shard plan (e.g. {stale[0]}): "
            "use another --out, or delete them to prepare with these flags"
        )


def write_shard(shard_path, results, settings, contents):
    """Writes one shard from `encode_video` results, then its sidecar."""
    summary = {
        "videos": 0, "frames": 0, "failures": [], "settings": settings, "contents": contents
    }
    with records.ShardWriter(shard_path) as writer:
        for item, example, num_frames, reason in results:
            if example is None:
                summary["failures"].append(
                    {"path": item.path, "reason": reason, "media_id": item.media_id}
                )
                continue
            writer.write(example)
            summary["videos"] += 1
            summary["frames"] += num_frames
    sidecar = sidecar_path(shard_path)
    temporary = sidecar.with_suffix(".tmp")
    try:
        temporary.write_text(json.dumps(summary) + "\n")
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, sidecar)
    return summary


def prepare(args):
    """Runs one (part of a) prepare job. Returns the exit code."""
    try:
        listing = list_source(args)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from error
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keep_order = hasattr(listing, "iter_frames")
    options = {
        "selection": {"frame_step": args.frame_step, "short_side": args.short_side},
        "min_frames": args.min_frames,
        "quality": args.quality,
    }
    base_settings = dict(options, source=args.source, class_names=listing.class_names)
    jobs, finished, planned = [], {}, set()
    for split, items in listing.splits.items():
        num_shards = count_shards(len(items), args)
        settings = dict(base_settings, num_shards=num_shards)
        start = 0
        for index, shard_items in enumerate(plan_shards(items, num_shards, keep_order)):
            path = out / records.shard_filename(split, index, num_shards)
            planned.add(path.name)
            if index % args.num_shards == args.shard_index:
                contents = shard_contents(shard_items)
                done = read_finished(path, settings, contents)
                if done is None:
                    jobs.append((split, path, shard_items, start, settings, contents))
                finished[(split, path)] = done
            start += len(shard_items)
    refuse_other_shard_sets(out, planned)

    def tasks():
        names = listing.class_names
        for split, _, shard_items, start, _, _ in jobs:
            if keep_order:
                frames = listing.iter_frames(split, start, start + len(shard_items))
                yield from ((item, names[item.label], video, options) for item, video in frames)
            else:
                yield from ((item, names[item.label], None, options) for item in shard_items)

    progress = Progress(sum(len(job[2]) for job in jobs))
    results = map_ordered(encode_video, tasks(), args.workers)
    for split, path, shard_items, _, settings, contents in jobs:
        shard_results = (progress_step(progress, next(results)) for _ in shard_items)
        finished[(split, path)] = write_shard(path, shard_results, settings, contents)
    return summarize(args, listing, finished, out)


def progress_step(progress, result):
    progress.update(failed=result[-1] is not None)
    return result


def summarize(args, listing, finished, out):
    """Writes `dataset.json` and `failures.jsonl`, prints the summary, returns the exit code."""
    splits = {split: {"videos": 0, "shards": 0, "frames": 0} for split in listing.splits}
    failures = list(listing.problems) if args.shard_index == 0 else []
    for (split, _), summary in sorted(finished.items()):
        splits[split]["videos"] += summary["videos"]
        splits[split]["frames"] += summary["frames"]
        splits[split]["shards"] += 1
        failures.extend(dict(failure, split=split) for failure in summary["failures"])
    info = {
        "class_names": listing.class_names,
        "splits": splits,
        "frame_step": args.frame_step,
        "short_side": args.short_side,
        "source": args.source,
        "quality": args.quality,
        "min_frames": args.min_frames,
    }
    if args.num_shards > 1:
        info["part"] = {"shard_index": args.shard_index, "num_shards": args.num_shards}
    records.write_dataset_info(out, info)
    (out / records.FAILURES_JSONL).unlink(missing_ok=True)
    records.append_failures(out, failures)
    return report(splits, failures, args.max_failures, out)


def report(splits, failures, max_failures, out):
    """Prints the summary line; 1 when the failed share exceeds `max_failures`, else 0."""
    videos = sum(split["videos"] for split in splits.values())
    attempted = videos + len(failures)
    share = len(failures) / attempted if attempted else 0.0
    counts = ", ".join(f"{name} {split['videos']}" for name, split in splits.items())
    print(
        f"prepared {videos} videos ({counts}) in {out}; {len(failures)} failed "
        f"({share:.1%}, --max-failures {max_failures:.1%}), see {out / records.FAILURES_JSONL}"
    )
    if share > max_failures:
        print(
            f"failed share {share:.1%} exceeds --max-failures {max_failures:.1%}", file=sys.stderr
        )
        return 1
    return 0


def merge(args):
    """Combines the DIRs of a multi-machine prepare into `--out`. Returns the exit code."""
    try:
        infos = [records.read_dataset_info(part) for part in args.dirs]
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from error
    settings = ("class_names", "frame_step", "short_side", "source", "quality", "min_frames")
    for part, info in zip(args.dirs, infos):
        for key in settings:
            if info.get(key) != infos[0].get(key):
                raise UsageError(
                    f"{part}: {key} differs from {args.dirs[0]}; parts of one dataset must agree"
                )
    parts = sorted(info.get("part", {}).get("shard_index", 0) for info in infos)
    expected_parts = list(range(infos[0].get("part", {}).get("num_shards", 1)))
    if parts != expected_parts:
        raise UsageError(f"expected the parts {expected_parts} (--shard-index), found {parts}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    splits = {split: {"videos": 0, "shards": 0, "frames": 0} for split in infos[0]["splits"]}
    failures = []
    for part, info in zip(args.dirs, infos):
        for split, counts in info["splits"].items():
            for key in counts:
                splits[split][key] += counts[key]
            for shard in records.list_shards(part, split):
                for path in (pathlib.Path(shard), sidecar_path(shard)):
                    link_or_copy(path, out / path.name)
        failures.extend(read_failures(part))
    for split, counts in splits.items():
        check_complete(out, split, counts["shards"])
    info = {key: value for key, value in infos[0].items() if key not in ("part", "format")}
    records.write_dataset_info(out, dict(info, splits=splits))
    (out / records.FAILURES_JSONL).unlink(missing_ok=True)
    records.append_failures(out, failures)
    return report(splits, failures, args.max_failures, out)


def link_or_copy(source, target):
    """Hard-links `source` to `target` (same file system) or copies it."""
    if target.exists() and target.samefile(source):
        return
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def read_failures(data_dir):
    path = pathlib.Path(data_dir) / records.FAILURES_JSONL
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def check_complete(out, split, num_found):
    """Refuses a merge that lacks a shard: every `split-j-of-k` with `j < k` must be there."""
    names = {pathlib.Path(path).name for path in records.list_shards(out, split)}
    totals = {int(name.rsplit("-of-", 1)[1].split(".")[0]) for name in names}
    expected = {
        records.shard_filename(split, index, total) for total in totals for index in range(total)
    }
    if len(totals) > 1 or names != expected or len(names) != num_found:
        missing = sorted(expected - names)
        raise UsageError(
            f"{out}: split {split} is incomplete or mixed (missing {missing[:3]}, "
            f"shard counts {sorted(totals)}); merge every --shard-index part of one run"
        )


def build_parser():
    parser = OneLineArgumentParser(prog="python -m pipelines.prepare", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(
        dest="source", required=True, metavar="{ucf101,hmdb51,folder,tfds,merge,tfrecord}"
    )
    for source in SOURCES:
        sub = commands.add_parser(source, help=f"prepare {source}")
        sub.add_argument("root", metavar="ROOT", help="dataset folder (tfds: the TFDS data dir)")
        sub.add_argument(
            "--out", required=True, type=directory_path, help="output DIR for shards, dataset.json, failures.jsonl"
        )
        if source in ("ucf101", "hmdb51"):
            sub.add_argument(
                "--split", type=bounded(int, 1, 3, "1, 2 or 3"), default=1, help="official split"
            )
            sub.add_argument(
                "--videos", metavar="DIR", help="folder of the class folders (default: searched under ROOT)"
            )
            sub.add_argument(
                "--splits", metavar="DIR", help="folder of the split files (default: searched under ROOT)"
            )
        if source == "folder":
            sub.add_argument(
                "--validation-fraction",
                type=bounded(float, 0.0, 0.99, "a fraction in [0, 0.99]"),
                default=0.0,
                help="share of each class's groups held out as split 'validation' (default 0)",
            )
            sub.add_argument(
                "--group-pattern",
                default=r"_(g\d+)_",
                help="regex whose first group is the source-video id of a file name (default UCF _gXX_)",
            )
        if source == "tfds":
            sub.add_argument("--name", required=True, help="TFDS dataset name, e.g. ucf101")
        sub.add_argument(
            "--frame-step",
            type=positive_int,
            default=1,
            help="keep every K-th frame (default 1)",
        )
        sub.add_argument(
            "--short-side",
            type=non_negative_int,
            default=256,
            help="resize so the shorter side is S pixels, 0 keeps (default 256)",
        )
        sub.add_argument(
            "--quality",
            type=bounded(int, 1, 100, "a JPEG quality in 1..100"),
            default=90,
            help="JPEG quality (default 90)",
        )
        sub.add_argument(
            "--workers",
            type=positive_int,
            default=os.cpu_count(),
            help="decoding processes (default all cores)",
        )
        sizing = sub.add_mutually_exclusive_group()
        sizing.add_argument(
            "--videos-per-shard",
            type=positive_int,
            default=50,
            help="videos per shard (default 50)",
        )
        sizing.add_argument(
            "--shards-per-split",
            type=positive_int,
            help="a fixed number of shards per split instead",
        )
        sub.add_argument(
            "--min-frames",
            type=positive_int,
            default=1,
            help="frames a video must keep after --frame-step, fewer is a failure (default 1)",
        )
        add_max_failures(sub)
        sub.add_argument(
            "--shard-index",
            type=non_negative_int,
            default=0,
            help="this machine's part, 0..--num-shards-1 (default 0)",
        )
        sub.add_argument(
            "--num-shards",
            type=positive_int,
            default=1,
            help="machines sharing the job; each writes every n-th output shard (default 1)",
        )
    sub = commands.add_parser("merge", help="combine the DIRs of a multi-machine prepare")
    sub.add_argument("dirs", nargs="+", metavar="DIR")
    sub.add_argument("--out", required=True, type=directory_path, help="output DIR (may be one of the parts)")
    add_max_failures(sub)
    sub = commands.add_parser(
        "tfrecord", help="index existing SequenceExample shards (e.g. TF Model Garden's) where they are"
    )
    sub.add_argument(
        "patterns", nargs="+", type=split_pattern, metavar="SPLIT=PATTERN",
        help="a split and the glob of its shards, plain or GZIP, e.g. 'train=/data/k400/train*.tfrecord*'",
    )
    sub.add_argument("--out", required=True, type=directory_path, help="output DIR for dataset.json")
    sub.add_argument(
        "--label-map", metavar="FILE",
        help="class names, one a line (line i is label i) or 'name: index' lines (default: clip/label/text)",
    )
    return parser


def index(args):
    """Indexes existing shards into `--out/dataset.json` and prints the counts. Returns 0."""
    patterns = dict(args.patterns)
    if len(patterns) < len(args.patterns):
        raise UsageError("argument SPLIT=PATTERN: a split is given twice")
    try:
        info = tfrecord_index.index_shards(args.out, patterns, args.label_map)
    except ValueError as error:
        raise UsageError(str(error)) from error
    counts = ", ".join(f"{split} {entry['videos']}" for split, entry in info["splits"].items())
    shards = sum(entry["shards"] for entry in info["splits"].values())
    print(f"indexed {counts} videos of {len(info['class_names'])} classes in {shards} shards "
          f"(left where they are) into {pathlib.Path(args.out) / records.DATASET_JSON}")
    return 0


def add_max_failures(parser):
    parser.add_argument(
        "--max-failures",
        type=bounded(float, 0.0, 1.0, "a fraction in [0, 1]"),
        default=0.01,
        help="exit 1 when more than this share of videos failed (default 0.01)",
    )


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.source == "merge":
            return merge(args)
        if args.source == "tfrecord":
            return index(args)
        if args.shard_index >= args.num_shards:
            parser.error(
                f"argument --shard-index: expected 0..{args.num_shards - 1} (--num-shards {args.num_shards}), got {args.shard_index}"
            )
        if not pathlib.Path(args.root).is_dir():
            parser.error(f"argument ROOT: {args.root} is not a directory")
        return prepare(args)
    except UsageError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except WorkerDied as error:
        print(
            f"{parser.prog}: error: a decoding worker was killed (a signal, e.g. the out-of-memory "
            f"killer) while decoding {error.task[0].path} or a video after it; finished shards "
            f"in {args.out} are kept: re-run the same command to resume (fewer --workers, "
            "less memory)",
            file=sys.stderr,
        )
        return 1
    except OSError as error:
        line = no_space_left(error, args.out)
        if line is None:
            raise
        return parser.fail(f"{line}; finished shards are kept: free space and re-run the same command to resume")


if __name__ == "__main__":
    sys.exit(main())
