"""How clips are taken from videos, in plain Python: shared by the tf ops of `pipelines.clips`
and `pipelines.dataset` and by the command lines, which parse their flags without TensorFlow."""

import dataclasses


def clip_span(clip_length, frame_step):
    """Stored frames covered by one clip: `(clip_length - 1) * frame_step + 1`."""
    return (clip_length - 1) * frame_step + 1


# What a video shorter than a clip gives: its frames looped, or its last frame repeated.
SHORT_VIDEO_MODES = ("loop", "repeat_last")


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """How clips are taken from videos and shaped (the data part of a run config).

    Attributes mirror `kerasrrn.config.DataConfig` of the same names.
    """

    clip_length: int = 8
    frame_step: int = 1
    image_size: int = 64
    num_test_clips: int = 1
    three_crop: bool = False
    short_video: str = "loop"
    shuffle_buffer: int = 512
    deterministic: bool = False

    @property
    def crops_per_clip(self):
        return 3 if self.three_crop else 1

    @property
    def views_per_video(self):
        """Test views of one video: clips x crops."""
        return self.num_test_clips * self.crops_per_clip

    @classmethod
    def from_config(cls, data_config):
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{name: getattr(data_config, name) for name in names})
