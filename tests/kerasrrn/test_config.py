import json
import subprocess
import sys

import pytest

from kerasrrn import config as config_lib
from kerasrrn.cli import flags
from kerasrrn.fit import build_parser


def parse(argv):
    return flags.parse_config(build_parser(), argv)[1]


def test_defaults_then_file_then_flags(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"model": {"depth": 34, "skip_units": ["conv4_block3"]}, "train": {"epochs": 3}}))
    config = parse(["--config", str(path), "--epochs", "5", "--skip-units", "conv4_block2,conv5_block2", "--flip"])
    assert config.model.depth == 34
    assert config.train.epochs == 5
    assert config.model.skip_units == ["conv4_block2", "conv5_block2"]
    assert config.data.flip is True
    assert config.train.batch_size == config_lib.TrainConfig().batch_size


def test_yaml_config_and_save_round_trip(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  clip_length: 4\nmodel:\n  model: resnet\n")
    config = parse(["--config", str(path)])
    assert (config.data.clip_length, config.model.model) == (4, "resnet")
    config_lib.save(config, tmp_path / "saved.json")
    assert config_lib.load(tmp_path / "saved.json") == config


@pytest.mark.parametrize(
    "content, message",
    [
        ({"modle": {}}, "unknown section 'modle'"),
        ({"model": {"dept": 18}}, "unknown key model.dept"),
        ({"train": 5}, "section train must be a mapping of keys to values, got 5"),
        ({"model": {"depth": 19}}, "model.depth: expected one of 18, 34, 50, 101, 152, got 19"),
        ({"train": {"epochs": "ten"}}, "train.epochs: expected an integer, got 'ten'"),
        ({"train": {"epochs": 0}}, "train.epochs: expected a value >= 1, got 0"),
        ({"data": {"flip": "yes"}}, "data.flip: expected true or false"),
    ],
)
def test_bad_config_files_name_the_key(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.load(path)


def test_run_name_follows_the_config_but_not_where_it_runs():
    a, b = config_lib.Config(), config_lib.Config()
    b.train.run_dir = "elsewhere"
    assert a.run_name == b.run_name and a.run_name.startswith("rrn-")
    b.model.skip_delay = 3
    assert a.run_name != b.run_name


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "x"], "--epochs: expected an integer, got 'x'"),
        (["--model", "cnn"], "--model: expected one of rrn, resnet"),
        (["--epochs", "-1"], "--epochs: expected a value >= 1, got -1"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--skip-units", "conv9_block1"], "Unknown residual unit 'conv9_block1'"),
        (["--clip-length", "4", "--skip-delay", "4"], "delay=4"),
        (["--source", "prepared"], "--data-dir is required"),
        (["--config", "missing.json"], "--config missing.json: no such file"),
        (["--weights", "imagenet"], "--weights imagenet needs a ResNet-50/101/152 backbone"),
        (["--weights", "nowhere.h5", "--depth", "50", "--width", "1"], "--weights nowhere.h5: no such file"),
        (["--label-smoothing", "2"], "--label-smoothing: expected a fraction in [0, 1), got 2.0"),
        (["--width", "nan"], "--width: expected a finite number, got nan"),
        (["--learning-rate", "inf"], "--learning-rate: expected a finite number, got inf"),
        (["--min-crop-scale", "1.5"], "--min-crop-scale: expected an area fraction in (0, 1], got 1.5"),
        (["--dropout", "1"], "--dropout: expected a rate in [0, 1), got 1.0"),
        (["--freeze-backbone-epochs", "3", "--epochs", "3"], "--freeze-backbone-epochs 3: must be below --epochs 3"),
        (["--reduce-lr-on-plateau"], "--reduce-lr-on-plateau: needs --schedule constant --warmup-epochs 0"),
        (["--model", "rrn", "--skip-units", ""], "--skip-units: an rrn needs at least one unit"),
        (["--skip-init", "sum"], "--skip-init: expected one of default, difference"),
        (["--frame-grid", "3"], "--frame-grid 3: must divide the conv5 map of rrn, 2x2 at --image-size 64"),
        (["--model", "mrrn_shared", "--frame-grid", "4"], "the conv5 map of mrrn_shared, 2x2"),
        (["--model", "mrrn", "--stream", "mid", "--image-size", "112", "--frame-grid", "2"],
         "the conv4 map of mrrn, 7x7 at --image-size 112"),
    ],
)
def test_fit_usage_errors_exit_2_with_one_line(argv, message, tmp_path, monkeypatch, capsys):
    from kerasrrn.fit import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--run-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m kerasrrn.fit: error:")
    assert message in lines[0]
    assert not (tmp_path / "data").exists()


def test_usage_error_exit_status_from_the_command_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "kerasrrn.fit", "--image-size", "big"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "python -m kerasrrn.fit: error: --image-size: expected an integer, got 'big'"
    )


def test_every_choice_flag_reads_the_choices_of_the_code_that_implements_them():
    from kerasrrn import choices
    from kerasrrn.layers import clip_crop, sru, temporal_skip
    from kerasrrn.models import heads, mrrn, pretrained, registry, resnet
    from kerasrrn.training import compile, distribution, runtime, schedules
    from pipelines import clips

    owners = {
        "source": config_lib.SOURCES, "train_crop": clip_crop.CROP_MODES,
        "short_video": clips.SHORT_VIDEO_MODES, "model": registry.MODELS, "depth": resnet.DEPTHS,
        "skip_kind": temporal_skip.KINDS, "skip_init": temporal_skip.INITS, "stream": mrrn.STREAMS, "sru_variant": sru.VARIANTS,
        "time_pooling": heads.TIME_POOLINGS, "optimizer": compile.OPTIMIZERS,
        "schedule": schedules.DECAYS, "strategy": distribution.STRATEGIES,
        "precision": runtime.PRECISIONS, "verbose": config_lib.VERBOSITIES,
    }
    with_choices = {name for name, (_, field) in config_lib.field_index().items() if field.metadata["choices"]}
    assert with_choices == set(owners)
    for name, owner in owners.items():
        assert config_lib.field_index()[name][1].metadata["choices"] is owner, name
    # The owners act on exactly these names.
    assert set(registry.MODELS) == set(registry.BUILDERS) and set(resnet.DEPTHS) == set(resnet.STAGE_BLOCKS)
    assert set(mrrn.STREAMS) == set(mrrn.STREAM_STAGES)
    assert set(pretrained.APPLICATIONS) == set(choices.IMAGENET_DEPTHS)


def test_validate_checks_a_config_built_in_code_as_the_flags_do():
    config = config_lib.Config()
    config.train.label_smoothing = 1.0
    with pytest.raises(config_lib.ConfigError, match=r"--label-smoothing: expected a fraction in \[0, 1\)"):
        config.validate()
    config = config_lib.Config()
    config.model.model, config.model.skip_units = "resnet", []
    config.validate()  # a resnet has no skips to check


def test_steps_per_epoch_does_not_hide_a_batch_larger_than_the_training_set(tmp_path, monkeypatch, capsys):
    from kerasrrn.fit import main

    monkeypatch.chdir(tmp_path)
    argv = ["--synthetic-num-classes", "2", "--synthetic-videos-per-class", "2", "--synthetic-frames", "4",
            "--synthetic-frame-size", "32", "--image-size", "32", "--clip-length", "2", "--skip-delay", "1", "--skip-units",
            "conv4_block2", "--batch-size", "8", "--steps-per-epoch", "5", "--run-dir", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "--batch-size 8: a global batch of 8 is larger than the 4 training videos" in capsys.readouterr().err

