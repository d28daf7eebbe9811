"""Speed benchmarks (CSV out). Run them from the repository root as modules
(``python -m bench.<name>``), so that the project's packages import."""
from __future__ import annotations

import csv
from pathlib import Path


def model_name(path) -> str:
    """A model folder's alias: ``resources/models/<alias>/hf`` -> ``<alias>``."""
    path = Path(path)
    return path.parent.name if path.name == "hf" else path.name


def write_csv(rows: list[dict], out) -> None:
    """Rows (same keys) to a CSV file, its folder made as needed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
