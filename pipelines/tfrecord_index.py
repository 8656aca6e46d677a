"""TFRecord shards kept where they are (a TF Model Garden dataset, or any `tf.train.SequenceExample`
video dataset with its keys): a `dataset.json` that points at them, with counts found by reading.

    index_shards("data/k400", {"train": "/data/k400/train*", "validation": "/data/k400/val*"})

Each split is a glob pattern (`tf.io.gfile.glob`: local paths, `gs://`); every matched file is
plain or GZIP (Model Garden's `compressed_input`), told apart by its first bytes. Every record is
read once: its context (`clip/label/index`, `clip/label/text`) and the number of its
`image/encoded` frames; frames are not copied, other keys (audio, ...) are ignored. A record
without exactly one label, or without frames, stops indexing with one line naming the file and the
record's index in it (the models are single-label). Class names come from a label map
(`read_label_map`) or from the records' `clip/label/text`. The `dataset.json` lists each split's
`files` and `compression`, which `pipelines.records.split_shards` gives the readers.
"""

import hashlib
import json
import os
import pathlib
import sys

import numpy as np

from pipelines import records

SOURCE = "tfrecord"
GZIP_MAGIC = b"\x1f\x8b"
BATCH = 1024


def match_files(split, pattern):
    """Sorted files that `pattern` matches.

    Raises:
        ValueError, one line, when it matches none or two files share a file name (records
        without `clip/media_id` are known by `<file name>:<index>`).
    """
    import tensorflow as tf

    files = sorted(path if "://" in path else os.path.abspath(path)
                   for path in tf.io.gfile.glob(pattern) if not tf.io.gfile.isdir(path))
    if not files:
        raise ValueError(f"split {split}: no file matches {pattern}")
    names = [pathlib.PurePosixPath(path).name for path in files]
    shared = sorted({name for name in names if names.count(name) > 1})
    if shared:
        raise ValueError(
            f"split {split}: {pattern} matches several files named {shared[0]}: file names must "
            "differ within a split (records without clip/media_id are known by <file name>:<index>)"
        )
    return files


def compression_of(path):
    """"" for a plain TFRecord file (its first length checksum holds; an empty file too), "GZIP"
    for a gzip file.

    Raises:
        ValueError, one line naming the file, for anything else.
    """
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as stream:
        head = stream.read(12)
    if not head or (len(head) == 12 and records.masked_crc(head[:8]) == head[8:]):
        return ""
    if head[:2] == GZIP_MAGIC:
        return "GZIP"
    raise ValueError(f"{path}: not a TFRecord file (neither plain nor GZIP-compressed)")


def label_map_text(path):
    """The text of a label-map file.

    Raises:
        ValueError, one line, where there is no such file.
    """
    if not pathlib.Path(path).is_file():
        raise ValueError(f"label map {path}: no such file")
    return pathlib.Path(path).read_text()


def read_label_map(path):
    """Class names from a label-map file, in label order.

    The file has one class a line: either only names (line `i` is label `i`, as Kinetics'
    `labels.txt`), or `name: index` on every line (indices 0..N-1, each once, in any order).
    Blank lines are skipped.

    Raises:
        ValueError, one line naming the file and line, for other content.
    """
    lines = [(number, line.strip()) for number, line in enumerate(label_map_text(path).splitlines(), 1)]
    lines = [(number, line) for number, line in lines if line]
    if not lines:
        raise ValueError(f"{path}: an empty label map (expected one class name a line)")
    indexed = [line.rpartition(":") for _, line in lines]
    has_index = [bool(sep) and index.strip().isdigit() for _, sep, index in indexed]
    if not any(has_index):
        return [line for _, line in lines]
    if not all(has_index):
        raise ValueError(f"{path}:{lines[has_index.index(False)][0]}: expected 'name: index' as on the other lines")
    names = {}
    for (number, _), (name, _, index) in zip(lines, indexed):
        if int(index) in names:
            raise ValueError(f"{path}:{number}: index {int(index)} given twice")
        names[int(index)] = name.strip()
    if sorted(names) != list(range(len(names))):
        missing = sorted(set(range(len(names))) - set(names))
        raise ValueError(f"{path}: indices must be 0..{len(names) - 1}, each once (missing {missing[0]})")
    return [names[index] for index in range(len(names))]


def _record_summaries(path, compression):
    """Yields, per batch of records of one file, numpy arrays `(R,)`: number of labels, first
    label (-1 where none), first label text (b"" where none), number of frames."""
    import tensorflow as tf

    def summary(serialized):
        context, sequence = tf.io.parse_single_sequence_example(
            serialized,
            context_features={
                records.LABEL_KEY: tf.io.VarLenFeature(tf.int64),
                records.LABEL_TEXT_KEY: tf.io.VarLenFeature(tf.string),
            },
            sequence_features={records.FRAMES_KEY: tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True)},
        )
        labels = context[records.LABEL_KEY].values
        texts = tf.concat([context[records.LABEL_TEXT_KEY].values, [""]], 0)
        first = tf.concat([labels, [-1]], 0)[0]
        return tf.size(labels), first, texts[0], tf.shape(sequence[records.FRAMES_KEY])[0]

    dataset = tf.data.TFRecordDataset(path, compression).map(summary, num_parallel_calls=tf.data.AUTOTUNE)
    read = 0
    try:
        for batch in dataset.batch(BATCH).as_numpy_iterator():
            read += len(batch[0])
            yield batch
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        reason = error.message.splitlines()[0] if error.message else type(error).__name__
        raise ValueError(
            f"{path}: unreadable after {read} records, in a batch of up to {BATCH} (a truncated file, or "
            f"records that are no tf.train.SequenceExample): {reason}"
        ) from None


def scan_split(files, compression):
    """Reads every record of one split.

    Returns:
        dict with `labels` (int64 `(N,)`), `texts` (list of N str, "" where none), `frames`
        (int), and `first_place` (label -> (file, index) of its first record, for messages).

    Raises:
        ValueError, one line naming the file and record index, for a record without exactly one
        `clip/label/index` or without `image/encoded` frames, or for an unreadable file.
    """
    labels, texts, frames, places = [], [], 0, {}
    for path in files:
        offset = 0
        for counts, first, text, num_frames in _record_summaries(path, compression):
            bad = np.flatnonzero(counts != 1)
            if bad.size:
                index = offset + int(bad[0])
                raise ValueError(
                    f"{path}: record {index} has {int(counts[bad[0]])} clip/label/index values, expected "
                    "exactly 1 (kerasrrn models are single-label; keep one label per record)"
                )
            negative = np.flatnonzero(first < 0)
            if negative.size:
                index = offset + int(negative[0])
                raise ValueError(f"{path}: record {index} has label {int(first[negative[0]])}, expected >= 0")
            empty = np.flatnonzero(num_frames == 0)
            if empty.size:
                raise ValueError(f"{path}: record {offset + int(empty[0])} has no image/encoded frames")
            for position, label in enumerate(first):
                places.setdefault(int(label), (path, offset + position))
            labels.append(first)
            texts.extend(value.decode("utf-8", "replace") for value in text)
            frames += int(num_frames.sum())
            offset += len(counts)
    return {"labels": np.concatenate(labels) if labels else np.zeros([0], np.int64), "texts": texts,
            "frames": frames, "first_place": places}


def names_from_text(scans):
    """Class names from `clip/label/text`: label `i` is named by its records' text, by `str(i)`
    where none of them has one (with one warning). Labels run 0..max label seen.

    Raises:
        ValueError, one line naming two records, where one label has two different texts.
    """
    named = {}
    for scan in scans.values():
        for label, text in zip(scan["labels"].tolist(), scan["texts"]):
            if text and named.setdefault(label, text) != text:
                raise ValueError(
                    f"label {label} has two clip/label/text values, {named[label]!r} and {text!r}: "
                    "pass --label-map FILE to name the classes"
                )
    num_classes = 1 + max(int(scan["labels"].max()) for scan in scans.values() if scan["labels"].size)
    missing = sorted(set(range(num_classes)) - set(named))
    if missing:
        print(
            f"warning: {len(missing)} of {num_classes} labels have no clip/label/text (e.g. {missing[0]}); "
            "named by their index (pass --label-map FILE for names)",
            file=sys.stderr,
        )
    return [named.get(label, str(label)) for label in range(num_classes)]


def check_labels_in_map(scans, class_names, label_map):
    """Refuses labels outside the label map's classes, naming the first record that has one."""
    for scan in scans.values():
        outside = sorted(label for label in scan["first_place"] if label >= len(class_names))
        if outside:
            path, index = scan["first_place"][outside[0]]
            raise ValueError(
                f"{path}: record {index} has label {outside[0]}, outside the {len(class_names)} classes "
                f"of {label_map} (expected 0..{len(class_names) - 1})"
            )


def _fingerprint(patterns, label_map, files):
    """A hash of what an index was made from: the patterns, the label map's text, every file's
    path, size and modification time."""
    import tensorflow as tf

    stats = {split: [(path, tf.io.gfile.stat(path).length, tf.io.gfile.stat(path).mtime_nsec) for path in paths]
             for split, paths in files.items()}
    label_text = label_map_text(label_map) if label_map else None
    content = json.dumps([patterns, label_text, stats], sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def index_shards(out_dir, patterns, label_map=None):
    """Reads the records of every split and writes `out_dir/dataset.json` pointing at them.

    Args:
        out_dir: path-like, created if needed; receives `dataset.json` only.
        patterns: dict split name -> glob pattern, e.g. `{"train": "/data/train*.tfrecord*"}`.
        label_map: path-like or None; None names classes from `clip/label/text`.

    Returns:
        dict, the `dataset.json` written (`class_names`, `splits` with `videos`, `shards`, `frames`,
        `files`, `compression` each, `source`, `patterns`, `label_map`, `fingerprint`).

    Raises:
        ValueError, one line naming the split, file, record or label map at fault.
    """
    files = {split: match_files(split, pattern) for split, pattern in patterns.items()}
    compressions = {}
    for split, paths in files.items():
        kinds = {path: compression_of(path) for path in paths}
        if len(set(kinds.values())) > 1:
            plain = next(path for path, kind in kinds.items() if not kind)
            gzip = next(path for path, kind in kinds.items() if kind)
            raise ValueError(f"split {split}: mixes plain ({plain}) and GZIP ({gzip}) files; use one kind per split")
        compressions[split] = next(iter(kinds.values()))
    scans = {split: scan_split(files[split], compressions[split]) for split in files}
    if not any(scan["labels"].size for scan in scans.values()):
        raise ValueError(f"{', '.join(patterns.values())}: no records")
    if label_map:
        class_names = read_label_map(label_map)
        check_labels_in_map(scans, class_names, label_map)
    else:
        class_names = names_from_text(scans)
    splits = {
        split: {"videos": int(scan["labels"].size), "shards": len(files[split]), "frames": scan["frames"],
                "files": files[split], "compression": compressions[split]}
        for split, scan in scans.items()
    }
    info = {
        "class_names": class_names,
        "splits": splits,
        "frame_step": 1,
        "source": SOURCE,
        "patterns": dict(patterns),
        "label_map": str(label_map) if label_map else None,
        "fingerprint": _fingerprint(patterns, label_map, files),
    }
    pathlib.Path(out_dir).mkdir(parents=True, exist_ok=True)
    records.write_dataset_info(out_dir, info)
    return records.read_dataset_info(out_dir)


def ensure_index(out_dir, patterns, label_map=None):
    """`index_shards`, unless `out_dir/dataset.json` was made from the same patterns, label map
    and unchanged files (their paths, sizes, times), which is then read as it is.

    Returns:
        dict, the `dataset.json`.
    """
    path = pathlib.Path(out_dir) / records.DATASET_JSON
    if path.is_file():
        info = records.read_dataset_info(out_dir)
        if info.get("source") == SOURCE and info.get("patterns") == dict(patterns):
            files = {split: match_files(split, pattern) for split, pattern in patterns.items()}
            if info.get("fingerprint") == _fingerprint(patterns, label_map, files):
                return info
    return index_shards(out_dir, patterns, label_map)
