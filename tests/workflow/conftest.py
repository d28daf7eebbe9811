"""Fixtures of the checks on a finished workflow run (pytest tests/workflow --workdir DIR)."""
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def workdir(request):
    value = request.config.getoption("--workdir")
    if value is None:
        pytest.fail("pass --workdir DIR (the directory of a finished workflow run)")
    return Path(value)
