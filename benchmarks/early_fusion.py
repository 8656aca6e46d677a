"""The yardstick of issue #13: a plain early-fusion CNN, NOT one of the project's models.

The clip's T frames, cropped and jittered by the same in-model augmentation as `fit`'s models
and ImageNet-normalised, are stacked as 3T channels of one small 2D CNN (4 conv-BN-ReLU
blocks, global pooling, softmax), trained with Adam on the same prepared dataset and input
pipeline (`kerasrrn.runs.data`), and evaluated video level on every test view with the weights
of its best `val_top1` epoch, the rule `fit` applies to its models (`best.keras`). Prints one JSON line: top1, per_class, train_top1, seconds.

    python benchmarks/early_fusion.py --data-dir DIR [--epochs 30] [--clip-length 8] ...
"""

import argparse
import json
import time

import keras

from kerasrrn import config as config_lib
from kerasrrn.evaluation import views
from kerasrrn.layers import UnfoldTime
from kerasrrn.models.inputs import input_and_folded_frames
from kerasrrn.models.registry import augmentation_of
from kerasrrn.runs.data import load_run_data
from kerasrrn.training.compile import training_metrics


def build_early_fusion(num_classes, clip_length, image_size, augmentation, width=32):
    """`(B, T, H, W, 3)` pixels -> probabilities `(B, num_classes)`: frames as channels."""
    frames, folded = input_and_folded_frames(clip_length, image_size, augmentation)
    clips = UnfoldTime(clip_length)(folded)  # (B, T, S, S, 3)
    stacked = keras.layers.Permute((2, 3, 1, 4))(clips)
    x = keras.layers.Reshape((image_size, image_size, 3 * clip_length))(stacked)
    for index, filters in enumerate((width, 2 * width, 4 * width, 8 * width)):
        x = keras.layers.Conv2D(filters, 3, strides=1 if index == 0 else 2, padding="same", use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(frames, probabilities, name="early_fusion")


def main(argv=None):
    config = config_lib.Config()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--clip-length", type=int, default=8)
    parser.add_argument("--frame-step", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--num-test-clips", type=int, default=4)
    parser.add_argument("--val-split", default="validation")
    parser.add_argument("--seed", type=int, default=config.train.seed, help="as fit's --seed")
    args = parser.parse_args(argv)
    config.train.seed = args.seed
    data_config = config.data
    data_config.source, data_config.data_dir, data_config.val_split = "prepared", args.data_dir, args.val_split
    data_config.clip_length, data_config.frame_step = args.clip_length, args.frame_step
    data_config.image_size, data_config.num_test_clips = args.image_size, args.num_test_clips
    keras.utils.set_random_seed(config.train.seed)
    data = load_run_data(config)
    model = build_early_fusion(len(data.class_names), args.clip_length, args.image_size, augmentation_of(data_config))
    model.compile(keras.optimizers.Adam(args.learning_rate), "sparse_categorical_crossentropy",
                  metrics=training_metrics(len(data.class_names)))
    steps = data.steps_per_epoch(args.batch_size)
    # Never stops early: it only restores the best epoch's weights at the end, as fit's best.keras.
    best_epoch = keras.callbacks.EarlyStopping("val_top1", mode="max", patience=args.epochs, restore_best_weights=True)
    started = time.time()
    history = model.fit(data.train_dataset(args.batch_size).repeat(), epochs=args.epochs, steps_per_epoch=steps,
                        validation_data=data.val_dataset(args.batch_size), verbose=2, callbacks=[best_epoch])
    seconds = time.time() - started
    report, *_ = views.video_report(*data.predict_views(model, data.val_split, args.batch_size, 0), data.class_names)
    per_class = {name: value["accuracy"] for name, value in report["per_class"].items()}
    print(json.dumps({"model": "early_fusion", "top1": report["top1"], "per_class": per_class,
                      "train_top1": history.history["top1"][-1],
                      "best_val_top1": max(history.history["val_top1"]), "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
