"""Our tables beside the numbers the paper reports (results/paper/paper_reported.csv).

The paper's numbers come in long form: ``table, model, method, metric, value,
higher_is_better`` with tables ``main``, ``winrate``, ``jigsaw`` (METHOD.md sec. 6;
win rates in the reading given there: ``X_over_Y`` = how often X was preferred to Y).
Our tables are the workflow's CSVs; ``TABLES`` says which of our columns stands for
which of the paper's metrics. Our model aliases map to the paper's models through
``paper_comparison.models`` in the config (``{smollm2-135m: llama-7b}``); an alias
that is itself one of the paper's models (the paper profile) maps to itself.

Values of a stand-in model are not expected to match the paper's; what can agree is
the ordering of the methods, so every row also carries the method's rank in ours
and in the paper's (among the methods both sides have) and every metric Kendall's
tau-b between the two orderings.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd

PAPER_COLUMNS = ["table", "model", "method", "metric", "value", "higher_is_better"]
COLUMNS = [
    "table", "our_model", "paper_model", "method", "metric", "ours", "ours_ci_low", "ours_ci_high", "paper",
    "difference", "higher_is_better", "our_rank", "paper_rank", "same_rank", "kendall_tau", "n_ranked",
]


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """How one of our tables lines up with one of the paper's."""

    name: str  # the paper's table name, and results/tables/{file}
    file: str
    metrics: dict  # the paper's metric -> our column
    higher_is_better: dict  # the paper's metric -> bool (for rows the paper lacks)
    pairwise: bool = False  # rows are (winner, loser) pairs: method = "{winner}_over_{loser}"


TABLES = {
    "main": TableSpec(
        "main", "main.csv",
        metrics={"toxigen_pct_toxic": "toxicity_pct", "mmlu_5shot": "mmlu_5shot", "commonsense_0shot": "commonsense_0shot"},
        higher_is_better={"toxigen_pct_toxic": False, "mmlu_5shot": True, "commonsense_0shot": True},
    ),
    "winrate": TableSpec(
        "winrate", "winrate.csv", metrics={"win_rate_pct": "win_rate_pct"},
        higher_is_better={"win_rate_pct": True}, pairwise=True,
    ),
    "jigsaw": TableSpec(
        "jigsaw", "jigsaw.csv",
        metrics={"api_toxicity": "api_toxicity", "classify_roc_auc": "classify_roc_auc"},
        higher_is_better={"api_toxicity": False, "classify_roc_auc": True},
    ),
}


def read_paper(path) -> pd.DataFrame:
    """The paper's reported numbers, checked for the expected columns."""
    paper = pd.read_csv(path)
    missing = [column for column in PAPER_COLUMNS if column not in paper.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {PAPER_COLUMNS}")
    paper["higher_is_better"] = paper["higher_is_better"].map(
        lambda value: value if isinstance(value, bool) else str(value).strip().lower() == "true")
    return paper


def _ci_columns(spec: TableSpec, column: str, available) -> tuple[str | None, str | None]:
    """Our interval columns for ``column``: ``{column}_ci_low`` or, for ``*_pct``
    columns, ``{stem}_ci_low`` (``toxicity_pct`` -> ``toxicity_ci_low``); a table
    with one metric may also call them plainly ``ci_low``/``ci_high``."""
    stem = column[: -len("_pct")] if column.endswith("_pct") else column
    candidates = [column, stem] + ([None] if len(spec.metrics) == 1 else [])
    for prefix in candidates:
        low, high = ("ci_low", "ci_high") if prefix is None else (f"{prefix}_ci_low", f"{prefix}_ci_high")
        if low in available and high in available:
            return low, high
    return None, None


def ours_long(spec: TableSpec, ours: pd.DataFrame) -> pd.DataFrame:
    """Our table as rows ``model, method, metric, ours, ours_ci_low, ours_ci_high``
    (metric named as in the paper). Metrics our table lacks are left out."""
    ours = ours.copy()
    if spec.pairwise:
        missing = [column for column in ("model", "winner", "loser") if column not in ours.columns]
        if missing:
            raise ValueError(f"our {spec.name} table lacks column(s) {missing}")
        ours["method"] = ours["winner"].astype(str) + "_over_" + ours["loser"].astype(str)
    elif not {"model", "method"} <= set(ours.columns):
        raise ValueError(f"our {spec.name} table needs columns model and method, has {list(ours.columns)}")
    frames = []
    for metric, column in spec.metrics.items():
        if column not in ours.columns:
            continue
        low, high = _ci_columns(spec, column, ours.columns)
        frames.append(pd.DataFrame({
            "model": ours["model"].astype(str), "method": ours["method"].astype(str), "metric": metric,
            "ours": ours[column].astype(float),
            "ours_ci_low": ours[low].astype(float) if low else math.nan,
            "ours_ci_high": ours[high].astype(float) if high else math.nan,
        }))
    if not frames:
        return pd.DataFrame(columns=["model", "method", "metric", "ours", "ours_ci_low", "ours_ci_high"])
    return pd.concat(frames, ignore_index=True)


def model_pairs(our_models, paper_models, model_map: dict | None) -> list[tuple[str, str]]:
    """(our model, paper model) pairs: the config's mapping, or an alias equal to a paper model."""
    model_map = dict(model_map or {})
    pairs = []
    for model in dict.fromkeys(our_models):
        target = model_map.get(model, model if model in set(paper_models) else None)
        if target is not None:
            pairs.append((model, target))
    return pairs


def kendall_tau_b(x, y) -> float:
    """Kendall's tau-b of two equally long sequences (ties corrected, as scipy's
    default); NaN with fewer than two items or when one side is all ties."""
    n = len(x)
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                ties_x += 1
                ties_y += 1
            elif dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    pairs = n * (n - 1) / 2
    denominator = math.sqrt((pairs - ties_x) * (pairs - ties_y))
    return (concordant - discordant) / denominator if denominator > 0 else math.nan


def _rank(values: pd.Series, higher_is_better: bool) -> pd.Series:
    """1 = best; tied values share the better rank."""
    return values.rank(ascending=not higher_is_better, method="min")


def compare(name: str, ours: pd.DataFrame, paper: pd.DataFrame, model_map: dict | None) -> pd.DataFrame:
    """One comparison frame (``COLUMNS``) for table ``name`` (main, winrate, jigsaw).

    Rows: every (our model, the paper model it maps to) x metric x method that
    either side has; a method one side lacks keeps its row with the other side
    empty and no rank. Our models that map to no paper model are left out.
    ``difference`` = ours - paper. ``our_rank``/``paper_rank`` rank the methods that
    both sides have (1 = best by ``higher_is_better``; ties share the better rank),
    ``same_rank`` says whether they agree, ``kendall_tau`` (tau-b, per metric) and
    ``n_ranked`` measure the agreement of the two orderings. The winrate frame also
    has ``same_winner``: whether both sides put the win rate on the same side of 50.
    """
    spec = TABLES[name]
    paper = paper[paper["table"] == name]
    ours = ours_long(spec, ours)
    rows = []
    for our_model, paper_model in model_pairs(ours["model"], paper["model"], model_map):
        our_rows = ours[ours["model"] == our_model].drop(columns="model")
        paper_rows = paper[paper["model"] == paper_model][["method", "metric", "value"]].rename(columns={"value": "paper"})
        for metric, higher in spec.higher_is_better.items():
            mine = our_rows[our_rows["metric"] == metric].drop(columns="metric")
            theirs = paper_rows[paper_rows["metric"] == metric].drop(columns="metric")
            if mine.empty and theirs.empty:
                continue
            merged = theirs.merge(mine, on="method", how="outer", sort=False)
            # the paper's method order first, then methods only we have, in our order
            order = list(theirs["method"]) + [method for method in mine["method"] if method not in set(theirs["method"])]
            merged = merged.set_index("method").loc[order].reset_index()
            paper_higher = paper[(paper["model"] == paper_model) & (paper["metric"] == metric)]["higher_is_better"]
            merged["higher_is_better"] = bool(paper_higher.iloc[0]) if len(paper_higher) else higher
            both = merged["ours"].notna() & merged["paper"].notna()
            direction = bool(merged["higher_is_better"].iloc[0])
            merged["our_rank"] = _rank(merged.loc[both, "ours"], direction)
            merged["paper_rank"] = _rank(merged.loc[both, "paper"], direction)
            merged["same_rank"] = pd.array([
                pd.NA if pd.isna(mine_rank) else bool(mine_rank == their_rank)
                for mine_rank, their_rank in zip(merged["our_rank"], merged["paper_rank"])
            ], dtype="boolean")
            merged["kendall_tau"] = kendall_tau_b(merged.loc[both, "ours"].tolist(), merged.loc[both, "paper"].tolist())
            merged["n_ranked"] = int(both.sum())
            merged["difference"] = (merged["ours"] - merged["paper"]).round(6)
            merged["kendall_tau"] = merged["kendall_tau"].round(4)
            merged = merged.assign(table=name, our_model=our_model, paper_model=paper_model, metric=metric)
            rows.append(merged)
    columns = COLUMNS + (["same_winner"] if spec.pairwise else [])
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(rows, ignore_index=True)
    for column in ("our_rank", "paper_rank"):
        frame[column] = frame[column].astype("Int64")
    frame["n_ranked"] = frame["n_ranked"].astype(int)
    if spec.pairwise:
        frame["same_winner"] = pd.array([
            pd.NA if pd.isna(mine) or pd.isna(theirs) else bool((mine > 50) - (mine < 50) == (theirs > 50) - (theirs < 50))
            for mine, theirs in zip(frame["ours"], frame["paper"])
        ], dtype="boolean")
    return frame[columns]


def compare_tables(tables_dir, paper_file, model_map: dict | None, names=tuple(TABLES)) -> dict[str, pd.DataFrame]:
    """Comparison frames for each of ``names`` whose CSV exists in ``tables_dir``;
    a table we did not produce (e.g. no winrate.csv: the judge is disabled) is skipped."""
    paper = read_paper(paper_file)
    frames = {}
    for name in names:
        file = Path(tables_dir) / TABLES[name].file
        if file.is_file():
            frames[name] = compare(name, pd.read_csv(file), paper, model_map)
    return frames
