"""The layout of a run directory: every file a run writes, named in one place.

    config.json                the resolved config
    checkpoints/best.keras     best validation top-1; checkpoints/last.keras: last epoch
    backup/                    model + optimizer state while training (exact resume); kept
                               until the evaluation and export are written too
    logs/                      TensorBoard
    history.csv                one row per epoch
    metrics.json               video-level evaluation of the best checkpoint
    curves.png                 training curves (beside the report's plots)
    fusion.json                a fused run's streams and weights (`python -m kerasrrn.fuse`)
    eval/                      default output folder of `python -m kerasrrn.evaluate`
"""

import dataclasses
import pathlib

from kerasrrn.evaluation.reports import METRICS_FILE

# The checkpoints a trained model is read from, preferred first.
CHECKPOINTS = ("best.keras", "last.keras")
# The backup's model + optimizer state; temporary files beside it are leftovers of a kill.
BACKUP_STATE = "state.weights.h5"


@dataclasses.dataclass(frozen=True)
class RunLayout:
    """The paths of one run directory.

    Attributes:
        path: pathlib.Path, the run directory.
    """

    path: pathlib.Path

    def __post_init__(self):
        object.__setattr__(self, "path", pathlib.Path(self.path))

    @property
    def config(self):
        return self.path / "config.json"

    @property
    def checkpoints(self):
        return self.path / "checkpoints"

    @property
    def best_checkpoint(self):
        return self.checkpoints / CHECKPOINTS[0]

    @property
    def last_checkpoint(self):
        return self.checkpoints / CHECKPOINTS[1]

    @property
    def backup(self):
        return self.path / "backup"

    @property
    def backup_state(self):
        return self.backup / BACKUP_STATE

    @property
    def logs(self):
        return self.path / "logs"

    @property
    def history(self):
        return self.path / "history.csv"

    @property
    def metrics(self):
        return self.path / METRICS_FILE

    @property
    def curves(self):
        return self.path / "curves.png"

    @property
    def fusion(self):
        return self.path / "fusion.json"

    @property
    def eval(self):
        return self.path / "eval"

    def is_run(self):
        """Whether the directory holds a run (its `config.json`)."""
        return self.config.is_file()

    def is_complete(self):
        """A run whose evaluation was written and whose backup state is gone (a temporary file
        left in `backup/` by a kill does not count)."""
        return self.metrics.is_file() and not self.backup_state.is_file()
