"""`kerasrrn.runs.loading.streaming_form`: a fused MRRN run streams with its streams' configs."""

import json

import numpy as np

from kerasrrn import config as config_lib
from kerasrrn.models import build_fused_mrrn, build_model
from kerasrrn.runs.loading import TrainedRun, streaming_form

NUM_CLASSES = 3


def write_run(path, config, model):
    (path / "checkpoints").mkdir(parents=True)
    config_lib.save(config, path / "config.json")
    model.save(path / "checkpoints" / "best.keras")
    return path


def stream_config(stream, time_pooling):
    config = config_lib.Config()
    config.data.clip_length, config.data.image_size = 3, 32
    config.model.model, config.model.stream, config.model.time_pooling = "mrrn", stream, time_pooling
    config.model.depth, config.model.width, config.model.sru_units, config.model.sru_layers = 18, 0.125, 8, 1
    return config


def test_a_fused_run_streams_each_stream_with_its_own_config(tmp_path):
    configs = [stream_config("low", "max"), stream_config("high", "mean")]
    models = [build_model(config, NUM_CLASSES) for config in configs]
    runs = [write_run(tmp_path / model.name, config, model) for config, model in zip(configs, models)]
    fused = build_fused_mrrn(models, [0.4, 0.6])
    fused_run = write_run(tmp_path / "fused", configs[0], fused)
    (fused_run / "fusion.json").write_text(json.dumps({"streams": [
        {"run": str(run), "model": model.name, "weight": weight}
        for run, model, weight in zip(runs, models, [0.4, 0.6])]}))

    stream = streaming_form(TrainedRun.open(fused_run), fused)
    # The high stream's head only exists with the high stream's config (conv5, mean pooling).
    assert {"mrrn_low__time_pool_total", "mrrn_high__time_pool_total", "mrrn_high__sru_1_state"} <= set(stream.state_shapes)
    frames = np.random.default_rng(0).integers(0, 256, (1, 3, 32, 32, 3), np.uint8)
    state = stream.initial_state(1)
    for index in range(3):
        probabilities, clip_probabilities, state = stream.step(frames[:, index], state)
    expected = np.asarray(fused(frames.astype("float32")))
    np.testing.assert_allclose(clip_probabilities, expected, atol=1e-5)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
