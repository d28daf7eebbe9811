"""The Jigsaw table and plot, from per-run metric files only (nothing here trains or scores).

Metric files: ``results/jigsaw/metrics/{model}/{method}/seed{seed}/toxicity.json``
(mean generation-toxicity score, ``scripts/jigsaw_score_toxicity.py``) and ``auc.json``
(classification ROC AUC, ``scripts/jigsaw_auc.py``). Columns follow the paper's Jigsaw
table (Meng et al. 2024): ``api_toxicity`` is the mean toxicity score in [0, 1] of the
model's generations (the paper's "API toxicity", a mean Perspective score; ``scorer``
names the scorer actually used), ``classify_roc_auc`` the ROC AUC on held-out comments.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

RUN_PATH = re.compile(r"(?P<model>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)/(?P<name>toxicity|auc)\.json$")
COLUMNS = ["model", "method", "api_toxicity", "api_toxicity_ci_low", "api_toxicity_ci_high", "classify_roc_auc",
           "classify_roc_auc_ci_low", "classify_roc_auc_ci_high", "n_test", "n_prompts", "n_samples", "scorer", "seed", "n_seeds", "interval"]


def read_jigsaw_metrics(files) -> pd.DataFrame:
    """One row per (model, method, seed) with its toxicity and ROC AUC metrics."""
    runs: dict[tuple, dict] = {}
    for file in map(str, files):
        match = RUN_PATH.search(file)
        if not match:
            raise ValueError(f"{file}: not a Jigsaw metric path (expected .../{{model}}/{{method}}/seed{{seed}}/toxicity.json or auc.json)")
        key = (match["model"], match["method"], int(match["seed"]))
        row = runs.setdefault(key, {"model": key[0], "method": key[1], "seed": key[2]})
        data = json.loads(Path(file).read_text())
        if match["name"] == "toxicity":
            row.update(api_toxicity=data["mean_toxicity"], api_toxicity_ci_low=data["mean_toxicity_ci_low"],
                       api_toxicity_ci_high=data["mean_toxicity_ci_high"], n_prompts=data["n_prompts"],
                       n_samples=data["n_samples"], scorer=data["scorer"])
        else:
            row.update(classify_roc_auc=data["roc_auc"], classify_roc_auc_ci_low=data["roc_auc_ci_low"],
                       classify_roc_auc_ci_high=data["roc_auc_ci_high"], n_test=data["n_test"])
    return pd.DataFrame(list(runs.values()))


def jigsaw_table(runs: pd.DataFrame, methods, models) -> pd.DataFrame:
    """One row per model and method. With one seed the intervals are the run's bootstraps
    (toxicity: over prompts; ROC AUC: over test comments); with several, the 95%
    t-intervals of the means across seeds."""
    from evaluation.stats import mean_ci

    missing = [column for column in ("api_toxicity", "classify_roc_auc") if column not in runs]
    if missing:
        raise ValueError(f"Jigsaw metrics lack {missing}: every run needs toxicity.json and auc.json")
    order = {(m, k): (i, j) for i, m in enumerate(models) for j, k in enumerate(methods)}
    rows = []
    for (model, method), group in runs.groupby(["model", "method"], sort=False):
        group = group.sort_values("seed")
        row = {"model": model, "method": method}
        for metric in ("api_toxicity", "classify_roc_auc"):
            if len(group) == 1:
                row.update(group.iloc[0][[metric, f"{metric}_ci_low", f"{metric}_ci_high"]].to_dict())
            else:
                mean, (low, high) = mean_ci(group[metric].tolist())
                row.update({metric: mean, f"{metric}_ci_low": low, f"{metric}_ci_high": high})
        row["interval"] = "bootstrap (prompts; test comments)" if len(group) == 1 else "t over seeds"
        row.update(
            n_test=int(group["n_test"].iloc[0]),
            n_prompts=int(group["n_prompts"].iloc[0]), n_samples=int(group["n_samples"].iloc[0]),
            scorer=group["scorer"].iloc[0], seed=",".join(str(seed) for seed in group["seed"]), n_seeds=len(group),
        )
        rows.append(row)
    rows.sort(key=lambda row: order.get((row["model"], row["method"]), (len(models), len(methods))))
    table = pd.DataFrame(rows, columns=COLUMNS)
    numeric = [column for column in COLUMNS if column.startswith(("api_toxicity", "classify_roc_auc"))]
    table[numeric] = table[numeric].astype(float).round(4)
    return table


def plot_jigsaw(table: pd.DataFrame, out_file) -> None:
    """Generation toxicity against classification ROC AUC, one point per model and method."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    markers = dict(zip(table["model"].unique(), "osD^v"))
    for index, (_, row) in enumerate(table.iterrows()):
        yerr = [[row["api_toxicity"] - row["api_toxicity_ci_low"]], [row["api_toxicity_ci_high"] - row["api_toxicity"]]]
        xerr = [[row["classify_roc_auc"] - row["classify_roc_auc_ci_low"]],
                [row["classify_roc_auc_ci_high"] - row["classify_roc_auc"]]]
        ax.errorbar(row["classify_roc_auc"], row["api_toxicity"], xerr=xerr, yerr=yerr, fmt=markers[row["model"]], capsize=3,
                    label=f"{row['model']}: {row['method']}")
        ax.annotate(row["method"], (row["classify_roc_auc"], row["api_toxicity"]), textcoords="offset points",
                    xytext=(5, 4 - 11 * (index % 2)), fontsize=8)  # alternate above/below: equal points stay legible
    scorers = ", ".join(sorted(table["scorer"].astype(str).unique()))
    ax.set_xlabel("ROC AUC on held-out comments, 95% CI  (higher is better)")
    ax.set_ylabel(f"mean generation toxicity ({scorers}), 95% CI\n(lower is better)")
    ax.set_title("Jigsaw variant: toxicity vs classification", loc="left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)
