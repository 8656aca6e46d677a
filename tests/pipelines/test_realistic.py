"""The realistic tier: motion-only classes in cluttered, shaking, noisy scenes, written through
a real codec and read back by `prepare folder` as user videos are."""

import json

import numpy as np
import pytest

from pipelines import prepare
from pipelines.decode import read_video
from pipelines.sources import realistic
from pipelines.sources.synthetic import CLASS_NAMES


@pytest.mark.parametrize("forward, backward", [("right", "left"), ("down", "up"), ("grow", "shrink"),
                                               ("rotate_cw", "rotate_ccw")])
def test_the_second_class_of_a_pair_is_the_first_played_backwards(forward, backward):
    frames = realistic.render_realistic_video(forward, seed=7, num_frames=6, height=48, width=64)
    assert frames.shape == (6, 48, 64, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(realistic.render_realistic_video(backward, 7, 6, 48, 64), frames[::-1])


def test_scenes_are_textured_noisy_and_shaken_and_the_object_moves_slowly():
    still = realistic.render_realistic_video("still", seed=3, num_frames=8)
    moving = realistic.render_realistic_video("right", seed=3, num_frames=8)
    # Texture: far from the smooth quick-start background (local differences of several levels).
    assert np.abs(np.diff(still[0].astype(float), axis=1)).mean() > 3
    # Noise, flicker and shake change a `still` scene from frame to frame.
    assert np.abs(still[1].astype(float) - still[0]).mean() > 1
    # Different seeds draw different scenes.
    other = realistic.render_realistic_video("still", seed=4, num_frames=8)
    assert np.abs(other[0].astype(float) - still[0]).mean() > 10
    assert not np.array_equal(moving, still)


def test_written_videos_are_prepared_like_user_videos(tmp_path):
    names = CLASS_NAMES[:2]
    paths = realistic.write_realistic_folder(tmp_path / "raw", num_classes=2, videos_per_class=3, seed=1,
                                             num_frames=10, height=60, width=80)
    assert [path.parent.name for path in paths] == [names[0]] * 3 + [names[1]] * 3
    assert not list((tmp_path / "raw").rglob("*.partial"))
    decoded = read_video(str(paths[0]), 1, 0)
    assert decoded.shape == (10, 60, 80, 3)
    # Lossy codec: close to, not equal to, what was rendered.
    rendered = realistic.render_realistic_video(names[0], realistic.video_seed(1, names[0], 0), 10, 60, 80)
    error = np.abs(decoded.astype(float) - rendered).mean()
    assert 0 < error < 20
    out = tmp_path / "prepared"
    status = prepare.main(["folder", str(tmp_path / "raw"), "--out", str(out), "--validation-fraction", "0.34",
                           "--short-side", "0", "--workers", "1"])
    assert status == 0
    info = json.loads((out / "dataset.json").read_text())
    assert set(info["class_names"]) == set(names)
    assert sum(split["videos"] for split in info["splits"].values()) == 6


def test_no_two_videos_of_a_folder_share_a_scene():
    # A scene shared across classes would be on both sides of the per-class split.
    seeds = {realistic.video_seed(1, name, index) for name in CLASS_NAMES for index in range(20)}
    assert len(seeds) == len(CLASS_NAMES) * 20

