"""Fault injection for `python -m pipelines.prepare` (issue #14), end to end on generated videos.

    python benchmarks/fault_matrix.py [--keep DIR]

Each case runs the real command in a subprocess against a tiny generated folder dataset: a full
disk (a 1 MiB tmpfs when `mount` is allowed, else the case says so), re-runs with another shard
plan or validation split, broken symlinks and loops, a video whose frame size changes, bad
flags, a worker killed with SIGKILL (as the OOM killer would) and the main process killed.
Prints `case | expected | observed | ok`; every case is bounded by a timeout (about a minute in
all on 2 cores).
"""

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from tests.pipelines.video_fixtures import write_size_changing_video, write_video  # noqa: E402

PREPARE = [sys.executable, "-m", "pipelines.prepare", "folder"]
TIMEOUT_S = 120


def prepare(root, out, *flags, wait=True):
    """Runs prepare; returns `(exit code, stderr's last line)` or the `Popen` when not `wait`."""
    command = [*PREPARE, str(root), "--out", str(out), "--max-failures", "1", *flags]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if not wait:
        return process
    _, error = process.communicate(timeout=TIMEOUT_S)
    return process.returncode, (error.strip().splitlines() or [""])[-1]


def make_tree(root, videos_per_class=4, size=(32, 24), num_frames=12):
    for class_name in ("jump", "run"):
        for group in range(1, videos_per_class + 1):
            name = f"v_{class_name}_g{group:02d}_c01.avi"
            write_video(root / class_name / name, num_frames, width=size[0], height=size[1])
    return root


def failures(out):
    path = out / "failures.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def spawned_workers(pid):
    """Pids of the multiprocessing workers whose parent is `pid`."""
    workers = []
    for entry in (path for path in pathlib.Path("/proc").iterdir() if path.name.isdigit()):
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except (FileNotFoundError, NotADirectoryError, PermissionError, ProcessLookupError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in command:
            workers.append(int(entry.name))
    return workers


def alive(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for_workers(process, count=2):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        workers = spawned_workers(process.pid)
        if len(workers) >= count:
            return workers
        time.sleep(0.1)
    return []


def case_no_space(work, tree):
    mount = work / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        return "n/a: cannot mount a tmpfs here (tests inject ENOSPC instead)"
    try:
        code, line = prepare(tree, mount / "out", "--short-side", "0", "--quality", "100")
        leftovers = [path.name for path in (mount / "out").glob("*.tmp*")]
        finished = len(list((mount / "out").glob("*.tfrecord.json")))
        return f"exit {code}, {line[-60:]!r}, {finished} sidecars, tmp left {leftovers}"
    finally:
        subprocess.run(["umount", str(mount)])


def case_other_plan(work, tree):
    out = work / "plan"
    prepare(tree, out, "--shards-per-split", "2")
    code, line = prepare(tree, out, "--shards-per-split", "3")
    return f"exit {code}, {'another shard plan' in line and 'one line'}, {len(list(out.glob('*.tfrecord')))} shards"


def case_other_validation(work, tree):
    out = work / "validation"
    prepare(tree, out, "--shards-per-split", "1")
    code, _ = prepare(tree, out, "--shards-per-split", "1", "--validation-fraction", "0.5")
    from pipelines import records
    import tensorflow as tf

    def ids(split):
        dataset = tf.data.TFRecordDataset(records.list_shards(out, split))
        return {bytes(records.parse_sequence_example(x)["media_id"].numpy()) for x in dataset}

    return f"exit {code}, train & validation shared: {len(ids('train') & ids('validation'))}"


def case_symlinks(work, tree):
    root = work / "links"
    write_video(root / "jump" / "good.avi")
    (root / "jump" / "broken.avi").symlink_to("nowhere.avi")
    (root / "jump" / "loop1.avi").symlink_to("loop2.avi")
    (root / "jump" / "loop2.avi").symlink_to("loop1.avi")
    code, _ = prepare(root, work / "links_out")
    reasons = sorted(failure["reason"].split(" (")[0][:14] for failure in failures(work / "links_out"))
    return f"exit {code}, listed: {reasons}"


def case_size_change(work, tree):
    root = work / "spliced"
    write_video(root / "jump" / "good.avi")
    write_size_changing_video(root / "jump" / "spliced.mpg")
    code, _ = prepare(root, work / "spliced_out")
    return f"exit {code}, listed: {[failure['reason'][:26] for failure in failures(work / 'spliced_out')]}"


def case_bad_flags(work, tree):
    code_pattern, line_pattern = prepare(tree, work / "p", "--group-pattern", "(")
    (work / "a_file").write_text("x")
    code_out, line_out = prepare(tree, work / "a_file")
    return f"exit {code_pattern} ({'--group-pattern' in line_pattern}), exit {code_out} ({'--out' in line_out})"


def case_kill_worker(work, big_tree):
    out = work / "killed"
    process = prepare(big_tree, out, "--workers", "2", "--short-side", "0", wait=False)
    workers = wait_for_workers(process)
    time.sleep(1)
    if workers:
        os.kill(workers[0], signal.SIGKILL)
    _, error = process.communicate(timeout=TIMEOUT_S)
    lines = error.strip().splitlines()
    killed_line = next((line for line in lines if "worker was killed" in line), "")
    resumed, _ = prepare(big_tree, out, "--workers", "2", "--short-side", "0")
    return f"exit {process.returncode}, line: {bool(killed_line)}, traceback: {'Traceback' in error}, re-run exit {resumed}"


def case_kill_main(work, big_tree):
    process = prepare(big_tree, work / "main_killed", "--workers", "2", "--short-side", "0", wait=False)
    workers = wait_for_workers(process)
    process.kill()
    process.wait()
    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return f"{len(workers)} workers, alive after 10 s: {sum(map(alive, workers))}"


CASES = [
    ("disk full (1 MiB tmpfs)", "exit 1, one 'no space left' line, no tmp, no unfinished sidecar", case_no_space),
    ("re-run, other --shards-per-split", "exit 2, one line, first set untouched", case_other_plan),
    ("re-run, other --validation-fraction", "exit 0, shards redone, no video in both", case_other_validation),
    ("broken symlink + loop", "listed in failures.jsonl", case_symlinks),
    ("frame size changes mid-stream", "listed in failures.jsonl", case_size_change),
    ("--group-pattern '(' / --out a file", "exit 2 / exit 2, one line each", case_bad_flags),
    ("worker SIGKILLed", "exit 1, one line, no traceback, re-run 0", case_kill_worker),
    ("main process SIGKILLed", "workers gone", case_kill_main),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", help="work in DIR and keep it (default: a temporary folder)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory() as temporary:
        work = pathlib.Path(args.keep or temporary)
        work.mkdir(parents=True, exist_ok=True)
        tree = make_tree(work / "tree")
        big_tree = make_tree(work / "big_tree", videos_per_class=15, size=(640, 480), num_frames=15)
        print("case | expected | observed", flush=True)
        for name, expected, function in CASES:
            try:
                observed = function(work, big_tree if "SIGKILL" in name or "disk" in name else tree)
            except Exception as error:  # noqa: BLE001 - a broken case is a row, not a crash
                observed = f"case failed: {type(error).__name__}: {error}"
            print(f"{name} | {expected} | {observed}", flush=True)


if __name__ == "__main__":
    main()
