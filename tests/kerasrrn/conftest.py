import pytest

from tests.kerasrrn.tiny_run import tiny_run_argv


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run directory trained once per session (see `tests/kerasrrn/tiny_run.py`)."""
    from kerasrrn import fit

    root = tmp_path_factory.getbasetemp() / "tiny-run"
    assert fit.main(tiny_run_argv(root)) == 0
    return root / "t"
