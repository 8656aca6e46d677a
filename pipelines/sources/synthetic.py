"""The embedded dataset: procedurally generated clips whose classes differ only in motion.

One object (a convex polygon) moves on a smooth random background. Classes come in direction
pairs whose second member is the *time reversal* of the first, drawn from the same random
parameters: `left` is `right` played backwards, `up` is `down`, `shrink` is `grow`,
`rotate_ccw` is `rotate_cw`. So, within a pair, the set of frames of a clip has the same
distribution in both classes and only the frame order tells them apart: a model that averages
per-frame scores cannot beat chance on a pair. `blink` and `still` complete the default ten.

Choices that make the motion learnable by a tiny network in minutes on a CPU: large objects
(radius 14-20% of the frame) with a guaranteed luminance contrast against a smooth (not
textured) background, several pixels of motion per stored frame, and only +-1 px camera jitter.
"""

import json
import pathlib
import time

import numpy as np

from pipelines import records

CLASS_NAMES = (
    "right",
    "left",
    "down",
    "up",
    "grow",
    "shrink",
    "rotate_cw",
    "rotate_ccw",
    "blink",
    "still",
)
# Each class is (motion, reversed): a reversed class plays its motion backwards.
MOTIONS = {
    "right": ("horizontal", False),
    "left": ("horizontal", True),
    "down": ("vertical", False),
    "up": ("vertical", True),
    "grow": ("scale", False),
    "shrink": ("scale", True),
    "rotate_cw": ("rotate", False),
    "rotate_ccw": ("rotate", True),
    "blink": ("blink", False),
    "still": ("still", False),
}
SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 2}
SHAPES = ("triangle", "rectangle", "arrow", "square")


def class_names(num_classes=10):
    """The first `num_classes` class names (pairs stay together when `num_classes` is even)."""
    if not 2 <= num_classes <= len(CLASS_NAMES):
        raise ValueError(
            f"The synthetic dataset has 2 to {len(CLASS_NAMES)} classes. "
            f"Received: num_classes={num_classes}"
        )
    return list(CLASS_NAMES[:num_classes])


def polygon(shape, radius, angle):
    """Vertices `(K, 2)` (x, y) of a convex polygon around the origin, rotated by `angle`."""
    if shape == "triangle":
        corners = np.array([[1.0, 0.0], [-0.6, 0.75], [-0.6, -0.75]])
    elif shape == "rectangle":
        corners = np.array([[1.0, 0.45], [-1.0, 0.45], [-1.0, -0.45], [1.0, -0.45]])
    elif shape == "arrow":
        corners = np.array([[1.0, 0.0], [0.1, 0.7], [-0.9, 0.35], [-0.9, -0.35], [0.1, -0.7]])
    else:
        corners = np.array([[0.75, 0.75], [-0.75, 0.75], [-0.75, -0.75], [0.75, -0.75]])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return radius * corners @ rotation.T


def inside_convex(xs, ys, vertices):
    """Boolean mask of pixel centres inside a convex polygon (vertices in either orientation)."""
    signs = []
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        signs.append((x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0))
    signs = np.stack(signs)
    return np.all(signs >= 0, axis=0) | np.all(signs <= 0, axis=0)


def _background(rng, size):
    """A smooth `(size, size, 3)` float background: a colour gradient plus blurred noise."""
    colour_a, colour_b = rng.uniform(20, 235, size=(2, 3))
    direction = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    ramp = (np.cos(direction) * xs + np.sin(direction) * ys + 1) / 2
    image = colour_a + (colour_b - colour_a) * ramp[..., None]
    coarse = rng.normal(0, 12, size=(4, 4, 3))
    image += np.kron(coarse, np.ones((size // 4 + 1, size // 4 + 1, 1)))[:size, :size]
    return image


def _object_colour(rng, background):
    """A colour whose luminance differs from the background's mean by at least 90."""
    luminance = background.mean()
    target = rng.uniform(0, max(luminance - 90, 0)) if luminance > 127 else rng.uniform(
        min(luminance + 90, 255), 255
    )
    colour = rng.uniform(-40, 40, size=3) + target
    return np.clip(colour, 0, 255)


def generate_video(class_name, seed, frame_size=64, num_frames=16):
    """Generates one clip of `class_name`.

    The random parameters depend on `seed` and on the class's *motion* only, so the two
    members of a direction pair with the same seed are exact time reversals of each other.

    Args:
        class_name: str, one of `CLASS_NAMES`.
        seed: int, the clip's random seed.
        frame_size: int, default 64. Frame height and width in pixels.
        num_frames: int, default 16.

    Returns:
        uint8 array `(num_frames, frame_size, frame_size, 3)`.
    """
    if class_name not in MOTIONS:
        raise ValueError(f"Unknown synthetic class {class_name!r}; expected one of {CLASS_NAMES}")
    motion, reverse = MOTIONS[class_name]
    rng = np.random.default_rng(seed)
    size = frame_size
    background = _background(rng, size)
    colour = _object_colour(rng, background)
    shape = rng.choice(SHAPES if motion != "rotate" else SHAPES[:3])
    radius = rng.uniform(0.14, 0.20) * size
    angle = rng.uniform(0, 2 * np.pi)
    steps = np.arange(num_frames) - (num_frames - 1) / 2
    centre = np.full((num_frames, 2), size / 2) + rng.uniform(-0.08, 0.08, size=2) * size
    radii = np.full(num_frames, radius)
    angles = np.full(num_frames, angle)
    visible = np.ones(num_frames, dtype=bool)
    if motion in ("horizontal", "vertical"):
        travel = size - 2 * radius - 4
        speed = rng.uniform(0.6, 1.0) * travel / (num_frames - 1)
        axis = 0 if motion == "horizontal" else 1
        centre[:, axis] = size / 2 + steps * speed
        centre[:, 1 - axis] = rng.uniform(radius + 2, size - radius - 2)
    elif motion == "scale":
        growth = rng.uniform(2.0, 2.8)
        radii = radius * 0.55 * growth ** ((steps - steps[0]) / (num_frames - 1))
    elif motion == "rotate":
        angles = angle + steps * np.deg2rad(rng.uniform(12, 20))
    elif motion == "blink":
        period = int(rng.integers(3, 6))
        visible = (np.arange(num_frames) + int(rng.integers(period))) % period < period // 2 + 1
    jitter = rng.integers(-1, 2, size=(num_frames, 2))
    noise = rng.normal(0, 3, size=(num_frames, size, size, 3))

    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for t in range(num_frames):
        frame = background.copy()
        if visible[t]:
            vertices = polygon(shape, radii[t], angles[t]) + centre[t]
            frame[inside_convex(xs, ys, vertices)] = colour
        frame = np.roll(frame, shift=tuple(jitter[t]), axis=(1, 0)) + noise[t]
        frames[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return frames[::-1].copy() if reverse else frames


def video_seed(base_seed, split, index):
    """The seed of video `index` of `split`: distinct per split and video, shared by the two
    classes of a pair only through the motion parameters (see `generate_video`)."""
    return int(np.random.SeedSequence([base_seed, SPLIT_SEEDS[split], index]).generate_state(1)[0])


def split_sizes(videos_per_class):
    """Videos per class in each split: train as given, validation and test a third of it."""
    held_out = max(4, videos_per_class // 3)
    return {"train": videos_per_class, "validation": held_out, "test": held_out}


def write_synthetic_dataset(
    out_dir, num_classes=10, videos_per_class=60, frame_size=64, num_frames=16, seed=1234,
    videos_per_shard=200, quality=95,
):
    """Generates the dataset and writes it as TFRecord shards with `dataset.json`.

    Does nothing if `out_dir/dataset.json` exists with the same generation spec; raises
    ValueError if it exists with a different one (so a cache is never silently reused).

    Returns:
        dict, the dataset description (the content of `dataset.json`).
    """
    out_dir = pathlib.Path(out_dir)
    names = class_names(num_classes)
    spec = {
        "num_classes": num_classes, "videos_per_class": videos_per_class,
        "frame_size": frame_size, "num_frames": num_frames, "seed": seed,
    }
    if (out_dir / records.DATASET_JSON).is_file():
        info = records.read_dataset_info(out_dir)
        if info.get("synthetic") != spec:
            raise ValueError(
                f"{out_dir} holds a synthetic dataset generated with {info.get('synthetic')}, "
                f"not {spec}; choose another --data-dir or delete it"
            )
        return info
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    splits = {}
    for split, per_class in split_sizes(videos_per_class).items():
        items = [(index % num_classes, index) for index in range(per_class * num_classes)]
        num_shards = max(1, -(-len(items) // videos_per_shard))
        for shard in range(num_shards):
            path = out_dir / records.shard_filename(split, shard, num_shards)
            with records.ShardWriter(path) as writer:
                for label, index in items[shard::num_shards]:
                    frames = generate_video(names[label], video_seed(seed, split, index), frame_size, num_frames)
                    writer.write(
                        records.make_sequence_example(
                            [records.encode_jpeg(frame, quality) for frame in frames],
                            label, names[label], f"{split}/{names[label]}/{index:05d}",
                        )
                    )
        splits[split] = {"videos": len(items), "shards": num_shards, "frames": len(items) * num_frames}
    info = {
        "class_names": names, "splits": splits, "frame_step": 1, "frame_size": [frame_size, frame_size],
        "source": "synthetic", "synthetic": spec,
    }
    records.write_dataset_info(out_dir, info)
    (out_dir / records.FAILURES_JSONL).write_text("")
    print(
        f"Generated the synthetic dataset in {out_dir} "
        f"({sum(s['videos'] for s in splits.values())} videos, {time.time() - started:.0f} s)",
        flush=True,
    )
    return json.loads((out_dir / records.DATASET_JSON).read_text())
