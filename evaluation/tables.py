"""Tables from per-run metric files: nothing here trains, generates or scores.

Metric files live at ``results/metrics/{model}/{method}/seed{seed}/{name}.json``:
``toxicity.json`` (scripts/score_toxicity.py) and one ``{suite}.json`` per utility
suite (scripts/benchmark.py). A suite's column is named ``{suite}_{k}shot`` (e.g.
``mmlu_5shot``, ``commonsense_0shot``), in percent like the paper.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

RUN_PATH = re.compile(r"(?P<model>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)/(?P<name>[^/]+)\.json$")
TOXICITY_COLUMNS = ["toxicity_pct", "toxicity_ci_low", "toxicity_ci_high", "n_prompts", "n_samples", "scorer"]
BENCH_PATH = re.compile(
    r"benchmarks/(?P<job>[^/]+)/(?:(?P<model>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)(?:\.(?P<suite>[^/]+))?|(?P<single>[^/]+))\.tsv$"
)


def read_run_metrics(files) -> pd.DataFrame:
    """One row per (model, method, seed) with every metric found in ``files``."""
    runs: dict[tuple, dict] = {}
    for file in map(str, files):
        match = RUN_PATH.search(file)
        if not match:
            raise ValueError(f"{file}: not a run metric path (expected .../{{model}}/{{method}}/seed{{seed}}/{{name}}.json)")
        key = (match["model"], match["method"], int(match["seed"]))
        row = runs.setdefault(key, {"model": key[0], "method": key[1], "seed": key[2]})
        data = json.loads(Path(file).read_text())
        if match["name"] == "toxicity":
            row.update({column: data[column] for column in TOXICITY_COLUMNS})
        else:
            row[f"{match['name']}_{data['num_fewshot']}shot"] = data["mean_pct"]
    return pd.DataFrame(list(runs.values()))


def _ordered(frame: pd.DataFrame, methods, models) -> pd.DataFrame:
    frame = frame.copy()
    frame["_model"] = frame["model"].map({m: i for i, m in enumerate(models)})
    frame["_method"] = frame["method"].map({m: i for i, m in enumerate(methods)})
    return frame.sort_values(["_model", "_method"] + (["seed"] if "seed" in frame else [])).drop(columns=["_model", "_method"])


def main_table(runs: pd.DataFrame, methods, models) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's main table: toxicity (%) and utility per model and method.

    Returns (per-seed rows, one row per model and method). With one seed the
    toxicity interval is the run's prompt-level bootstrap; with several, the mean's
    95% t-interval across seeds.
    """
    from evaluation.stats import mean_ci

    by_seed = _ordered(runs, methods, models).reset_index(drop=True)
    utility = [column for column in by_seed.columns if column.endswith("shot")]
    rows = []
    for (model, method), group in by_seed.groupby(["model", "method"], sort=False):
        row = {"model": model, "method": method}
        if len(group) == 1:
            row.update(group.iloc[0][["toxicity_pct", "toxicity_ci_low", "toxicity_ci_high"]].to_dict())
            row["interval"] = "bootstrap over prompts"
        else:
            mean, (low, high) = mean_ci(group["toxicity_pct"].tolist())
            row.update(toxicity_pct=mean, toxicity_ci_low=low, toxicity_ci_high=high, interval="t over seeds")
        for column in utility:
            row[column] = group[column].mean()
        row.update(
            n_prompts=int(group["n_prompts"].iloc[0]), n_samples=int(group["n_samples"].iloc[0]),
            seed=",".join(str(seed) for seed in group["seed"]), n_seeds=len(group), scorer=group["scorer"].iloc[0],
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    numeric = ["toxicity_pct", "toxicity_ci_low", "toxicity_ci_high"] + utility
    table[numeric] = table[numeric].astype(float).round(2)
    return by_seed, table


def cost_table(files) -> pd.DataFrame:
    """Wall time and peak memory of every job, from Snakemake's ``benchmark:`` files."""
    rows = []
    for file in map(str, files):
        match = BENCH_PATH.search(file)
        if not match:
            raise ValueError(f"{file}: not a benchmark path (expected benchmarks/{{rule}}/...tsv)")
        data = pd.read_csv(file, sep="\t")
        record = data.iloc[-1]  # the last repeat when `repeat()` is used
        rows.append({
            "job": match["job"],
            "model": match["model"] or "",
            "method": match["method"] or "",
            "seed": match["seed"] or "",
            "suite": match["suite"] or "",
            "wall_s": round(float(record["s"]), 1),
            "cpu_time_s": round(float(record.get("cpu_time", float("nan"))), 1),
            "max_rss_mb": round(float(record["max_rss"]), 1) if record["max_rss"] != "-" else None,
        })
    return pd.DataFrame(rows)
