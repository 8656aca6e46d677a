"""Tiny videos and dataset trees for the pipeline tests, written with PyAV.

Frame `i` of a fixture video is one flat colour, `frame_colour(i)`, so a test can tell which
frames a decoder kept.
"""

import pathlib

import av
import numpy as np

WIDTH, HEIGHT = 32, 24
NUM_FRAMES = 12


def frame_colour(index):
    """The RGB colour of frame `index`: red counts up by 16 (up to 15 frames), green down, blue fixed."""
    return (16 * index, 255 - 16 * index, 128)


def write_video(
    path, num_frames=NUM_FRAMES, width=WIDTH, height=HEIGHT, codec="mpeg4", rate=25, pix_fmt="yuv420p"
):
    """Writes a video whose frame `i` is filled with `frame_colour(i)`; returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for index in range(num_frames):
            image = np.empty((height, width, 3), np.uint8)
            image[:] = frame_colour(index)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def truncate(path, keep_fraction=0.9):
    """Cuts a file to its first `keep_fraction` of bytes, as an interrupted download would."""
    data = pathlib.Path(path).read_bytes()
    pathlib.Path(path).write_bytes(data[: int(len(data) * keep_fraction)])
    return path


def ucf_name(class_name, group, clip):
    return f"{class_name}/v_{class_name}_g{group:02d}_c{clip:02d}.avi"


def make_ucf101_tree(root, class_names=("ApplyEyeMakeup", "Basketball"), groups=(1, 2, 8)):
    """An official UCF-101 layout; split 1 trains on group 8, tests on groups 1 and 2.

    Returns:
        dict of split name to the list of relative video paths it lists.
    """
    root = pathlib.Path(root)
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text(
        "".join(f"{label} {name}\n" for label, name in enumerate(class_names, start=1))
    )
    listed = {"train": [], "test": []}
    for label, class_name in enumerate(class_names, start=1):
        for group in groups:
            relative = ucf_name(class_name, group, 1)
            write_video(root / "UCF-101" / relative)
            listed["train" if group == 8 else "test"].append(relative)
    labels = {name: label for label, name in enumerate(class_names, start=1)}
    (lists / "trainlist01.txt").write_text(
        "".join(f"{path} {labels[path.split('/')[0]]}\n" for path in listed["train"])
    )
    (lists / "testlist01.txt").write_text("".join(f"{path}\n" for path in listed["test"]))
    return listed


def make_hmdb51_tree(root, split_marks):
    """An official HMDB51 layout.

    Args:
        root: the folder to write.
        split_marks: dict of class name to a dict of video name to its mark (0, 1 or 2) in
            `<class>_test_split1.txt`.
    """
    root = pathlib.Path(root)
    splits_dir = root / "testTrainMulti_7030_splits"
    splits_dir.mkdir(parents=True)
    for class_name, marks in split_marks.items():
        for video in marks:
            write_video(root / class_name / video)
        (splits_dir / f"{class_name}_test_split1.txt").write_text(
            "".join(f"{video} {mark} \n" for video, mark in marks.items())
        )


def make_tfds_dataset(data_dir, videos_per_split=3):
    """Prepares a tiny TFDS video dataset `kerasrrn_tiny_videos` (classes `a`, `b`) in
    `data_dir`; example `i` has `NUM_FRAMES` frames coloured as in `write_video`, label `i % 2`."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.registered import skip_registration

    # Unregistered, so `tfds.builder(name, data_dir=...)` finds it from its files alone, as it
    # would any prepared dataset whose builder code is absent.
    with skip_registration():
        builder_class = _tiny_videos_builder_class(tfds, videos_per_split)
    builder = builder_class(data_dir=str(data_dir))
    builder.download_and_prepare()
    return builder.name


def _tiny_videos_builder_class(tfds, videos_per_split):
    class KerasrrnTinyVideos(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return self.dataset_info_from_configs(
                features=tfds.features.FeaturesDict(
                    {
                        "video": tfds.features.Video(shape=(None, HEIGHT, WIDTH, 3)),
                        "label": tfds.features.ClassLabel(names=["a", "b"]),
                    }
                )
            )

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(), "test": self._generate_examples()}

        def _generate_examples(self):
            video = np.empty((NUM_FRAMES, HEIGHT, WIDTH, 3), np.uint8)
            for index in range(NUM_FRAMES):
                video[index] = frame_colour(index)
            for index in range(videos_per_split):
                yield index, {"video": video, "label": index % 2}

    return KerasrrnTinyVideos


def write_size_changing_video(path, sizes=((32, 24), (48, 32)), frames_per_size=4):
    """An MPEG-2 elementary stream whose frame size changes mid-stream: raw streams of each
    `(width, height)`, concatenated, as a spliced capture or broadcast recording would be."""
    path = pathlib.Path(path)
    parts = []
    for index, (width, height) in enumerate(sizes):
        part = path.with_name(f"{path.stem}.part{index}.m2v")
        with av.open(str(part), "w", format="mpeg2video") as container:
            stream = container.add_stream("mpeg2video", rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for frame_index in range(frames_per_size):
                image = np.full((height, width, 3), frame_colour(frame_index), np.uint8)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(stream.encode())
        parts.append(part.read_bytes())
        part.unlink()
    path.write_bytes(b"".join(parts))
    return path


def write_corner_video(path, display_rotation=None, num_frames=4, width=WIDTH, height=HEIGHT):
    """Writes dark frames with a white 8x8 block in the stored top-left corner, and a display
    matrix turning them `display_rotation` degrees counter-clockwise (`None`: no matrix, as
    in a video from a camera held level); returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((height, width, 3), 20, np.uint8)
    image[:8, :8] = 235
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if display_rotation is not None:
            stream.set_display_rotation(display_rotation)
        for _ in range(num_frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def write_cut_video(path, source, cut):
    """Copies the packets of the video `source` into an MP4 that starts at its frame `cut`, as
    `ffmpeg -ss ... -c copy` cuts a clip: every packet is kept (the frames before the cut are the
    decoder's references) and the muxer writes an edit list hiding those before `cut`. `source`
    must be a constant-rate video with one keyframe (any GOP longer than it); returns the path."""
    with av.open(str(source)) as reader, av.open(str(path), "w") as writer:
        video = reader.streams.video[0]
        output = writer.add_stream_from_template(video)
        shift = round(cut / video.average_rate / video.time_base)
        for packet in reader.demux(video):
            if packet.size == 0:
                continue
            packet.pts, packet.dts, packet.stream = packet.pts - shift, packet.dts - shift, output
            writer.mux(packet)
    return path


def write_video_after_a_cover(path, num_frames=NUM_FRAMES):
    """An MKV whose first video stream is a one-frame grey MJPEG picture (as a cover or thumbnail
    track) and whose second is `write_video`'s footage; returns the path."""
    with av.open(str(path), "w") as container:
        cover = container.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = WIDTH, HEIGHT, "yuvj420p"
        footage = container.add_stream("mpeg4", rate=25)
        footage.width, footage.height, footage.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        grey = av.VideoFrame.from_ndarray(np.full((HEIGHT, WIDTH, 3), 128, np.uint8), format="rgb24")
        container.mux(cover.encode(grey))
        container.mux(cover.encode())
        for index in range(num_frames):
            image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
            image[:] = frame_colour(index)
            container.mux(footage.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(footage.encode())
    return path
