"""The callbacks that fill a run directory while it trains."""

import keras


def run_callbacks(layout, train_config, backup, best_val_top1=None):
    """The callbacks that fill a run directory (`layout`, a `kerasrrn.runs.layout.RunLayout`).

    - `history.csv` (appended across resumes);
    - `checkpoints/best.keras` (best `val_top1`, also across resumes) and `checkpoints/last.keras`;
    - TensorBoard logs in `logs/`;
    - `backup`, the run's `TrainingBackup`, last: an epoch counts as done only once everything
      above is written, so a kill in between repeats the epoch rather than losing its files;
    - optionally `ReduceLROnPlateau` on `val_loss`.
    """
    layout.checkpoints.mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(str(layout.history), append=True),
        keras.callbacks.ModelCheckpoint(
            str(layout.best_checkpoint), monitor="val_top1", mode="max", save_best_only=True,
            initial_value_threshold=best_val_top1,
        ),
        keras.callbacks.ModelCheckpoint(str(layout.last_checkpoint)),
        keras.callbacks.TensorBoard(str(layout.logs)),
        backup,
    ]
    if train_config.reduce_lr_on_plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=3))
    return callbacks
