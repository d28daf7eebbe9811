"""paper_tables.ipynb: reads only CSVs under results/, never imports torch; runs on hand-made tables."""
import ast
import os
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "paper_tables.ipynb"
# Modules that pull in torch or transformers, or code that trains or generates.
FORBIDDEN_MODULES = {"torch", "transformers", "lm_eval", "detoxify", "methods", "modeling", "nado", "corpora", "scripts",
                     "evaluation.generate", "evaluation.toxicity", "evaluation.benchmarks"}
READERS = {"read_csv"}
OTHER_IO = {"open", "read_text", "read_bytes", "read_json", "read_parquet", "read_pickle", "load", "loads", "imread",
            "system", "run", "Popen", "check_output"}


def _code_cells():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    return notebook, [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_notebook_has_a_python3_kernelspec_and_a_parameters_cell():
    notebook, cells = _code_cells()
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    parameters = [cell for cell in cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1 and "results_dir" in parameters[0].source and "paper_file" in parameters[0].source
    assert all(not cell.get("outputs") for cell in cells), "commit paper_tables.ipynb without outputs (the executed copy is results/)"


def test_notebook_code_imports_nothing_heavy_and_reads_only_csvs_under_results():
    _, cells = _code_cells()
    tree = ast.parse("\n\n".join(cell.source for cell in cells))  # plain Python: no magics
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    for module in imported:
        assert not any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN_MODULES), module
    calls = {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
             for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert READERS <= calls and not calls & OTHER_IO, calls & OTHER_IO
    # every file name it spells is a CSV, and every path starts from results_dir (or the paper file parameter)
    literals = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    files = [value for value in literals if re.search(r"\.(csv|tsv|jsonl?|png|txt|pkl|pickle|parquet|pt|bin|safetensors|ipynb|ya?ml)$", value)]
    assert files and all(value.endswith(".csv") for value in files), files
    assert any(value == "results" for value in literals)
    roots = {node.args[0].id for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "id", None) == "Path" and node.args and isinstance(node.args[0], ast.Name)}
    assert roots <= {"results_dir", "paper_file"}, roots


def _hand_made_results(root: Path) -> Path:
    from evaluation.compare import compare, read_paper

    tables = root / "results" / "tables"
    tables.mkdir(parents=True)
    (root / "results" / "paper").mkdir()
    shutil.copy(REPO / "results/paper/paper_reported.csv", root / "results/paper/paper_reported.csv")
    paper = read_paper(REPO / "results/paper/paper_reported.csv")
    main = pd.DataFrame({
        "model": ["tiny"] * 3, "method": ["base", "sft", "regularized_adaptive"],
        "toxicity_pct": [20.0, 25.0, 10.0], "toxicity_ci_low": [15.0, 20.0, 6.0], "toxicity_ci_high": [25.0, 30.0, 14.0],
        "interval": ["bootstrap over prompts"] * 3, "mmlu_5shot": [30.0, 28.0, 29.0], "commonsense_0shot": [55.0, 54.0, 56.0],
        "n_prompts": [12] * 3, "n_samples": [24] * 3, "seed": ["0"] * 3, "n_seeds": [1] * 3, "scorer": ["hand"] * 3,
    })
    main.to_csv(tables / "main.csv", index=False)
    main.drop(columns=["interval", "n_seeds"]).to_csv(tables / "main_by_seed.csv", index=False)
    winrate = pd.DataFrame({"model": ["tiny"] * 2, "winner": ["regularized_adaptive", "base"],
                            "loser": ["base", "regularized_adaptive"], "win_rate_pct": [62.5, 37.5]})
    winrate.to_csv(tables / "winrate.csv", index=False)
    pd.DataFrame({"job": ["train", "generate_toxicity", "generate_toxicity"], "model": ["tiny"] * 3,
                  "method": ["sft", "sft", "base"], "seed": [0] * 3, "suite": [""] * 3,
                  "wall_s": [3.0, 1.5, 1.0], "cpu_time_s": [2.0, 1.0, 0.5], "max_rss_mb": [900.0, 800.0, 700.0]}
                 ).to_csv(tables / "cost.csv", index=False)
    compare("main", main, paper, {"tiny": "llama-7b"}).to_csv(tables / "paper_comparison_main.csv", index=False)
    compare("winrate", winrate, paper, {"tiny": "llama-7b"}).to_csv(tables / "paper_comparison_winrate.csv", index=False)
    return root / "results"  # no jigsaw.csv: that section must be skipped


def test_notebook_runs_on_hand_made_tables(tmp_path, monkeypatch):
    pytest.importorskip("ipykernel", reason="executing the notebook needs a python3 kernel (pip install ipykernel)")
    from nbclient import NotebookClient

    results = _hand_made_results(tmp_path)
    notebook, _ = _code_cells()
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import sys\nassert not {'torch', 'transformers'} & set(sys.modules), 'the notebook imported torch'"))
    monkeypatch.setenv("ACFT_RESULTS_DIR", str(results))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    NotebookClient(notebook, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(str(output.get("text", "")) + str(output.get("data", {}).get("text/markdown", ""))
                     + str(output.get("data", {}).get("text/plain", ""))
                     for cell in notebook.cells for output in cell.get("outputs", []))
    assert "jigsaw.csv` was not produced by this run" in text
    assert "regularized_adaptive_over_base" in text and "toxigen_pct_toxic" in text
    images = sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))
    assert images >= 5  # main, win-rate matrix, cost, two comparisons
