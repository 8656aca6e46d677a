"""`python -m kerasrrn.export RUN_DIR`: a trained run as a SavedModel for TensorFlow Serving.

Writes TF Serving's layout and model config file:

    saved_models/<name>/<version>/saved_model.pb
    saved_models/<name>/<version>/variables/
    saved_models/<name>/<version>/assets/labels.txt    class names, one per line
    saved_models/models.config                          every exported model, absolute base_path

Signatures (preprocessing inside the graph; inputs are raw RGB uint8 pixels):

- `serving_default`: `frames` uint8 `(batch, T, S, S, 3)`, clips at the model's size.
- `video`: `frames` uint8 `(N, H, W, 3)`, one whole video of any length and size; scored as
  evaluation scores it (`num_test_clips` evenly spaced clips of `T` frames every `frame_step`,
  shorter side resized to `S` and centre-cropped, or three crops with `three_crop`; short
  videos loop or repeat their last frame per `short_video`), clip probabilities averaged.

Both return `probabilities` float32 `(batch, C)`, `top_classes` string `(batch, k)` and
`top_scores` float32 `(batch, k)`, `k = min(5, C)` (`batch` = 1 for `video`).

Streaming (`kerasrrn.models.streaming`; every model but a bidirectional MRRN, which is exported
without them); the client keeps the state, so the server stays stateless:

- `stream_init`: `batch_size` int32 scalar -> the state before the first frame, float32 zeros,
  one output per state name (`frames_seen`, `<unit>_temporal_skip_history`, ...).
- `stream_step`: `frames` uint8 `(batch, S, S, 3)` and the state (the same names) ->
  `probabilities` and `clip_probabilities` float32 `(batch, C)`, `clip_top_classes` string and
  `clip_top_scores` float32 `(batch, k)` of the clip probabilities, and the new state.

The version is written under a hidden temporary name, reloaded in a fresh Python process that
imports only TensorFlow, compared with the Keras model, and only then renamed to its number, so
TF Serving never sees a partial or unverified version. Versions are world-readable (directories
0755, files 0644) for a server running as another user. The staging directory of a killed
export is deleted by the next export to the same name; two concurrent exports with the default
version take consecutive numbers.

The run is loaded by `kerasrrn.runs.loading.load_model` (`checkpoints/best.keras`, falling back
to `last.keras`; class names from the run's `dataset.json`), so export, `evaluate` and `predict`
read a run the same way. Any checkpoint whose model maps pixels `(B, T, S, S, 3)` to
probabilities `(B, C)` exports (every model of `kerasrrn.models`).
"""

import sys

from kerasrrn.cli import entry
from pipelines.cli import OneLineArgumentParser, directory_path


def build_parser():
    parser = OneLineArgumentParser(
        prog="python -m kerasrrn.export",
        description="Export a run's best checkpoint as a TF Serving SavedModel "
        "(<out>/<name>/<version>/) with `serving_default` (clips) and `video` (whole videos) "
        "signatures, and list it in <out>/models.config.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by kerasrrn.fit")
    parser.add_argument("--out", default="saved_models", type=directory_path,
                        help="TF Serving model base directory (default: saved_models)")
    parser.add_argument("--name", help="model name (default: the run directory's name)")
    parser.add_argument("--version", type=int, metavar="N",
                        help="version number, never overwritten (default: next free integer)")
    return parser


def main(argv=None):
    return entry.run_command(build_parser(), argv, "export")


if __name__ == "__main__":
    sys.exit(main())
