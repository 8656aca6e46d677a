"""The tiny training run that command tests share (4 classes, 32 px, 4 frames, 2 epochs)."""

CLIP_LENGTH, IMAGE_SIZE, NUM_TEST_CLIPS = 4, 32, 2


def tiny_run_argv(root, name="t"):
    return [
        "--run-dir", str(root), "--name", name, "--data-dir", str(root / "data"),
        "--synthetic-num-classes", "4", "--synthetic-videos-per-class", "4",
        "--synthetic-frames", "8", "--synthetic-frame-size", str(IMAGE_SIZE),
        "--image-size", str(IMAGE_SIZE), "--clip-length", str(CLIP_LENGTH), "--frame-step", "1",
        "--width", "0.125", "--epochs", "2", "--batch-size", "4",
        "--num-test-clips", str(NUM_TEST_CLIPS), "--skip-units", "conv4_block2", "--verbose", "0", "--no-export",
    ]
