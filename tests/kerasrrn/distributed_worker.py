"""One process of the distributed training test (`training/test_distribution.py`), CPU only.

    python -m tests.kerasrrn.distributed_worker OUT_DIR worker     # one MWMS worker (TF_CONFIG)
    python -m tests.kerasrrn.distributed_worker OUT_DIR reference  # model.fit, 2 CPU replicas

A worker first checks whether plain `model.fit` works under MWMS, then trains a fresh model
with `kerasrrn.training.distribution.fit` (its `fit_distributed` loop). The reference trains the same model
on the same batches with Keras' own `model.fit` under `MirroredStrategy` over two logical CPU
devices: two replicas of PER_REPLICA_BATCH clips each, like the two workers. Each process writes
to OUT_DIR/<name>/: `initial.npz` and `final.npz` (every model weight, by index),
`result.json` (history, chief or not, weight names and which are trainable, the model.fit error if any) and its run files in `run/`.
"""

import json
import os
import pathlib
import sys

import numpy as np

NUM_CLASSES, CLIP_LENGTH, IMAGE_SIZE = 3, 4, 32
PER_REPLICA_BATCH, REPLICAS = 2, 2
STEPS_PER_EPOCH, EPOCHS = 3, 2
TRAIN_CLIPS, VAL_CLIPS = 12, 7  # 7: the last validation batch splits unevenly (2 + 1).


def clips_and_labels(count, seed):
    """Random clips `(count, T, S, S, 3)` in [0, 255] whose brightness tells the class."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % NUM_CLASSES
    noise = rng.uniform(0, 100, (count, CLIP_LENGTH, IMAGE_SIZE, IMAGE_SIZE, 3))
    return (noise + 70 * labels[:, None, None, None, None]).astype("float32"), labels.astype("int32")


def build_compiled_model(strategy):
    import keras

    from kerasrrn.training.compile import training_metrics
    from kerasrrn.models import build_rrn

    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = build_rrn(
            num_classes=NUM_CLASSES, clip_length=CLIP_LENGTH, image_size=IMAGE_SIZE, depth=18,
            width=0.125, skip_units=("conv4_block2",),
        )
        model.compile(
            optimizer=keras.optimizers.AdamW(3e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=training_metrics(NUM_CLASSES),
        )
    return model


def datasets(strategy):
    import tensorflow as tf

    from kerasrrn.training import distribution as distribute

    batch_size = distribute.global_batch_size(PER_REPLICA_BATCH, strategy)
    train = tf.data.Dataset.from_tensor_slices(clips_and_labels(TRAIN_CLIPS, seed=0))
    val = tf.data.Dataset.from_tensor_slices(clips_and_labels(VAL_CLIPS, seed=1))
    # In memory, no files: DATA sharding, so worker i gets replica i's part of each batch.
    return (
        distribute.shard_by_worker(train.batch(batch_size, drop_remainder=True).repeat(), 0, strategy),
        distribute.shard_by_worker(val.batch(batch_size), 0, strategy),
    )


def model_fit_error(strategy):
    """The error of one step of plain `model.fit` under `strategy`, or None if it works."""
    model = build_compiled_model(strategy)
    train, _ = datasets(strategy)
    try:
        model.fit(train, epochs=1, steps_per_epoch=1, verbose=0)
    except Exception as error:  # the test pins which error it is
        return f"{type(error).__name__}: {error}"
    return None


def train(strategy, out_dir, check_model_fit):
    import keras

    from kerasrrn.training import distribution as distribute

    result = {"fit_error": model_fit_error(strategy) if check_model_fit else None}
    model = build_compiled_model(strategy)
    np.savez(out_dir / "initial.npz", *[weight.numpy() for weight in model.weights])
    train_dataset, val_dataset = datasets(strategy)
    with distribute.worker_directory(out_dir / "run", strategy) as write_path:
        write_path.mkdir(parents=True)
        callbacks = [
            keras.callbacks.ModelCheckpoint(str(write_path / "last.keras")),
            keras.callbacks.CSVLogger(str(write_path / "history.csv")),
        ]
        history = distribute.fit(
            model, train_dataset, val_dataset, strategy=strategy, epochs=EPOCHS,
            steps_per_epoch=STEPS_PER_EPOCH, callbacks=callbacks, verbose=0,
        )
        result["wrote"] = sorted(path.name for path in write_path.iterdir())
    np.savez(out_dir / "final.npz", *[weight.numpy() for weight in model.weights])
    result.update(history=history.history, is_chief=distribute.is_chief(strategy),
                  replicas=strategy.num_replicas_in_sync,
                  weight_names=[weight.path for weight in model.weights],
                  trainable=[weight.trainable for weight in model.weights])
    (out_dir / "result.json").write_text(json.dumps(result))


def main(out_dir, role):
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import tensorflow as tf

    from kerasrrn.training import distribution as distribute

    if role == "worker":
        strategy = distribute.strategy_for("auto")
        out_dir = pathlib.Path(out_dir) / f"worker{strategy.cluster_resolver.task_id}"
    else:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * REPLICAS)
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{index}" for index in range(REPLICAS)])
        out_dir = pathlib.Path(out_dir) / "reference"
    out_dir.mkdir(parents=True)
    train(strategy, out_dir, check_model_fit=role == "worker")


if __name__ == "__main__":
    main(*sys.argv[1:])
