import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasrrn.models import Augmentation
from kerasrrn import preview
from kerasrrn.commands import preview as preview_work
from pipelines import dataset, records
from pipelines.dataset import ClipSpec
from pipelines.sources.synthetic import write_synthetic_dataset


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("preview") / "data"
    write_synthetic_dataset(path, num_classes=4, videos_per_class=4, frame_size=32, num_frames=8)
    return str(path)


def class_of(media_id):
    """The class name the synthetic dataset writes into every media id: `split/class/index`."""
    return media_id.split("/")[1]


def png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        return image.size


def test_png_grows_with_the_number_of_clips_and_the_clip_length(data_dir, tmp_path, capsys):
    sizes = {}
    for clips, clip_length in [(2, 4), (3, 4), (2, 8)]:
        out = tmp_path / f"{clips}x{clip_length}.png"
        assert preview.main([data_dir, "--clips", str(clips), "--clip-length", str(clip_length),
                             "--image-size", "32", "--out", str(out), "--seed", "0"]) == 0
        sizes[clips, clip_length] = png_size(out)
    assert f"{tmp_path / '2x8.png'}" in capsys.readouterr().out
    (width_2x4, height_2x4), (width_3x4, height_3x4), (width_2x8, height_2x8) = sizes.values()
    assert width_3x4 == width_2x4 and height_3x4 > height_2x4
    assert width_2x8 > width_2x4 and height_2x8 == height_2x4


def test_training_rows_are_labelled_augmented_clips_of_distinct_videos(data_dir):
    spec = ClipSpec(clip_length=4, frame_step=2, image_size=24)
    augmentation = Augmentation("random_resized", flip=True)
    clips, labels, media_ids = preview_work.draw_clips(data_dir, "train", spec, 5, seed=3, augmentation=augmentation)
    assert clips.shape == (5, 4, 24, 24, 3) and clips.dtype == np.float32
    assert clips.min() >= 0 and clips.max() <= 255 and clips.std() > 1
    assert set(labels) <= set(records.read_dataset_info(data_dir)["class_names"])
    assert labels == [class_of(media_id) for media_id in media_ids]
    assert len(set(media_ids)) == 5 and all(media_id.startswith("train/") for media_id in media_ids)
    again, _, again_ids = preview_work.draw_clips(data_dir, "train", spec, 5, seed=3, augmentation=augmentation)
    np.testing.assert_array_equal(again, clips)
    assert again_ids == media_ids
    other, _, _ = preview_work.draw_clips(data_dir, "train", spec, 5, seed=4, augmentation=augmentation)
    assert not np.array_equal(other, clips)


def test_training_rows_are_what_train_clip_returns_for_their_video(data_dir, monkeypatch):
    """A stand-in for `train_clip` stamps each clip with its label and records the spec it got:
    the preview must draw its output, in the row of that video's label."""
    specs_received = []

    def stamped_train_clip(example, spec):
        specs_received.append(spec)
        label = tf.cast(example["label"], tf.int32)
        return tf.fill([spec.clip_length, spec.image_size, spec.image_size, 3], 10.0 * tf.cast(label, tf.float32)), label

    monkeypatch.setattr(dataset, "train_clip", stamped_train_clip)
    spec = ClipSpec(clip_length=3, image_size=8)
    clips, labels, media_ids = preview_work.draw_clips(data_dir, "train", spec, 6, seed=0)
    class_names = records.read_dataset_info(data_dir)["class_names"]
    expected = np.array([10.0 * class_names.index(class_of(media_id)) for media_id in media_ids])
    np.testing.assert_array_equal(clips, np.broadcast_to(expected[:, None, None, None, None], clips.shape))
    assert specs_received == [spec]


def test_evaluation_rows_are_every_view_of_the_first_videos(data_dir):
    spec = ClipSpec(clip_length=4, frame_step=2, image_size=24, num_test_clips=2, three_crop=True)
    clips, labels, media_ids = preview_work.draw_clips(data_dir, "validation", spec, 7)
    assert clips.shape == (7, 4, 24, 24, 3)
    first_shard = records.list_shards(data_dir, "validation")[0]
    serialized = list(tf.data.TFRecordDataset(first_shard).take(2).as_numpy_iterator())
    first, second = (records.parse_sequence_example(example) for example in serialized)
    views, _, _ = dataset.eval_views(first, spec)
    np.testing.assert_allclose(clips[:6], views.numpy())
    assert media_ids == [first["media_id"].numpy().decode()] * 6 + [second["media_id"].numpy().decode()]
    assert labels == [class_of(media_id) for media_id in media_ids]


def test_row_titles_name_the_class_and_video_and_number_repeated_views():
    titles = preview_work.row_titles(["up", "up", "left"], ["validation/up/00001", "validation/up/00001", "validation/left/00002"])
    assert titles == ["up   validation/up/00001   view 1", "up   validation/up/00001   view 2",
                      "left   validation/left/00002"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["{missing}"], "dataset.json not found"),
        (["{data}", "--split", "holdout"], "no split 'holdout' (it has: test, train, validation)"),
        (["{data}", "--frame-step", "0"], "argument --frame-step: expected an integer >= 1, got '0'"),
        (["{data}", "--short-video", "bounce"], "argument --short-video: invalid choice: 'bounce'"),
        (["{data}", "--min-crop-scale", "1.5"], "argument --min-crop-scale: expected an area fraction in (0, 1]"),
        (["{data}", "--train-crop", "centre"], "argument --train-crop: invalid choice: 'centre'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(data_dir, tmp_path, capsys, arguments, message):
    argv = [argument.format(missing=tmp_path / "nothing", data=data_dir) for argument in arguments]
    with pytest.raises(SystemExit) as exit_info:
        preview.main(argv + ["--out", str(tmp_path / "never.png")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not (tmp_path / "never.png").exists()


def test_every_clip_spec_field_is_a_flag_with_its_default():
    args = preview.build_parser().parse_args(["DATA"])
    assert ClipSpec(**{field.name: getattr(args, field.name) for field in dataclasses.fields(ClipSpec)}) == ClipSpec()
    flipped = preview.build_parser().parse_args(["DATA", "--flip", "--no-deterministic", "--min-crop-scale", "0.5"])
    assert flipped.flip is True and flipped.deterministic is False and flipped.min_crop_scale == 0.5


def test_training_rows_show_the_models_crop_of_the_pipelines_clips(data_dir):
    spec = ClipSpec(clip_length=4, frame_step=2, image_size=24)
    plain, _, ids = preview_work.draw_clips(data_dir, "train", spec, 4, seed=5)
    cropped, _, cropped_ids = preview_work.draw_clips(data_dir, "train", spec, 4, seed=5, augmentation=Augmentation("random"))
    assert cropped_ids == ids and plain.shape == (4, 4, 32, 32, 3) and cropped.shape == (4, 4, 24, 24, 3)
    windows = [[(top, left) for top in range(9) for left in range(9)
                if np.array_equal(crop, clip[:, top : top + 24, left : left + 24])] for clip, crop in zip(plain, cropped)]
    assert all(len(found) >= 1 for found in windows)


def test_training_rows_show_the_models_colour_jitter_one_shift_per_clip(data_dir):
    spec = ClipSpec(clip_length=4, frame_step=2, image_size=24)
    plain, _, ids = preview_work.draw_clips(data_dir, "train", spec, 4, seed=7)
    jittered, _, jittered_ids = preview_work.draw_clips(data_dir, "train", spec, 4, seed=7,
                                                   augmentation=Augmentation(brightness=0.2))
    assert jittered_ids == ids and plain.dtype == np.uint8
    shifts = jittered.astype(np.float32) - plain
    inside = (jittered > 0) & (jittered < 255)  # pixels the clipping left alone
    per_clip = [np.median(shift[keep]) for shift, keep in zip(shifts, inside)]
    for shift, keep, clip_shift in zip(shifts, inside, per_clip):
        np.testing.assert_allclose(shift[keep], clip_shift, atol=1e-3)
    assert all(abs(value) <= 51 for value in per_clip) and np.ptp(per_clip) > 1
    evaluation, _, _ = preview_work.draw_clips(data_dir, "validation", spec, 2,
                                          augmentation=Augmentation("random", brightness=0.2))
    reference, _, _ = preview_work.draw_clips(data_dir, "validation", spec, 2)
    np.testing.assert_array_equal(evaluation, reference)
