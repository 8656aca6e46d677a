"""The argparse types and the error lines every command shares."""

import argparse

import pytest

from pipelines import cli


def test_an_output_directory_may_be_missing_or_a_directory_but_not_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    assert cli.not_a_directory(tmp_path, tmp_path / "missing") is None
    assert cli.not_a_directory(tmp_path, tmp_path / "file", tmp_path / "missing") == tmp_path / "file"
    assert cli.directory_path(str(tmp_path / "missing")) == str(tmp_path / "missing")
    with pytest.raises(argparse.ArgumentTypeError, match="file exists and is not a directory"):
        cli.directory_path(str(tmp_path / "file"))


def test_a_damaged_input_returns_1_and_any_other_input_error_exits_2(capsys):
    from pipelines.records import DatasetError

    parser = cli.OneLineArgumentParser(prog="cmd")
    assert parser.input_error(DatasetError("shard.tfrecord: truncated record 3")) == 1
    assert capsys.readouterr().err == "cmd: error: shard.tfrecord: truncated record 3\n"
    with pytest.raises(SystemExit) as exited:
        parser.input_error(FileNotFoundError("no dataset.json in /data"))
    assert exited.value.code == 2
    assert capsys.readouterr().err == "cmd: error: no dataset.json in /data\n"
