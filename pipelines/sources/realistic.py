"""The realistic tier of the embedded dataset: the same motion-only classes as
`pipelines.sources.synthetic`, in scenes that look like footage, written as real video files.

What makes it harder than the quick-start tier (all drawn at random per video, so the tier is
varied rather than one renderer's look):

- textured backgrounds (several octaves of value noise and a grating) with static clutter
  (polygons of random colour that never move);
- objects from small to mid-sized (radius 8-20% of the frame height) of modest contrast, moving slowly
  (`speed` 1-4 px per video frame at 240 px: 0.5-2 px per sampled frame at 64 px with frame
  step 2, as in the held-out footage);
- camera shake (a random walk of the whole scene, up to +-8 px), global brightness flicker
  and Gaussian sensor noise (sigma 2-8);
- 1-3 distractors that wander at random, the same in every class.

For one seed, the second class of each direction pair is the exact time reversal of the first
(the whole clip, shake and distractors included, is played backwards), so frame order alone
tells them apart. `write_realistic_ucf101` writes MPEG-4 in AVI at 320x240 in UCF-101's
layout with its split files, one scene per source group shared by every class, which
`python -m pipelines.prepare ucf101` reads exactly as user videos: through the codec and the
decoder.
"""

import pathlib

import av
import numpy as np

from pipelines.sources.synthetic import MOTIONS, SHAPES, class_names, inside_convex, polygon

HEIGHT, WIDTH = 240, 320
# Scene drawn larger than the frame, so that camera shake never shows its edge.
MARGIN = 8
FRAME_RATE = 25


def _value_noise(rng, height, width, cells):
    """Smooth noise `(height, width)` in [-1, 1]: random values on a `cells` grid, bilinear."""
    grid = rng.uniform(-1, 1, size=(cells + 1, cells + 1))
    ys = np.linspace(0, cells, height, endpoint=False)
    xs = np.linspace(0, cells, width, endpoint=False)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def textured_background(rng, height, width):
    """A float `(height, width, 3)` texture: coloured value noise over several octaves, a
    grating of random frequency and direction, and 3-8 static clutter polygons."""
    base = rng.uniform(40, 215, size=3)
    image = np.repeat(base[None, None], height, 0).repeat(width, 1).astype(np.float64)
    for cells, amplitude in ((4, 40), (16, 25), (48, 15)):
        tint = rng.uniform(0.6, 1.4, size=3)
        image += amplitude * _value_noise(rng, height, width, cells)[..., None] * tint
    ys, xs = np.mgrid[0:height, 0:width]
    direction, period = rng.uniform(0, np.pi), rng.uniform(6, 30)
    image += rng.uniform(5, 20) * np.sin(2 * np.pi * (np.cos(direction) * xs + np.sin(direction) * ys) / period)[..., None]
    centres = ys + 0.5, xs + 0.5
    for _ in range(int(rng.integers(3, 9))):
        radius = rng.uniform(0.04, 0.15) * height
        centre = rng.uniform([0, 0], [width, height])
        vertices = polygon(rng.choice(SHAPES), radius, rng.uniform(0, 2 * np.pi)) + centre
        image[inside_convex(centres[1], centres[0], vertices)] = rng.uniform(0, 255, size=3)
    return image


def render_realistic_video(class_name, seed, num_frames=48, height=HEIGHT, width=WIDTH):
    """Renders one clip of `class_name` in a realistic scene.

    The random parameters depend on `seed` and the class's motion only, so the two members of
    a direction pair with the same seed are exact time reversals of each other.

    Args:
        class_name: str, one of `pipelines.sources.synthetic.CLASS_NAMES`.
        seed: int.
        num_frames: int, default 48 (about 2 s at 25 frames/s).
        height, width: ints, default 240 x 320.

    Returns:
        uint8 array `(num_frames, height, width, 3)`.
    """
    if class_name not in MOTIONS:
        raise ValueError(f"Unknown synthetic class {class_name!r}; expected one of {tuple(MOTIONS)}")
    motion, reverse = MOTIONS[class_name]
    rng = np.random.default_rng(seed)
    scene_h, scene_w = height + 2 * MARGIN, width + 2 * MARGIN
    background = textured_background(rng, scene_h, scene_w)
    radius = rng.uniform(0.08, 0.20) * height
    shape = rng.choice(SHAPES if motion != "rotate" else SHAPES[:3])
    colour = np.clip(background.mean(axis=(0, 1)) + rng.choice([-1, 1]) * rng.uniform(50, 110) + rng.uniform(-30, 30, 3), 0, 255)
    angle = rng.uniform(0, 2 * np.pi)
    steps = np.arange(num_frames) - (num_frames - 1) / 2
    centre = np.tile(rng.uniform([0.3 * scene_w, 0.3 * scene_h], [0.7 * scene_w, 0.7 * scene_h]), (num_frames, 1))
    radii, angles = np.full(num_frames, radius), np.full(num_frames, angle)
    visible = np.ones(num_frames, dtype=bool)
    if motion in ("horizontal", "vertical"):
        axis = 0 if motion == "horizontal" else 1
        centre[:, axis] += steps * rng.uniform(1.0, 4.0)
    elif motion == "scale":
        radii = radius * rng.uniform(1.3, 1.8) ** (steps / max(num_frames - 1, 1) * 2) * 0.8
    elif motion == "rotate":
        angles = angle + steps * np.deg2rad(rng.uniform(3, 8))
    elif motion == "blink":
        period = int(rng.integers(6, 14))
        visible = (np.arange(num_frames) + int(rng.integers(period))) % period < period // 2 + 1
    distractors = []
    for _ in range(int(rng.integers(1, 4))):
        walk = np.cumsum(rng.normal(0, 2.0, size=(num_frames, 2)), axis=0)
        start = rng.uniform([0, 0], [scene_w, scene_h])
        distractors.append((polygon(rng.choice(SHAPES), rng.uniform(0.03, 0.08) * height, rng.uniform(0, 6.3)),
                            start + walk, rng.uniform(0, 255, size=3)))
    shake = np.clip(np.cumsum(rng.normal(0, rng.uniform(0.5, 2.0), size=(num_frames, 2)), axis=0), -MARGIN, MARGIN)
    shake = np.round(shake).astype(int)
    flicker = 1 + np.cumsum(rng.normal(0, 0.01, size=num_frames))
    noise_sigma = rng.uniform(2, 8)
    ys, xs = np.mgrid[0:scene_h, 0:scene_w] + 0.5
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for t in range(num_frames):
        scene = background.copy()
        for vertices, path, tint in distractors:
            scene[inside_convex(xs, ys, vertices + path[t])] = tint
        if visible[t]:
            scene[inside_convex(xs, ys, polygon(shape, radii[t], angles[t]) + centre[t])] = colour
        dx, dy = shake[t]
        window = scene[MARGIN + dy:MARGIN + dy + height, MARGIN + dx:MARGIN + dx + width] * flicker[t]
        frames[t] = np.clip(window + rng.normal(0, noise_sigma, size=window.shape), 0, 255).astype(np.uint8)
    return frames[::-1].copy() if reverse else frames


def write_video_file(path, frames, bit_rate=1_500_000):
    """Writes uint8 frames `(N, H, W, 3)` as MPEG-4 part 2 video in an AVI container, as a
    camera or a UCF-101 file holds them."""
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=FRAME_RATE)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.bit_rate = bit_rate
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def video_seed(seed, group):
    """The scene seed of source group `group`, shared by that group's video in every class."""
    return int(np.random.SeedSequence([seed, group]).generate_state(1)[0])


def test_groups(groups, test_fraction):
    """The first `round(test_fraction * groups)` groups (at least one, at most all but one) are
    the test split, for every class alike, as UCF-101's groups 1-7 of 25."""
    return min(max(1, round(test_fraction * groups)), groups - 1)


def write_realistic_ucf101(root, num_classes=10, groups=50, test_fraction=0.28, seed=1234, num_frames=48,
                           height=HEIGHT, width=WIDTH):
    """Writes the tier in UCF-101's layout, with its split files, under `root`:

        UCF-101/<class>/v_<class>_gXX_c01.avi   one video per class and source group
        ucfTrainTestlist/classInd.txt, trainlist01.txt, testlist01.txt

    Group `g` is one scene (`video_seed`) for every class: appearance says nothing about the
    class, only motion does. The first groups are the test split of every class, so no scene
    is on both sides; splitting per class instead (as `prepare folder --validation-fraction`
    does) puts a test video's scene in training under the other nine labels, and a model that
    remembers scenes then answers any class but the true one (measured: validation top-5 0.09).
    `python -m pipelines.prepare ucf101 ROOT` reads it as it reads UCF-101. Existing videos are
    kept (a re-run completes an interrupted one).

    Returns:
        dict of split (`train`, `test`) to the list of video paths.
    """
    root = pathlib.Path(root)
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    names = class_names(num_classes)
    first_train = test_groups(groups, test_fraction)
    paths, lines = {"train": [], "test": []}, {"train": [], "test": []}
    for label, name in enumerate(names):
        (root / "UCF-101" / name).mkdir(parents=True, exist_ok=True)
        for group in range(groups):
            relative = f"{name}/v_{name}_g{group + 1:02d}_c01.avi"
            path = root / "UCF-101" / relative
            if not path.is_file():
                # Renamed once complete: a killed run leaves no half-written video behind.
                partial = path.with_name(f"{path.name}.partial")
                write_video_file(partial, render_realistic_video(name, video_seed(seed, group), num_frames, height, width))
                partial.rename(path)
            split = "test" if group < first_train else "train"
            paths[split].append(path)
            lines[split].append(relative if split == "test" else f"{relative} {label + 1}")
    (lists / "classInd.txt").write_text("".join(f"{label + 1} {name}\n" for label, name in enumerate(names)))
    for split, split_lines in lines.items():
        (lists / f"{split}list01.txt").write_text("".join(f"{line}\n" for line in split_lines))
    return paths
