import keras
import numpy as np
import pytest

from kerasrrn import config as config_lib
from kerasrrn.training.compile import compile_model
from kerasrrn.training.history import best_val_top1, truncate_history
from kerasrrn.training.phases import set_backbone_trainable
from kerasrrn.training.losses import SparseSmoothedCrossentropy
from kerasrrn.models import build_rrn
from kerasrrn.models.resnet import is_backbone_layer
from kerasrrn.training.schedules import WarmupDecay


def test_warmup_then_cosine_step_and_constant():
    cosine = WarmupDecay(1.0, warmup_steps=10, total_steps=110, decay="cosine")
    # warm-up: 0.1 at step 0, linear to 1.0 at step 10; cosine: half-way (step 60) is 0.5.
    for step, expected in [(0, 0.1), (5, 0.55), (10, 1.0), (60, 0.5), (110, 0.0), (500, 0.0)]:
        assert float(cosine(step)) == pytest.approx(expected, abs=1e-6), step
    step = WarmupDecay(0.2, warmup_steps=0, total_steps=100, decay="step", step_every=30)
    for at, expected in [(0, 0.2), (29, 0.2), (30, 0.02), (61, 0.002)]:
        assert float(step(at)) == pytest.approx(expected, rel=1e-5), at
    assert float(WarmupDecay(0.3, 0, 10, "constant")(7)) == pytest.approx(0.3)
    assert WarmupDecay.from_config(cosine.get_config()).get_config() == cosine.get_config()


def test_label_smoothing_matches_keras_categorical_crossentropy():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")
    labels = np.array([0, 1])
    ours = SparseSmoothedCrossentropy(0.1)(labels, probabilities)
    reference = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(3)[labels], probabilities)
    assert float(ours) == pytest.approx(float(reference), rel=1e-5)
    plain = keras.losses.SparseCategoricalCrossentropy()(labels, probabilities)
    assert float(SparseSmoothedCrossentropy(0.0)(labels, probabilities)) == pytest.approx(float(plain), rel=1e-5)


def test_freezing_the_backbone_keeps_one_optimizer_and_trains_only_the_head():
    model = build_rrn(3, 2, 32, 18, 0.125, ("conv4_block2",), skip_kind="channel")
    train_config = config_lib.TrainConfig(clipnorm=1.0, label_smoothing=0.1, epochs=2)
    compile_model(model, train_config, steps_per_epoch=1, num_classes=3)
    optimizer = model.optimizer
    # Pixels close to the ImageNet mean: an untrained frozen backbone (batch norm in inference
    # mode) then does not saturate the softmax, so the head gets gradients.
    clips = np.random.default_rng(0).normal(118, 2, (2, 2, 32, 32, 3)).astype("float32")
    labels = np.array([0, 2])
    snapshot = lambda name: [np.array(w) for w in model.get_layer(name).get_weights()]

    set_backbone_trainable(model, False, is_backbone_layer)
    compile_model(model, train_config, 1, 3, optimizer)
    conv, head = snapshot("conv4_block2_1_conv"), snapshot("predictions")
    model.train_on_batch(clips, labels)
    assert all(np.array_equal(a, b) for a, b in zip(conv, snapshot("conv4_block2_1_conv")))
    assert not np.allclose(head[0], snapshot("predictions")[0])

    set_backbone_trainable(model, True, is_backbone_layer)
    compile_model(model, train_config, 1, 3, optimizer)
    model.train_on_batch(clips, labels)
    assert not np.allclose(conv[0], snapshot("conv4_block2_1_conv")[0])
    assert int(model.optimizer.iterations) == 2 and model.optimizer is optimizer


def test_history_of_a_resumed_run_keeps_completed_epochs_and_their_best(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_top1\n0,2.0,0.25\n1,1.5,0.5\n2,1.2,0.75\n")
    assert best_val_top1(path, completed_epochs=2) == 0.5
    truncate_history(path, completed_epochs=2)
    assert path.read_text().splitlines() == ["epoch,loss,val_top1", "0,2.0,0.25", "1,1.5,0.5"]
    assert best_val_top1(tmp_path / "missing.csv", 0) is None
