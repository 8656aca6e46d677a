"""The callbacks that fill a run directory while it trains."""

import contextlib
import os
import pathlib

import keras


def temporary_checkpoint(path):
    """Where the checkpoint `path` (a `.keras` file) is written before it is renamed onto
    `path`: hidden, beside it, one name per checkpoint (a kill's leftover is overwritten)."""
    path = pathlib.Path(path)
    return path.with_name(f".{path.stem}.tmp.keras")


@contextlib.contextmanager
def writing(path, temporary):
    """Wraps the writing of `temporary`, the file later renamed onto `path`: an `OSError`
    (e.g. a full disk) deletes `temporary`, so that no partial file takes space, and names
    `path` where it names no file (a failed write does not)."""
    try:
        yield
    except OSError as error:
        pathlib.Path(temporary).unlink(missing_ok=True)
        if error.filename is None:
            error.filename = str(path)
        raise


def save_model_atomically(model, path):
    """`model.save(path)` through `temporary_checkpoint(path)`: a kill or a full disk while
    saving leaves the previous file whole, never a truncated zip."""
    temporary = temporary_checkpoint(path)
    with writing(path, temporary):
        model.save(temporary)
    os.replace(temporary, path)


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` that saves to `temporary_checkpoint(filepath)` and then
    renames it onto `filepath`, so that a kill while saving keeps the previous checkpoint.

    Args:
        filepath: str or Path, a `.keras` file (no formatting fields).
        **kwargs: `keras.callbacks.ModelCheckpoint`'s (epoch saving only).
    """

    def __init__(self, filepath, **kwargs):
        self.final_path = pathlib.Path(filepath)
        super().__init__(str(temporary_checkpoint(self.final_path)), **kwargs)

    def on_epoch_end(self, epoch, logs=None):
        with writing(self.final_path, self.filepath):
            super().on_epoch_end(epoch, logs)
        if os.path.exists(self.filepath):
            os.replace(self.filepath, self.final_path)


def run_callbacks(layout, train_config, backup, best_val_top1=None):
    """The callbacks that fill a run directory (`layout`, a `kerasrrn.runs.layout.RunLayout`).

    - `history.csv` (appended across resumes);
    - `checkpoints/best.keras` (best `val_top1`, also across resumes) and `checkpoints/last.keras`,
      each written under a temporary name and renamed;
    - TensorBoard logs in `logs/`;
    - `backup`, the run's `TrainingBackup`, last: an epoch counts as done only once everything
      above is written, so a kill in between repeats the epoch rather than losing its files;
    - optionally `ReduceLROnPlateau` on `val_loss`.
    """
    layout.checkpoints.mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(str(layout.history), append=True),
        AtomicModelCheckpoint(
            layout.best_checkpoint, monitor="val_top1", mode="max", save_best_only=True,
            initial_value_threshold=best_val_top1,
        ),
        AtomicModelCheckpoint(layout.last_checkpoint),
        keras.callbacks.TensorBoard(str(layout.logs)),
        backup,
    ]
    if train_config.reduce_lr_on_plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=3))
    return callbacks
