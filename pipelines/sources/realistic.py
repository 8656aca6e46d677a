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
tells them apart; in a written folder every video has a scene of its own (`video_seed`). `write_realistic_folder` writes MPEG-4 in AVI at 320x240 into a folder with one
sub-folder per class (`<class>/<class>_gXX_cYY.avi`), which `python -m pipelines.prepare
folder` reads exactly as user videos: through the codec and the decoder.
"""

import pathlib

import av
import numpy as np

from pipelines.sources.synthetic import CLASS_NAMES, MOTIONS, SHAPES, class_names, inside_convex, polygon

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


def video_seed(seed, class_name, index):
    """The seed of video `index` of `class_name`: every video of the folder gets its own scene.

    A scene shared by videos of several classes would land on both sides of `prepare folder`'s
    per-class split; a model that remembers scenes then gives a validation video the labels
    its scene had in training, that is, any class but its own (measured on the first version of
    this tier, where video `i` of every class shared one seed: validation top-5 fell to 0.09
    while training top-1 rose).
    """
    return int(np.random.SeedSequence([seed, CLASS_NAMES.index(class_name), index]).generate_state(1)[0])


def write_realistic_folder(out_dir, num_classes=10, videos_per_class=36, seed=1234, num_frames=48,
                           height=HEIGHT, width=WIDTH):
    """Writes `videos_per_class` AVI files per class into `out_dir/<class>/`, named
    `<class>_gXX_c01.avi` (one source group per video, as `prepare folder --group-pattern`
    expects), each with its own scene (`video_seed`). Existing files are kept (a re-run
    completes an interrupted one).

    Returns:
        list of the video paths, class by class.
    """
    out_dir = pathlib.Path(out_dir)
    paths = []
    for name in class_names(num_classes):
        (out_dir / name).mkdir(parents=True, exist_ok=True)
        for index in range(videos_per_class):
            path = out_dir / name / f"{name}_g{index + 1:02d}_c01.avi"
            if not path.is_file():
                # Renamed once complete: a killed run leaves no half-written video behind.
                partial = path.with_name(f"{path.name}.partial")
                write_video_file(partial, render_realistic_video(name, video_seed(seed, name, index), num_frames, height, width))
                partial.rename(path)
            paths.append(path)
    return paths
