"""Fixtures of the checks on a finished workflow run (pytest tests/workflow --workdir DIR)."""
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def workdir(request):
    value = request.config.getoption("--workdir")
    if value is None:
        pytest.fail("pass --workdir DIR (the directory of a finished workflow run)")
    return Path(value)


@pytest.fixture(scope="module")
def config(workdir):
    """The config the run used, as the run recorded it (rules/report.smk, rule run_config):
    the checks hold for any valid config, not only config/ci.yaml."""
    import yaml

    recorded = workdir / "results" / "run_config.yaml"
    if not recorded.is_file():
        pytest.fail(f"{recorded} does not exist: finish the run first (snakemake --directory {workdir})")
    return yaml.safe_load(recorded.read_text())
