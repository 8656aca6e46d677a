"""Benchmark: `python -m pipelines.prepare` against the ffmpeg command line, per core.

Generates UCF-101-like clips (320x240 MPEG-4 part 2 with the XVID fourcc in AVI, 25 fps, 5 s),
then times, on the same cores:
- our prepare: decode every frame, JPEG-encode it, write TFRecord shards;
- ffmpeg (from `pip install imageio-ffmpeg`): the same frames to JPEG files, one single-threaded
  process per video, `--workers` at a time;
- decoding alone with PyAV and, if importable, OpenCV (one process).

Run by hand:  python benchmarks/bench_prepare.py [--videos 24] [--workers 2] [--short-side 0]
"""

import argparse
import concurrent.futures
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import av
import numpy as np

WIDTH, HEIGHT, RATE, SECONDS = 320, 240, 25, 5


def write_clip(path, seed):
    """A moving textured clip, so the encoder has real motion and detail to code."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (HEIGHT * 2, WIDTH * 2, 3), np.uint8)
    with av.open(str(path), "w", format="avi") as container:
        codec = "libxvid" if "libxvid" in av.codecs_available else "mpeg4"
        stream = container.add_stream(codec, rate=RATE)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.codec_tag = "XVID"
        stream.bit_rate = 800_000
        for index in range(RATE * SECONDS):
            shift = 2 * index
            image = texture[shift % HEIGHT : shift % HEIGHT + HEIGHT, shift : shift + WIDTH]
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def timed(command, **kwargs):
    start = time.perf_counter()
    subprocess.run(command, check=True, **kwargs)
    return time.perf_counter() - start


def ffmpeg_one(ffmpeg, video, out_dir, short_side):
    scale = ["-vf", f"scale=-2:{short_side}:flags=bilinear"] if short_side else []
    out_dir.mkdir(parents=True)
    subprocess.run(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-threads",
            "1",
            "-i",
            str(video),
            *scale,
            "-q:v",
            "2",
            str(out_dir / "%05d.jpg"),
        ],
        check=True,
    )


def decode_only(videos):
    """Seconds to decode every frame to RGB with PyAV and with OpenCV (None if absent)."""
    start = time.perf_counter()
    for video in videos:
        with av.open(str(video)) as container:
            for frame in container.decode(video=0):
                frame.to_ndarray(format="rgb24")
    pyav = time.perf_counter() - start
    try:
        import cv2
    except ImportError:
        return pyav, None
    cv2.setNumThreads(1)
    start = time.perf_counter()
    for video in videos:
        capture = cv2.VideoCapture(str(video))
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        capture.release()
    return pyav, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--short-side", type=int, default=0)
    args = parser.parse_args()
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    root = pathlib.Path(tempfile.mkdtemp(prefix="bench_prepare_"))
    videos = []
    for index in range(args.videos):
        videos.append(root / "videos" / f"class{index % 2}" / f"v_X_g{index:02d}_c01.avi")
        videos[-1].parent.mkdir(parents=True, exist_ok=True)
        write_clip(videos[-1], index)
    frames = args.videos * RATE * SECONDS
    command = [
        sys.executable,
        "-m",
        "pipelines.prepare",
        "folder",
        str(root / "videos"),
        "--out",
        str(root / "records"),
        "--workers",
        str(args.workers),
        "--short-side",
        str(args.short_side),
        "--quality",
        "90",
    ]
    ours = timed(command, cwd=pathlib.Path(__file__).parent.parent, stderr=subprocess.DEVNULL)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        jobs = [
            pool.submit(ffmpeg_one, ffmpeg, video, root / "jpeg" / f"{index:03d}", args.short_side)
            for index, video in enumerate(videos)
        ]
        for job in jobs:
            job.result()
    theirs = time.perf_counter() - start
    pyav, opencv = decode_only(videos)
    print(
        f"clips: {args.videos} x {RATE * SECONDS} frames {WIDTH}x{HEIGHT}, workers {args.workers}, "
        f"short side {args.short_side}"
    )
    print(f"our command: {' '.join(command[1:])}")
    for name, seconds in (("prepare", ours), ("ffmpeg", theirs)):
        print(
            f"{name:8s} {seconds:7.2f} s  {args.videos / seconds:6.2f} videos/s  "
            f"{frames / seconds:7.1f} frames/s  {frames / seconds / args.workers:7.1f} frames/s/core"
        )
    print(f"ratio prepare/ffmpeg throughput: {theirs / ours:.2f}")
    print(
        f"decode only, 1 process: PyAV {frames / pyav:.0f} frames/s"
        + (f", OpenCV {frames / opencv:.0f} frames/s" if opencv else ", OpenCV not installed")
    )


if __name__ == "__main__":
    main()
