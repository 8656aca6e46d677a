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


def test_written_videos_are_prepared_like_ucf101(tmp_path):
    names = CLASS_NAMES[:2]
    paths = realistic.write_realistic_ucf101(tmp_path / "raw", num_classes=2, groups=3, test_fraction=0.34,
                                             seed=1, num_frames=10, height=60, width=80)
    assert [path.parent.name for path in paths["test"]] == list(names)
    assert [path.parent.name for path in paths["train"]] == [names[0]] * 2 + [names[1]] * 2
    assert not list((tmp_path / "raw").rglob("*.partial"))
    decoded = read_video(str(paths["test"][0]), 1, 0)
    assert decoded.shape == (10, 60, 80, 3)
    # Lossy codec: close to, not equal to, what was rendered.
    rendered = realistic.render_realistic_video(names[0], realistic.video_seed(1, 0), 10, 60, 80)
    error = np.abs(decoded.astype(float) - rendered).mean()
    assert 0 < error < 20
    out = tmp_path / "prepared"
    status = prepare.main(["ucf101", str(tmp_path / "raw"), "--out", str(out), "--short-side", "0", "--workers", "1"])
    assert status == 0
    info = json.loads((out / "dataset.json").read_text())
    assert info["class_names"] == list(names)
    assert {split: counts["videos"] for split, counts in info["splits"].items()} == {"train": 4, "test": 2}


def test_every_class_holds_out_the_same_groups_and_a_group_is_one_scene_for_all_classes(tmp_path):
    # Per-class splits would put a test video's scene in training under other labels.
    paths = realistic.write_realistic_ucf101(tmp_path, num_classes=3, groups=4, test_fraction=0.5, seed=2,
                                             num_frames=4, height=32, width=48)
    groups = {split: {path.name.rsplit("_g", 1)[1] for path in split_paths} for split, split_paths in paths.items()}
    assert groups == {"test": {"01_c01.avi", "02_c01.avi"}, "train": {"03_c01.avi", "04_c01.avi"}}
    # A group is one scene in every class: another class of the group is closer than another group.
    def first_frame(name, group):
        return realistic.render_realistic_video(name, realistic.video_seed(2, group), 4, 32, 48)[0].astype(float)
    assert np.abs(first_frame("still", 2) - first_frame("grow", 2)).mean() < np.abs(
        first_frame("still", 2) - first_frame("still", 3)).mean() / 2
    listed = (tmp_path / "ucfTrainTestlist" / "testlist01.txt").read_text().split()
    assert listed == [f"{name}/v_{name}_g0{group}_c01.avi" for name in CLASS_NAMES[:3] for group in (1, 2)]
