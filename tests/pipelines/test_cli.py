"""The argparse types every command shares."""

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
