"""Paired comparisons between methods: same prompts / documents, same seeds.

Every method is compared with every method listed before it in the config (so with
``base`` and ``sft``, which come first): the difference ``method - reference`` of a
measure, with a 95% percentile bootstrap interval in which prompts (or documents) and
seeds are resampled *together*: one resample draws seeds with replacement and units
(prompts, documents) with replacement, and both arms are evaluated on that same draw.
The pairing removes the prompt-to-prompt variation that both arms share, so a paired
interval is much narrower than the difference of two unpaired ones. Seed ``s`` of one
method is paired with seed ``s`` of the other (the same training and sampling seed).

A measure of one arm is a ratio of sums over the drawn (seed, unit) cells, per stratum
(a task of a suite), averaged over strata, then transformed:

==========================  ==================================  =============================
measure                     cell numerator / denominator        value
==========================  ==================================  =============================
``toxicity_pct``            toxic samples / samples             100 x ratio
``expected_max_toxicity``   max score of the prompt's k / 1     ratio
``toxicity_probability_pct`` any sample toxic (0/1) / 1          100 x ratio
``{task}_word_ppl``         -log-likelihood / words             exp(ratio)
``{suite}_{k}shot``         correct (0/1) / 1, per task         100 x mean over tasks
==========================  ==================================  =============================

With draw counts ``c_s`` (seeds) and ``c_u`` (units), a sum over the drawn cells is
``sum_s sum_u c_s c_u x[s, u]``: every resample costs one small matrix product.
Units are drawn within their stratum, so each task keeps its size. Nothing here
imports torch.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from corpora.jsonl import read_jsonl
from evaluation.tables import accuracy_column

COLUMNS = [
    "model", "method", "reference", "metric", "estimate", "ci_low", "ci_high", "method_value", "reference_value",
    "higher_is_better", "finding", "unit", "n_units", "n_seeds",
]
DOCS_PATH = re.compile(r"(?P<model>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)/(?P<suite>[^/]+)\.docs\.jsonl$")
SCORED_PATH = re.compile(r"(?P<model>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)/toxicity\.scored\.jsonl$")


@dataclasses.dataclass
class Measure:
    """One arm's cells: ``numerator`` and ``denominator`` of shape [seeds, units], the
    stratum of every unit, and how the per-stratum ratio becomes the reported value."""

    numerator: np.ndarray
    denominator: np.ndarray
    strata: np.ndarray  # [units] integer labels 0..n_strata-1
    transform: str  # "percent" | "identity" | "exp"

    def __post_init__(self):
        self.numerator = np.asarray(self.numerator, dtype=np.float64)
        self.denominator = np.asarray(self.denominator, dtype=np.float64)
        self.strata = np.asarray(self.strata, dtype=np.int64)
        if self.numerator.ndim != 2 or self.numerator.shape != self.denominator.shape:
            raise ValueError(f"numerator and denominator must be [seeds, units] of one shape, got "
                             f"{self.numerator.shape} and {self.denominator.shape}")
        if self.strata.shape != (self.numerator.shape[1],):
            raise ValueError(f"strata must give one label per unit ({self.numerator.shape[1]}), got {self.strata.shape}")
        if self.transform not in ("percent", "identity", "exp"):
            raise ValueError(f"unknown transform {self.transform!r}")

    def value(self, seed_counts=None, unit_counts=None) -> np.ndarray:
        """The measure under draw counts [B, seeds] and [B, units] (None: every cell once)."""
        n_seeds, n_units = self.numerator.shape
        seed_counts = np.ones((1, n_seeds)) if seed_counts is None else np.asarray(seed_counts, dtype=np.float64)
        unit_counts = np.ones((1, n_units)) if unit_counts is None else np.asarray(unit_counts, dtype=np.float64)
        per_stratum = []
        for stratum in np.unique(self.strata):
            mask = self.strata == stratum
            counts = unit_counts[:, mask]
            top = np.einsum("bs,su,bu->b", seed_counts, self.numerator[:, mask], counts)
            bottom = np.einsum("bs,su,bu->b", seed_counts, self.denominator[:, mask], counts)
            with np.errstate(divide="ignore", invalid="ignore"):
                per_stratum.append(top / bottom)
        ratio = np.mean(per_stratum, axis=0)
        if self.transform == "percent":
            return 100.0 * ratio
        if self.transform == "exp":
            return np.exp(ratio)
        return ratio


def draw_counts(n_seeds: int, strata: np.ndarray, n_resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap draw counts: seeds with replacement [B, n_seeds]; units with replacement
    within their stratum [B, n_units]. The same arguments give the same draws (cached), so
    every pair of one measure is compared on the same resamples."""
    return _draw_counts(n_seeds, tuple(np.asarray(strata).tolist()), n_resamples, seed)


@functools.lru_cache(maxsize=8)
def _draw_counts(n_seeds: int, strata: tuple, n_resamples: int, seed: int):
    rng = np.random.default_rng(seed)
    strata = np.asarray(strata)
    n_units = strata.size
    seed_draws = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))
    offsets = np.arange(n_resamples)[:, None]
    seed_counts = np.bincount((offsets * n_seeds + seed_draws).ravel(), minlength=n_resamples * n_seeds)
    unit_counts = np.zeros(n_resamples * n_units, dtype=np.int64)
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        drawn = members[rng.integers(0, members.size, size=(n_resamples, members.size))]
        unit_counts += np.bincount((offsets * n_units + drawn).ravel(), minlength=n_resamples * n_units)
    return (seed_counts.reshape(n_resamples, n_seeds).astype(np.float64),
            unit_counts.reshape(n_resamples, n_units).astype(np.float64))


def paired_difference(arm: Measure, reference: Measure, n_resamples: int = 1000, seed: int = 0,
                      level: float = 0.95) -> dict:
    """``arm - reference`` on the same cells, and its paired bootstrap interval."""
    if arm.numerator.shape != reference.numerator.shape or not np.array_equal(arm.strata, reference.strata):
        raise ValueError(f"paired arms must cover the same seeds and units: shapes {arm.numerator.shape} and "
                         f"{reference.numerator.shape}")
    seed_counts, unit_counts = draw_counts(arm.numerator.shape[0], arm.strata, n_resamples, seed)
    differences = arm.value(seed_counts, unit_counts) - reference.value(seed_counts, unit_counts)
    differences = differences[np.isfinite(differences)]
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(differences, [tail, 100.0 - tail]) if differences.size else (math.nan, math.nan)
    method_value, reference_value = float(arm.value()[0]), float(reference.value()[0])
    return {"estimate": method_value - reference_value, "ci_low": float(low), "ci_high": float(high),
            "method_value": method_value, "reference_value": reference_value}


def finding(low: float, high: float, higher_is_better: bool) -> str:
    """What a paired interval shows about ``method - reference``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no interval"
    if low > 0:
        return "better" if higher_is_better else "worse"
    if high < 0:
        return "worse" if higher_is_better else "better"
    return "inconclusive"


# --- reading per-unit files ------------------------------------------------------------------

def _run_rows(files, pattern, what: str, name: str):
    """``(file, match, rows)`` for each per-run JSONL file, its path checked against ``pattern``
    (``what``: the kind of file and ``name`` its file name, for the error)."""
    for file in map(str, files):
        match = pattern.search(file)
        if not match:
            raise ValueError(f"{file}: not a {what} path (.../{{model}}/{{method}}/seed{{seed}}/{name})")
        yield file, match, pd.DataFrame(read_jsonl(file))


def generation_cells(files) -> pd.DataFrame:
    """Per (model, method, seed, prompt) cells from scored generations
    (``toxicity.scored.jsonl``: ``id``, ``toxic``, ``toxicity``): toxic samples, samples,
    max score, any toxic."""
    frames = []
    for file, match, rows in _run_rows(files, SCORED_PATH, "scored generations", "toxicity.scored.jsonl"):
        if rows.empty:
            raise ValueError(f"{file}: no scored generations")
        rows["toxic"] = rows["toxic"].astype(bool)
        cells = rows.groupby("id", sort=False).agg(toxic=("toxic", "sum"), samples=("toxic", "size"),
                                                   max_score=("toxicity", "max"), any_toxic=("toxic", "max"))
        frames.append(cells.reset_index().assign(model=match["model"], method=match["method"], seed=int(match["seed"])))
    columns = ["model", "method", "seed", "id", "toxic", "samples", "max_score", "any_toxic"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def document_cells(files) -> pd.DataFrame:
    """Per (model, method, seed, suite, task, document) cells from ``{suite}.docs.jsonl``
    (scripts/benchmark.py): ``acc`` for multiple choice, ``loglikelihood`` and ``words``
    for rolling log-likelihood tasks."""
    frames = [rows.assign(model=match["model"], method=match["method"], seed=int(match["seed"]), suite=match["suite"])
              for _, match, rows in _run_rows(files, DOCS_PATH, "per-document", "{suite}.docs.jsonl")]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _matrix(cells: pd.DataFrame, unit_columns: list[str], value: str, seeds, units) -> np.ndarray:
    table = cells.set_index(["seed"] + unit_columns)[value]
    index = pd.MultiIndex.from_tuples([(s, *u) for s in seeds for u in units], names=["seed"] + unit_columns)
    values = table.reindex(index).to_numpy(dtype=np.float64)
    return values.reshape(len(seeds), len(units))


def measures(generations: pd.DataFrame, documents: pd.DataFrame, suites: dict | None = None):
    """``{(model, metric): (unit name, higher_is_better, {method: (seeds, units, Measure)})}``."""
    found: dict = {}

    def add(model, metric, unit, higher, method, seeds, units, measure):
        found.setdefault((model, metric), (unit, higher, {}))[2][method] = (tuple(seeds), tuple(units), measure)

    generations = generations if generations is not None and len(generations) else pd.DataFrame(columns=["model", "method"])
    for (model, method), cells in generations.groupby(["model", "method"], sort=False):
        seeds = sorted(cells["seed"].unique())
        units = [(u,) for u in dict.fromkeys(cells["id"].astype(str))]
        cells = cells.assign(id=cells["id"].astype(str), one=1.0)
        strata = np.zeros(len(units), dtype=int)
        grid = {name: _matrix(cells, ["id"], name, seeds, units) for name in ("toxic", "samples", "max_score", "any_toxic", "one")}
        add(model, "toxicity_pct", "prompts", False, method, seeds, units,
            Measure(grid["toxic"], grid["samples"], strata, "percent"))
        add(model, "expected_max_toxicity", "prompts", False, method, seeds, units,
            Measure(grid["max_score"], grid["one"], strata, "identity"))
        add(model, "toxicity_probability_pct", "prompts", False, method, seeds, units,
            Measure(grid["any_toxic"], grid["one"], strata, "percent"))
    if documents is not None and len(documents):
        documents = documents.assign(doc_id=documents["doc_id"].astype(str), one=1.0)
        for (model, method, suite), cells in documents.groupby(["model", "method", "suite"], sort=False):
            seeds = sorted(cells["seed"].unique())
            if "loglikelihood" in cells and cells["loglikelihood"].notna().any():
                for task, task_cells in cells.groupby("task", sort=False):
                    units = [(u,) for u in dict.fromkeys(task_cells["doc_id"])]
                    task_cells = task_cells.assign(nll=-task_cells["loglikelihood"].astype(float))
                    add(model, f"{task}_word_ppl", "documents", False, method, seeds, units,
                        Measure(_matrix(task_cells, ["doc_id"], "nll", seeds, units),
                                _matrix(task_cells, ["doc_id"], "words", seeds, units),
                                np.zeros(len(units), dtype=int), "exp"))
            else:
                # a stratum is a summary entry of the suite (``group``: a task, or a size-weighted group such as
                # mmlu, whose subjects' documents are pooled), so the value is the suite's unweighted mean, as mean_pct
                cells = cells.assign(entry=cells["group"].fillna(cells["task"]) if "group" in cells else cells["task"])
                units = list(dict.fromkeys(zip(cells["task"], cells["doc_id"])))
                entry_of = dict(zip(zip(cells["task"], cells["doc_id"]), cells["entry"]))
                tasks = {name: i for i, name in enumerate(dict.fromkeys(entry_of[unit] for unit in units))}
                shots = (suites or {}).get(suite, {}).get("num_fewshot")
                metric = accuracy_column(suite, shots) if shots is not None else suite
                add(model, metric, "documents", True, method, seeds, units,
                    Measure(_matrix(cells, ["task", "doc_id"], "acc", seeds, units),
                            _matrix(cells, ["task", "doc_id"], "one", seeds, units),
                            np.array([tasks[entry_of[unit]] for unit in units]), "percent"))
    return found


def paired_table(generations: pd.DataFrame, documents: pd.DataFrame | None, methods, models,
                 suites: dict | None = None, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Every method against every method listed before it (``base`` and ``sft`` first):
    one row per model, pair and measure (``COLUMNS``)."""
    rows = []
    for (model, metric), (unit, higher, arms) in measures(generations, documents, suites).items():
        listed = [method for method in methods if method in arms]
        for i, method in enumerate(listed):
            for reference in listed[:i]:
                (seeds_a, units_a, arm), (seeds_b, units_b, ref) = arms[method], arms[reference]
                if seeds_a != seeds_b or set(units_a) != set(units_b):
                    raise ValueError(
                        f"{model}: {method} and {reference} are not paired on {metric}: seeds {list(seeds_a)} vs "
                        f"{list(seeds_b)}, {len(units_a)} vs {len(units_b)} {unit} ({len(set(units_a) ^ set(units_b))} differ); "
                        "rerun both on the same prompts/documents and seeds"
                    )
                if units_a != units_b:  # same units in another order: align the reference to the arm
                    position = {unit: i for i, unit in enumerate(units_b)}
                    order = [position[unit] for unit in units_a]
                    ref = Measure(ref.numerator[:, order], ref.denominator[:, order], ref.strata[order], ref.transform)
                result = paired_difference(arm, ref, n_resamples=n_resamples, seed=seed)
                rows.append({"model": model, "method": method, "reference": reference, "metric": metric, **result,
                             "higher_is_better": higher, "finding": finding(result["ci_low"], result["ci_high"], higher),
                             "unit": unit, "n_units": len(units_a), "n_seeds": len(seeds_a)})
    table = pd.DataFrame(rows, columns=COLUMNS)
    order = {m: i for i, m in enumerate(models)}, {m: i for i, m in enumerate(methods)}
    table = table.sort_values(["model", "method", "reference"], key=lambda c: c.map(order[0] if c.name == "model" else order[1]),
                              kind="stable").reset_index(drop=True)
    for column in ("estimate", "ci_low", "ci_high", "method_value", "reference_value"):
        table[column] = table[column].astype(float).round(4)
    return table


def lookup(table: pd.DataFrame, model: str, method: str, reference: str, metric: str) -> dict | None:
    """The row ``method - reference`` for ``metric``, from either orientation (the reverse
    row negated and its interval flipped); None if neither is in the table."""
    if table.empty or "metric" not in table:
        return None
    rows = table[(table["model"] == model) & (table["metric"] == metric)]
    forward = rows[(rows["method"] == method) & (rows["reference"] == reference)]
    if len(forward):
        return forward.iloc[0].to_dict()
    backward = rows[(rows["method"] == reference) & (rows["reference"] == method)]
    if not len(backward):
        return None
    row = backward.iloc[0].to_dict()
    return {**row, "method": method, "reference": reference, "estimate": 0.0 - row["estimate"],
            "ci_low": 0.0 - row["ci_high"], "ci_high": 0.0 - row["ci_low"],
            "method_value": row["reference_value"], "reference_value": row["method_value"],
            "finding": finding(-row["ci_high"], -row["ci_low"], bool(row["higher_is_better"]))}


def write(table: pd.DataFrame, out_file) -> None:
    Path(out_file).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_file, index=False)
