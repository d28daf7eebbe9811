"""Checks on the paper comparisons and the executed notebook of a finished workflow run
(pytest tests/workflow --workdir DIR)."""
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from evaluation.compare import COLUMNS

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def workdir(request):
    value = request.config.getoption("--workdir")
    if value is None:
        pytest.fail("pass --workdir DIR (the directory of a finished workflow run)")
    if 'include: "rules/paper.smk"' not in (REPO / "Snakefile").read_text():
        pytest.skip("the Snakefile does not include rules/paper.smk")
    return Path(value)


def _enabled(config):
    tables = ["main"]
    if (config["evaluation"].get("winrate") or {}).get("judge"):
        tables.append("winrate")
    if (config.get("jigsaw") or {}).get("enabled"):
        tables.append("jigsaw")
    return tables


def test_every_enabled_table_is_compared_with_the_paper(workdir, config):
    paper = pd.read_csv(REPO / "results/paper/paper_reported.csv")
    models = (config.get("paper_comparison") or {}).get("models") or {}
    for name in _enabled(config):
        frame = pd.read_csv(workdir / f"results/tables/paper_comparison_{name}.csv")
        assert list(frame.columns[: len(COLUMNS)]) == COLUMNS, name
        assert set(frame["our_model"]) == set(models), name
        ours = pd.read_csv(workdir / f"results/tables/{name}.csv")
        # every value of ours and every paper number of the mapped models appear
        assert frame["ours"].notna().sum() > 0, name
        paper_rows = paper[(paper["table"] == name) & paper["model"].isin(models.values())]
        assert frame["paper"].notna().sum() == len(paper_rows), name
        both = frame.dropna(subset=["ours", "paper"])
        assert ((both["ours"] - both["paper"]).round(6) == both["difference"]).all(), name
        assert len(ours) > 0
        png = (workdir / f"results/plots/paper_comparison_{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n", name


def test_the_notebook_ran_without_errors(workdir):
    notebook = nbformat.read(workdir / "results/paper_tables.ipynb", as_version=4)
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.output_type == "error"]
    assert sum("image/png" in output.get("data", {}) for output in outputs) >= 3  # main, cost, comparison
