"""Exact resumption of killed runs: model and optimizer state saved every N steps.

Keras' `BackupAndRestore` restarts an interrupted epoch from its first step, so a run killed
mid-epoch trains more steps than planned. `TrainingBackup` instead saves the weights together
with the optimizer state, whose iteration count *is* the position in the run: a resumed run
finishes the interrupted epoch with exactly its remaining steps.

`python -m kerasrrn.fit` removes the backup only once the run's evaluation and export are
written: a run killed after its last step re-runs those, not the training.
"""

import os
import pathlib
import shutil

import keras

from kerasrrn.runs.layout import BACKUP_STATE
from kerasrrn.training.callbacks import writing


class TrainingBackup(keras.callbacks.Callback):
    """Saves `backup_dir/state.weights.h5` (model + optimizer) every `every_steps` steps and
    at the end of every epoch; written to a temporary file first, so a kill never leaves a
    broken backup (only a temporary file, which `restore` ignores and `remove` deletes).

    Args:
        backup_dir: str or Path.
        every_steps: int, default 0. Also save every this many optimizer steps (0: epochs only).
    """

    def __init__(self, backup_dir, every_steps=0):
        super().__init__()
        self.backup_dir = pathlib.Path(backup_dir)
        self.every_steps = every_steps

    @property
    def path(self):
        return self.backup_dir / BACKUP_STATE

    def on_train_batch_end(self, batch, logs=None):
        # The last step of an epoch is saved at the epoch's end, after validation and logging:
        # a backup taken before them would let a resumed run skip the epoch's row.
        last_step = batch + 1 == self.params["steps"]
        if self.every_steps and not last_step and int(self.model.optimizer.iterations) % self.every_steps == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.save()

    def save(self):
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.backup_dir / f"tmp-{os.getpid()}.weights.h5"
        with writing(self.path, temporary):
            self.model.save_weights(temporary)
        os.replace(temporary, self.path)

    def restore(self, model):
        """Loads the backup into the compiled `model` (its optimizer must be built).

        Returns:
            int, the optimizer steps already done (0 when there is no backup).
        """
        if not self.path.is_file():
            return 0
        model.load_weights(self.path)
        return int(model.optimizer.iterations)

    def remove(self):
        """Deletes the backup directory with its state and any temporary file a kill left."""
        shutil.rmtree(self.backup_dir, ignore_errors=True)
