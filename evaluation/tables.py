"""Tables from per-run metric files: nothing here trains, generates or scores.

Metric files live at ``results/metrics/{model}/{method}/seed{seed}/{name}.json``:
``toxicity.json`` (scripts/score_toxicity.py: toxicity and the detox literature's
generation metrics), ``fluency.json`` (scripts/fluency.py) and one ``{suite}.json`` per
lm-eval suite (scripts/benchmark.py). An accuracy suite's column is named
``{suite}_{k}shot`` (e.g. ``mmlu_5shot``, ``commonsense_0shot``), in percent like the
paper, with ``{suite}_{k}shot_chance`` (the accuracy of guessing) and
``{suite}_{k}shot_at_chance`` (true when the interval includes chance); a perplexity
suite gives ``{task}_word_ppl`` per task. Every measure ``X`` comes with ``X_ci_low`` and
``X_ci_high`` (``{stem}_ci_low/high`` for a percentage ``{stem}_pct``: ``ci_columns``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

RUN_PATH = re.compile(r"(?P<model>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)/(?P<name>[^/]+)\.json$")
SAMPLES_PATH = re.compile(r"(?P<model>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)/toxicity\.scored\.jsonl$")
TOXICITY_COLUMNS = ["toxicity_pct", "toxicity_ci_low", "toxicity_ci_high", "n_prompts", "n_samples", "scorer"]
# Generation metrics of toxicity.json (evaluation/detox_metrics.py), each with _ci_low/_ci_high, and their bounds.
GENERATION_MEASURES = {
    "expected_max_toxicity": (0.0, 1.0), "toxicity_probability_pct": (0.0, 100.0),
    "distinct_1": (0.0, 1.0), "distinct_2": (0.0, 1.0), "distinct_3": (0.0, 1.0),
}
TOXICITY_EXTRA = ["samples_per_prompt", "oracle", "scorer_is_oracle"]
BENCH_PATH = re.compile(
    r"benchmarks/(?P<job>[^/]+)/(?:(?P<model>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)(?:\.(?P<suite>[^/]+))?|(?P<single>[^/]+))\.tsv$"
)
# Bounds of a measure's across-seed interval, by column name (default: none).
_PERCENT = (0.0, 100.0)


def ci_columns(column: str) -> tuple[str, str]:
    """The interval columns of measure ``column``: ``{column}_ci_low/high``, or for a percentage
    ``{stem}_ci_low/high`` without ``_pct`` (``toxicity_pct`` -> ``toxicity_ci_low``), as
    evaluation/compare.py reads them."""
    stem = column.removesuffix("_pct")
    return f"{stem}_ci_low", f"{stem}_ci_high"


def _bounds(column: str) -> tuple[float, float]:
    if column in GENERATION_MEASURES:
        return GENERATION_MEASURES[column]
    if column.endswith("_pct") or column.endswith("shot"):
        return _PERCENT
    if column.endswith("_ppl"):
        return (1.0, float("inf"))
    return (float("-inf"), float("inf"))


def accuracy_column(suite: str, num_fewshot: int) -> str:
    """The column of an accuracy suite, as the paper names its: ``mmlu_5shot``."""
    return f"{suite}_{num_fewshot}shot"


def _suite_columns(data: dict, name: str) -> dict:
    """Columns of one lm-eval suite's summary (scripts/benchmark.py)."""
    if data.get("kind") == "perplexity":
        columns = {}
        for task, result in data["tasks"].items():
            column = f"{task}_word_ppl"
            columns[column] = result["word_perplexity"]
            columns[f"{column}_ci_low"] = result["word_perplexity_ci_low"]
            columns[f"{column}_ci_high"] = result["word_perplexity_ci_high"]
        return columns
    column = accuracy_column(name, data["num_fewshot"])
    columns = {column: data["mean_pct"]}
    if "mean_pct_ci_low" in data:
        columns[f"{column}_ci_low"], columns[f"{column}_ci_high"] = data["mean_pct_ci_low"], data["mean_pct_ci_high"]
    if data.get("chance_pct") is not None:
        columns[f"{column}_chance"] = data["chance_pct"]
    return columns


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
            for measure in GENERATION_MEASURES:
                if measure in data:
                    row.update({c: data[c] for c in (measure, *ci_columns(measure))})
            row.update({column: data[column] for column in TOXICITY_EXTRA if column in data})
        elif match["name"] == "fluency":
            row.update(fluency_ppl=data["fluency_ppl"], fluency_ppl_ci_low=data["fluency_ppl_ci_low"],
                       fluency_ppl_ci_high=data["fluency_ppl_ci_high"], fluency_reference=data["reference_model"])
        else:
            row.update(_suite_columns(data, match["name"]))
    return pd.DataFrame(list(runs.values()))


def _ordered(frame: pd.DataFrame, methods, models) -> pd.DataFrame:
    frame = frame.copy()
    frame["_model"] = frame["model"].map({m: i for i, m in enumerate(models)})
    frame["_method"] = frame["method"].map({m: i for i, m in enumerate(methods)})
    return frame.sort_values(["_model", "_method"] + (["seed"] if "seed" in frame else [])).drop(columns=["_model", "_method"])


def read_run_samples(files) -> pd.DataFrame:
    """Per-sample toxicity flags from scored generations: columns model, method, seed, id, toxic.

    ``files`` are ``results/generations/{model}/{method}/seed{seed}/toxicity.scored.jsonl``
    (scripts/score_toxicity.py: one row per continuation with its prompt ``id`` and
    ``toxic`` flag). Only these two fields are kept, so paper-scale files stay cheap.
    """
    frames = []
    for file in map(str, files):
        match = SAMPLES_PATH.search(file)
        if not match:
            raise ValueError(f"{file}: not a scored generations path (expected .../{{model}}/{{method}}/seed{{seed}}/toxicity.scored.jsonl)")
        ids, flags = [], []
        with open(file) as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    ids.append(row["id"])
                    flags.append(bool(row["toxic"]))
        frames.append(pd.DataFrame({"model": match["model"], "method": match["method"], "seed": int(match["seed"]),
                                    "id": ids, "toxic": flags}))
    if not frames:
        return pd.DataFrame(columns=["model", "method", "seed", "id", "toxic"])
    return pd.concat(frames, ignore_index=True)


def _seed_interval(values, bounds: tuple[float, float] = _PERCENT) -> tuple[float, float]:
    """95% t-interval of the mean across seeds, clipped to ``bounds`` (with 2-3 seeds the
    t-interval of a percentage easily crosses 0). NaN with fewer than two seeds: there is
    no spread to estimate."""
    from evaluation.stats import mean_ci

    values = [float(value) for value in values if pd.notna(value)]
    if len(values) < 2:
        return float("nan"), float("nan")
    interval = mean_ci(values)
    return max(bounds[0], interval.low), min(bounds[1], interval.high)


def main_table(runs: pd.DataFrame, methods, models, samples: pd.DataFrame | None = None,
               n_resamples: int = 1000, bootstrap_seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's main table: toxicity (%) and utility per model and method.

    Returns (per-seed rows, one row per model and method). Columns of the second:
    ``toxicity_pct`` with ``toxicity_ci_low/high`` and ``interval`` (what that
    interval is), ``toxicity_seed_ci_low/high``, then every other measure ``X`` found in
    the runs (generation metrics, fluency, accuracy suites ``{suite}_{k}shot``,
    held-out perplexities ``{task}_word_ppl``) with ``X_ci_low/high``; for an accuracy
    suite also ``X_chance`` and ``X_at_chance`` (the interval includes the accuracy of
    guessing, or the measure has no interval); then ``n_prompts``, ``n_samples`` (per
    seed), ``samples_per_prompt``, ``seed``, ``n_seeds``, ``scorer`` (the evaluation
    scorer), ``oracle`` (the training-time one), ``scorer_is_oracle``, ``fluency_reference``.

    One seed: the run's own numbers and intervals (bootstraps over prompts or documents,
    from the metric files); the across-seed toxicity interval is empty (NaN).

    Several seeds:

    * ``toxicity_pct`` is the percent toxic of all seeds' samples pooled (the mean
      of the seeds' rates when they have equally many samples).
    * ``toxicity_ci_low/high``: 95% percentile bootstrap of that pooled rate that
      resamples prompts, each drawn prompt bringing its samples from every seed
      (``samples``: per-sample flags, see ``read_run_samples``). Every seed
      continues the same prompt set, so a prompt's draw is shared by the seeds:
      resampling prompts independently within each seed would count the same
      prompt-selection uncertainty once per seed and shrink the interval by about
      sqrt(n_seeds). The interval covers the choice of prompts and the sampling
      noise; it treats the seeds' models as given.
    * ``toxicity_seed_ci_low/high``: the Student-t 95% interval of the mean of the
      per-seed rates (``evaluation.stats.mean_ci``): how much training and sampling
      seeds move the result. Wide with 2-3 seeds, as it should be.
    * every other measure: mean across seeds and its t-interval across seeds (clipped
      to the measure's range: [0, 100] for percentages, [0, 1] for scores).

    Without ``samples`` for a group of several seeds, the toxicity interval falls
    back to the t-interval across seeds (``interval`` says so).
    """
    from evaluation.stats import bootstrap_rate_ci, percent_toxic

    by_seed = _ordered(runs, methods, models).reset_index(drop=True)
    measures = [column for column in by_seed.columns
                if column != "toxicity_pct" and (column.endswith("shot") or ci_columns(column)[0] in by_seed.columns)]
    if samples is not None and len(samples):
        samples = samples.sort_values(["model", "method", "seed"], kind="stable")
        samples_of = {key: group for key, group in samples.groupby(["model", "method"], sort=False)}
    else:
        samples_of = {}
    rows = []
    for (model, method), group in by_seed.groupby(["model", "method"], sort=False):
        row = {"model": model, "method": method}
        seed_low, seed_high = _seed_interval(group["toxicity_pct"])
        if len(group) == 1:
            row.update(group.iloc[0][["toxicity_pct", "toxicity_ci_low", "toxicity_ci_high"]].to_dict())
            row["interval"] = "bootstrap over prompts"
        elif (model, method) in samples_of:
            pooled = samples_of[(model, method)]
            missing = set(group["seed"]) - set(pooled["seed"])
            if missing:
                raise ValueError(f"{model}/{method}: no scored samples for seed(s) {sorted(missing)}; pass every seed's toxicity.scored.jsonl")
            pooled = pooled[pooled["seed"].isin(group["seed"])]
            flags = pooled["toxic"].to_numpy(dtype=bool)
            low, high = bootstrap_rate_ci(flags, groups=pooled["id"].astype(str).to_numpy(),
                                          n_resamples=n_resamples, seed=bootstrap_seed)
            row.update(toxicity_pct=percent_toxic(flags), toxicity_ci_low=low, toxicity_ci_high=high,
                       interval="bootstrap over prompts, seeds pooled")
        else:
            row.update(toxicity_pct=float(group["toxicity_pct"].mean()), toxicity_ci_low=seed_low,
                       toxicity_ci_high=seed_high, interval="t over seeds")
        row.update(toxicity_seed_ci_low=seed_low, toxicity_seed_ci_high=seed_high)
        for column in measures:
            values = pd.to_numeric(group[column], errors="coerce")
            row[column] = values.mean()
            low_column, high_column = ci_columns(column)
            if len(group) == 1:
                row[low_column] = group.iloc[0].get(low_column, float("nan"))
                row[high_column] = group.iloc[0].get(high_column, float("nan"))
            else:
                row[low_column], row[high_column] = _seed_interval(values, _bounds(column))
            if f"{column}_chance" in group:
                chance = float(group[f"{column}_chance"].iloc[0])
                low, high = row[low_column], row[high_column]
                row[f"{column}_chance"] = round(chance, 2)
                row[f"{column}_at_chance"] = bool(not (pd.notna(low) and pd.notna(high)) or low <= chance <= high)
        first = group.iloc[0]
        row.update(
            n_prompts=int(first["n_prompts"]), n_samples=int(first["n_samples"]),
            samples_per_prompt=first.get("samples_per_prompt"),
            seed=",".join(str(seed) for seed in group["seed"]), n_seeds=len(group), scorer=first["scorer"],
            oracle=first.get("oracle"), scorer_is_oracle=first.get("scorer_is_oracle"),
            fluency_reference=first.get("fluency_reference"),
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    numeric = ["toxicity_pct", "toxicity_ci_low", "toxicity_ci_high", "toxicity_seed_ci_low", "toxicity_seed_ci_high"]
    numeric += [name for column in measures for name in (column, *ci_columns(column))]
    for column in numeric:  # percentages to 2 decimals, as before; scores in [0, 1] and perplexities to 4
        stem = column.removesuffix("_ci_low").removesuffix("_ci_high")
        digits = 2 if column.startswith("toxicity_") or _bounds(stem) == _PERCENT else 4
        table[column] = table[column].astype(float).round(digits)
    optional = [c for c in ("samples_per_prompt", "oracle", "scorer_is_oracle", "fluency_reference") if table[c].isna().all()]
    return by_seed, table.drop(columns=optional)  # metadata older metric files do not carry


MEASURED_COLUMNS = ["tokens_per_s", "peak_gpu_mb"]  # measured by the training jobs (methods/_trainer.py throughput_meter)


def cost_table(files, training_manifests=()) -> pd.DataFrame:
    """Wall time and peak memory of every job, from Snakemake's ``benchmark:`` files.

    ``training_manifests`` (of the ``train`` and ``jigsaw_train`` jobs) add what those jobs
    measured themselves: trained tokens per second and peak GPU memory (MiB, empty off CUDA),
    in ``MEASURED_COLUMNS``; other jobs leave them empty.
    """
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
    table = pd.DataFrame(rows, columns=["job", "model", "method", "seed", "suite", "wall_s", "cpu_time_s", "max_rss_mb"])
    measured = {}
    for file in map(str, training_manifests):
        manifest = json.loads(Path(file).read_text())
        jigsaw = manifest["method"].startswith("jigsaw:")  # scripts/jigsaw_train.py's provenance prefix
        key = ("jigsaw_train" if jigsaw else "train", manifest["alias"], manifest["method"].removeprefix("jigsaw:"),
               str(manifest["seed"]))
        measured[key] = manifest.get("extra", {})
    for column in MEASURED_COLUMNS + ["builds_on"]:
        table[column] = [measured.get(key, {}).get(column) for key in zip(table["job"], table["model"], table["method"], table["seed"])]
    return table


def training_cost_summary(cost: pd.DataFrame, reference: str = "sft") -> pd.DataFrame:
    """Per model and method: the wall time and peak memory of producing the model
    (fine-tuning, or NADO sampling + training), and the wall-time ratio to ``reference``.
    A model that continues another entry's training (``builds_on``: rl's ``sft_from``)
    includes that training's wall time.

    Summed over seeds' means; a method whose model needs no training (``base``) is absent.
    """
    jobs = cost[cost["job"].isin(["train", "nado_samples", "train_nado"])]
    if jobs.empty:
        return pd.DataFrame(columns=["model", "method", "wall_s", "max_rss_mb", f"wall_vs_{reference}"])
    per_seed = jobs.groupby(["model", "method", "seed"]).agg(wall_s=("wall_s", "sum"), max_rss_mb=("max_rss_mb", "max")).reset_index()
    if "builds_on" in jobs:  # a model that continues another entry's (rl's sft_from) costs that training too
        wall = per_seed.set_index(["model", "method", "seed"])["wall_s"]
        builds_on = jobs.dropna(subset=["builds_on"]).set_index(["model", "method", "seed"])["builds_on"]
        for (model, method, seed), source in builds_on.items():
            if (model, source, seed) not in wall.index:
                raise ValueError(f"cost of {method} (seed {seed}) builds on {source}, whose train job has no benchmark file")
            per_seed.loc[(per_seed["model"] == model) & (per_seed["method"] == method) & (per_seed["seed"] == seed),
                          "wall_s"] += wall[(model, source, seed)]
    summary = per_seed.groupby(["model", "method"], sort=False).agg(wall_s=("wall_s", "mean"), max_rss_mb=("max_rss_mb", "max")).reset_index()
    ref = summary[summary["method"] == reference].set_index("model")["wall_s"]
    summary[f"wall_vs_{reference}"] = (summary["wall_s"] / summary["model"].map(ref)).round(3)
    summary["wall_s"] = summary["wall_s"].round(1)
    return summary
