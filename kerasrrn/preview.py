"""`python -m kerasrrn.preview`: a PNG grid of the clips a model is fed, to check the data.

    python -m kerasrrn.preview DATA --split train [--clips 4] [--out preview.png] [clip flags]

Rows are clips, columns are their frames; each row is labelled with the video's class name
(from `dataset.json`) and media id. `--split train` draws random training clips through
`pipelines.dataset.train_clip`, the function `build_dataset` maps, then crops, flips and
jitters them with the layers the models apply in training (`kerasrrn.models.inputs.
augmentation_layers`: `--train-crop`, `--min-crop-scale`, `--flip`, `--brightness`,
`--contrast`, as fit's flags), so the picture is the augmentation itself, not a
re-implementation. Other splits draw the evaluation views of `pipelines.dataset.eval_views`
(every clip x crop of the first videos, in file order). The clip flags are the fields of
`pipelines.dataset.ClipSpec`, with its defaults; the augmentation flags are fit's, with fit's
defaults. Both are defined by their config fields (`kerasrrn.cli.flags`).
"""

import dataclasses
import sys

from kerasrrn import config as config_lib
from kerasrrn.cli import entry, flags
from pipelines.cli import OneLineArgumentParser, positive_int
from pipelines.sampling import ClipSpec

AUGMENTATION_FIELDS = ("train_crop", "flip", "min_crop_scale", "brightness", "contrast")


def build_parser():
    parser = OneLineArgumentParser(prog="python -m kerasrrn.preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", metavar="DATA", help="a prepared dataset directory")
    parser.add_argument("--split", default="train", help="train (augmented clips) or an evaluation split")
    parser.add_argument("--clips", type=positive_int, default=4,
                        help="rows: clips (training) or views (evaluation) to draw (default: 4)")
    parser.add_argument("--out", default="preview.png", help="the PNG to write (default: preview.png)")
    parser.add_argument("--seed", type=int, default=None, help="draw the same training clips again")
    fit_defaults = config_lib.DataConfig()
    flags.add_field_flags(
        parser.add_argument_group("training augmentation (done by the model, as fit's flags)"),
        AUGMENTATION_FIELDS, defaults={name: getattr(fit_defaults, name) for name in AUGMENTATION_FIELDS},
    )
    clip_fields = [field.name for field in dataclasses.fields(ClipSpec)]
    flags.add_field_flags(
        parser.add_argument_group("clips (the fields of pipelines.dataset.ClipSpec)"), clip_fields,
        defaults={name: getattr(ClipSpec(), name) for name in clip_fields},
    )
    return parser


def main(argv=None):
    return entry.run_command(build_parser(), argv, "preview")


if __name__ == "__main__":
    sys.exit(main())
