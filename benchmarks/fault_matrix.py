"""Fault injection for `python -m pipelines.prepare` and `python -m kerasrrn.fit` (issue #14),
end to end on generated videos.

    python benchmarks/fault_matrix.py [--keep DIR]

Each case runs the real command in a subprocess against a tiny generated folder dataset: a full
disk (a 1 MiB tmpfs when `mount` is allowed, else the case says so), re-runs with another shard
plan or validation split, broken symlinks and loops, a video whose frame size changes, bad
flags, a worker killed with SIGKILL (as the OOM killer would) and the main process killed; then
a tiny `fit` SIGKILLed during its final evaluation and during its automatic export, and re-run;
then `fit` and `export` writing to a 1 MiB tmpfs.
Prints `case | expected | observed | ok`; every case is bounded by a timeout (about six
minutes in all on 2 cores).
"""

import argparse
import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from tests.kerasrrn.tiny_run import tiny_run_argv  # noqa: E402
from tests.pipelines.video_fixtures import write_size_changing_video, write_video  # noqa: E402

PREPARE = [sys.executable, "-m", "pipelines.prepare", "folder"]
FIT = [sys.executable, "-m", "kerasrrn.fit"]
EXPORT = [sys.executable, "-m", "kerasrrn.export"]
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


@contextlib.contextmanager
def small_disk(work, name):
    """A 1 MiB tmpfs mounted at `work/name` for the body (None where mounting is not allowed)."""
    mount = work / name
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)])


NO_MOUNT = "n/a: cannot mount a tmpfs here (tests inject ENOSPC instead)"


def case_no_space(work, tree):
    with small_disk(work, "tiny") as mount:
        if mount is None:
            return NO_MOUNT
        code, line = prepare(tree, mount / "out", "--short-side", "0", "--quality", "100")
        leftovers = [path.name for path in (mount / "out").glob("*.tmp*")]
        finished = len(list((mount / "out").glob("*.tfrecord.json")))
        return f"exit {code}, {line[-60:]!r}, {finished} sidecars, tmp left {leftovers}"


def last_error_line(done):
    """The last stderr line of a finished subprocess and how many lines start a traceback."""
    lines = done.stderr.strip().splitlines() or [""]
    return lines[-1], sum(line.startswith("Traceback") for line in lines)


def partial_files(root):
    """Temporary files and `.keras` files that are not whole zips under `root`."""
    return [path.name for path in root.rglob("*") if path.is_file() and (
        "tmp" in path.name or path.suffix == ".keras" and not zipfile.is_zipfile(path))]


def case_fit_no_space(work, tree):
    with small_disk(work, "tiny_fit") as mount:
        if mount is None:
            return NO_MOUNT
        argv = [*FIT, *tiny_run_argv(mount, "full")]
        argv[argv.index("--data-dir") + 1] = str(work / "fit_data")  # the data fits elsewhere
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, env=command_env())
        line, tracebacks = last_error_line(done)
        return (f"exit {done.returncode}, {line[-70:]!r}, tracebacks {tracebacks}, "
                f"partial left {partial_files(mount)}")


def case_export_no_space(work, tree):
    run = work / "export_src"
    if not (run / "metrics.json").is_file():
        subprocess.run([*FIT, *tiny_run_argv(work, "export_src")], capture_output=True, timeout=TIMEOUT_S,
                       env=command_env(), check=True)
    with small_disk(work, "tiny_export") as mount:
        if mount is None:
            return NO_MOUNT
        done = subprocess.run([*EXPORT, str(run), "--out", str(mount)], capture_output=True, text=True,
                              timeout=TIMEOUT_S, env=command_env())
        line, tracebacks = last_error_line(done)
        left = sorted(path.name for path in (mount / "export_src").iterdir())
        return f"exit {done.returncode}, {line[-70:]!r}, tracebacks {tracebacks}, left under the model {left}"


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
    if not workers:
        process.communicate(timeout=TIMEOUT_S)
        return "no worker seen: the tree was prepared before one could be killed"
    time.sleep(0.2)  # a worker busy decoding, as the OOM killer would find it
    try:
        os.kill(workers[0], signal.SIGKILL)
    except ProcessLookupError:  # on a fast machine the pool may already have finished
        process.communicate(timeout=TIMEOUT_S)
        return "the worker ended before the kill: run again on a loaded machine or a larger tree"
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


def command_env():
    """The environment of the `kerasrrn` commands: this checkout on the path, unbuffered."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(pathlib.Path(__file__).resolve().parents[1])}


def fit_killed(work, name, line_start, export, killed_when=lambda: True):
    """Runs a tiny `fit` in `work` and SIGKILLs it once it printed a line starting with
    `line_start` and `killed_when()` holds (bounded by TIMEOUT_S).

    Returns:
        (the command, to re-run it in `work`; whether it was killed).
    """
    argv = [*FIT, *tiny_run_argv(work, name)]
    if export:
        argv.remove("--no-export")
    process = subprocess.Popen(argv, cwd=work, env=command_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watchdog = threading.Timer(TIMEOUT_S, process.kill)
    watchdog.start()
    killed = False
    for line in process.stdout:
        if line.startswith(line_start):
            deadline = time.monotonic() + TIMEOUT_S
            while not killed_when() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            killed = process.poll() is None
            process.kill()
            break
    process.wait()
    watchdog.cancel()
    return argv, killed


def rerun(work, argv):
    """Re-runs `argv` in `work`; returns (exit code, whether it trained again)."""
    done = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=TIMEOUT_S * 2)
    return done.returncode, "Training finished earlier" not in done.stdout


def case_fit_kill_evaluation(work, tree):
    argv, killed = fit_killed(work, "killed_evaluating", "Evaluating the best checkpoint", export=False)
    run = work / "killed_evaluating"
    history = (run / "history.csv").read_text()
    code, retrained = rerun(work, argv)
    return (f"killed: {killed}, re-run exit {code}, retrained: {retrained}, history kept: "
            f"{(run / 'history.csv').read_text() == history}, metrics: {(run / 'metrics.json').is_file()}, "
            f"backup left: {(run / 'backup').exists()}")


def case_fit_kill_export(work, tree):
    model_path = work / "saved_models" / "killed_exporting"
    argv, killed = fit_killed(work, "killed_exporting", "TensorBoard:", export=True,
                              killed_when=lambda: any(model_path.glob(".*.tmp-*")))
    stale = len(list(model_path.glob(".*.tmp-*")))
    code, retrained = rerun(work, argv)
    return (f"killed: {killed} ({stale} staging dir), re-run exit {code}, retrained: {retrained}, "
            f"versions: {sorted(path.name for path in model_path.iterdir() if path.name.isdigit())}, "
            f"staging left: {len(list(model_path.glob('.*.tmp-*')))}")


CASES = [
    ("disk full (1 MiB tmpfs)", "exit 1, one 'no space left' line, no tmp, no unfinished sidecar", case_no_space),
    ("re-run, other --shards-per-split", "exit 2, one line, first set untouched", case_other_plan),
    ("re-run, other --validation-fraction", "exit 0, shards redone, no video in both", case_other_validation),
    ("broken symlink + loop", "listed in failures.jsonl", case_symlinks),
    ("frame size changes mid-stream", "listed in failures.jsonl", case_size_change),
    ("--group-pattern '(' / --out a file", "exit 2 / exit 2, one line each", case_bad_flags),
    ("worker SIGKILLed", "exit 1, one line, no traceback, re-run 0", case_kill_worker),
    ("main process SIGKILLed", "workers gone", case_kill_main),
    ("fit SIGKILLed while evaluating", "re-run exit 0, not retrained, history kept, no backup", case_fit_kill_evaluation),
    ("fit SIGKILLed while exporting", "re-run exit 0, not retrained, version 1, no staging", case_fit_kill_export),
    ("fit: disk full (1 MiB tmpfs run dir)", "exit 1, one 'no space left' line, no tmp, no partial .keras",
     case_fit_no_space),
    ("export: disk full (1 MiB tmpfs --out)", "exit 1, one 'no space left' line, no version, no staging",
     case_export_no_space),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", help="work in DIR and keep it (default: a temporary folder)")
    parser.add_argument("--only", help="run the cases whose name contains this text")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory() as temporary:
        work = pathlib.Path(args.keep or temporary)
        work.mkdir(parents=True, exist_ok=True)
        tree = make_tree(work / "tree")
        big_tree = make_tree(work / "big_tree", videos_per_class=15, size=(640, 480), num_frames=15)
        print("case | expected | observed", flush=True)
        for name, expected, function in CASES:
            if args.only and args.only not in name:
                continue
            try:
                observed = function(work, big_tree if "SIGKILL" in name or "disk" in name else tree)
            except Exception as error:  # noqa: BLE001 - a broken case is a row, not a crash
                observed = f"case failed: {type(error).__name__}: {error}"
            print(f"{name} | {expected} | {observed}", flush=True)


if __name__ == "__main__":
    main()
