"""The claims table: each claim of the paper (METHOD.md section 7) against our results.

One row per part of a claim (a claim such as "ours is less toxic than the base model"
has one part per variant of ours), with the comparison it rests on, our estimate, its
95% interval and a verdict; ``claim_verdict`` combines the parts of a claim. Made from
the other tables only (``main.csv``, ``paired.csv``, ``winrate.csv`` (with its
judge's control-pair verdict, ``judge_informative``), ``cost.csv``, ``jigsaw.csv``), so it regenerates with them and
works the same on paper-config results.

Verdicts (METHOD.md section 7):

* a directional part ("less toxic", "higher accuracy") is **supported** when the
  interval of the difference lies on the claim's side of 0 (of 50% for a win rate, of
  1 for a cost ratio), **contradicted** when it lies on the other side, and
  **inconclusive** when it straddles;
* an "about as" / "close to" part is tested against an equivalence margin ``m`` from the
  config (``claims.margins``): supported when the interval lies inside ``[-m, m]``,
  contradicted when it lies wholly outside, inconclusive otherwise;
* a part whose methods, tables or intervals are missing is **not tested** (the note says
  what is missing); a win-rate part is inconclusive whenever the judge failed its
  control pairs (``judge_informative`` false).

A claim is supported when every tested part is, contradicted when every tested part
is, **mixed** when some parts are supported and some contradicted, else inconclusive.

Where the intervals come from: toxicity, utility and perplexity differences are paired
(``paired.csv``: same prompts / documents and seeds resampled together); win rates are
the matrix's bootstrap intervals; the cost ratio's is a t-interval over seeds of the
per-seed ratios (none with one seed); Jigsaw differences are unpaired, their interval
approximated from the two methods' intervals as ``d +- sqrt(h1^2 + h2^2)`` (half-widths
h: independent, roughly normal estimates).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = [
    "model", "claim", "claim_name", "part", "comparison", "metric", "estimate", "ci_low", "ci_high", "test",
    "margin", "verdict", "claim_verdict", "source", "note",
]
VERDICTS = ("supported", "contradicted", "inconclusive", "not tested")

CLAIMS = {
    1: ("Control", "Ours is less toxic than the base model (Llama-7B: 15.2 / 14.2 vs 23)."),
    2: ("Control on par with the alternatives",
        "Ours is about as toxic as RL and NADO decoding, and less toxic than filtering."),
    3: ("Utility with adaptive",
        "w/ adaptive keeps utility closer to the base model than w/o adaptive and than NADO decoding."),
    4: ("Filtering trades control for utility", "Filtering keeps utility closest to base but reduces toxicity least."),
    5: ("Generation quality",
        "A judge finds ours about as good as the base model (~50%) and better than filtering and RL."),
    6: ("Cost", "The parallel schedule costs about as much as plain fine-tuning; the sequential schedule costs more."),
    7: ("Parallel = sequential in quality", "Same toxicity and utility within noise."),
    8: ("Learning from toxic content (Jigsaw)",
        "SFT on toxic comments is more toxic than the base; ours is less toxic than both, with a ROC AUC close to SFT's."),
}

DEFAULT_ROLES = {
    "base": "base", "sft": "sft", "filtering": "filtering", "rl": "rl", "nado": "nado",
    "ours": ["regularized", "regularized_adaptive"], "ours_plain": "regularized", "ours_adaptive": "regularized_adaptive",
    "parallel": "regularized", "sequential": "regularized_sequential",
    "jigsaw_base": "base", "jigsaw_sft": "sft_lm", "jigsaw_ours": "regularized_lm",
}
DEFAULT_MARGINS = {
    "toxicity_pp": 2.0,  # claims 2 and 7: "about as toxic", toxicity_pct points
    "accuracy_pp": 2.0,  # claim 7: utility within noise, accuracy points
    "ppl_pct": 5.0,  # claim 7: held-out perplexity within noise, percent of the reference's
    "winrate_pp": 10.0,  # claim 5: "about as good" = win rate within 50 +- this
    "cost_ratio": 0.25,  # claim 6: "about as much" = wall-time ratio within 1 +- this
    "auc": 0.02,  # claim 8: "close to SFT's" ROC AUC
}


def verdict(low: float, high: float, test: str, margin: float | None = None, null: float = 0.0) -> str:
    """The verdict of one part from its interval: ``test`` is ``less``, ``greater`` (than
    ``null``) or ``equivalent`` (within ``null +- margin``)."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "not tested"
    if test == "less":
        return "supported" if high < null else "contradicted" if low > null else "inconclusive"
    if test == "greater":
        return "supported" if low > null else "contradicted" if high < null else "inconclusive"
    if test == "equivalent":
        if margin is None:
            raise ValueError("an equivalence test needs a margin")
        if null - margin <= low and high <= null + margin:
            return "supported"
        return "contradicted" if low > null + margin or high < null - margin else "inconclusive"
    raise ValueError(f"unknown test {test!r}")


def combine(verdicts) -> str:
    """A claim's verdict from its parts'."""
    tested = [v for v in verdicts if v != "not tested"]
    if not tested:
        return "not tested"
    if all(v == "supported" for v in tested):
        return "supported"
    if all(v == "contradicted" for v in tested):
        return "contradicted"
    if "supported" in tested and "contradicted" in tested:
        return "mixed"
    return "inconclusive"


def _test_text(test: str, margin, null: float, unit: str = "") -> str:
    if test == "equivalent":
        return f"within {null:g} +- {margin:g}{unit}"
    return f"{'<' if test == 'less' else '>'} {null:g}"


class _Builder:
    def __init__(self, model: str, tables: dict, roles: dict, margins: dict):
        self.model, self.tables, self.roles, self.margins = model, tables, roles, margins
        self.rows: list[dict] = []

    def add(self, claim, part, comparison, metric, estimate, low, high, test, margin=None, null=0.0, source="",
            note="", unit=""):
        result = "not tested" if estimate is None else verdict(low, high, test, margin, null)
        if result == "not tested" and not note:
            note = "no interval" if estimate is not None else "missing"
        self.rows.append({
            "model": self.model, "claim": claim, "claim_name": CLAIMS[claim][0], "part": part, "comparison": comparison,
            "metric": metric, "estimate": estimate, "ci_low": low, "ci_high": high,
            "test": _test_text(test, margin, null, unit), "margin": margin, "verdict": result, "source": source, "note": note,
        })

    def paired(self, claim, part, method, reference, metric, test, margin=None, relative=False):
        from evaluation.paired import lookup

        table = self.tables.get("paired")
        comparison = f"{method} - {reference}"
        row = None if table is None or not method or not reference else lookup(table, self.model, method, reference, metric)
        if row is None:
            missing = [m for m in (method, reference) if not m or m not in self.methods]
            note = f"method(s) {missing} not in this run" if missing else f"no paired {metric} for this pair"
            self.add(claim, part, comparison, metric, None, None, None, test, margin, source="paired.csv", note=note)
            return
        estimate, low, high = row["estimate"], row["ci_low"], row["ci_high"]
        unit = ""
        if relative:  # as percent of the reference's value (perplexities differ in scale between profiles)
            scale = 100.0 / row["reference_value"]
            estimate, low, high, unit = estimate * scale, low * scale, high * scale, "%"
            comparison += " (% of " + reference + ")"
        self.add(claim, part, comparison, metric, estimate, low, high, test, margin, source="paired.csv", unit=unit)
        at_chance = [m for m in (method, reference) if self.at_chance(m, metric)]
        if at_chance:  # a measure that cannot tell the models from guessing cannot support or contradict
            if self.rows[-1]["verdict"] in ("supported", "contradicted"):
                self.rows[-1]["verdict"] = "inconclusive"
            self.rows[-1]["note"] = f"{metric} at chance for {', '.join(at_chance)} (main.csv {metric}_at_chance)"

    def at_chance(self, method: str, metric: str) -> bool:
        """Whether main.csv says ``method``'s ``metric`` interval holds its chance level."""
        main = self.tables.get("main")
        column = f"{metric}_at_chance"
        if main is None or column not in main:
            return False
        rows = main[(main["model"] == self.model) & (main["method"] == method)]
        return bool(rows[column].fillna(False).astype(bool).any())

    @property
    def methods(self) -> set:
        main = self.tables.get("main")
        return set(main.loc[main["model"] == self.model, "method"]) if main is not None else set()


def _roles(roles: dict | None) -> dict:
    merged = {**DEFAULT_ROLES, **(roles or {})}
    merged["ours"] = list(merged["ours"]) if isinstance(merged["ours"], (list, tuple)) else [merged["ours"]]
    return merged


def _utility_metrics(paired: pd.DataFrame | None) -> tuple[list[str], list[str]]:
    """Accuracy columns (``*shot``) and general-text perplexity columns in the paired table."""
    if paired is None or paired.empty:
        return [], []
    metrics = list(dict.fromkeys(paired["metric"]))
    accuracy = [m for m in metrics if m.endswith("shot")]
    general = [m for m in metrics if m.endswith("_word_ppl") and "toxic" not in m]
    return accuracy, general


def _winrate(builder: _Builder, winner: str, loser: str, test: str, margin=None):
    table = builder.tables.get("winrate")
    comparison = f"win rate of {winner} over {loser}"
    if table is None:
        builder.add(5, f"{winner} vs {loser}", comparison, "win_rate_pct", None, None, None, test, margin, 50.0,
                    "winrate.csv", "no win-rate table (evaluation.winrate.judge is null)")
        return
    rows = table[(table["model"] == builder.model) & (table["winner"] == winner) & (table["loser"] == loser)]
    if rows.empty:
        builder.add(5, f"{winner} vs {loser}", comparison, "win_rate_pct", None, None, None, test, margin, 50.0,
                    "winrate.csv", f"{winner} and {loser} are not both in evaluation.winrate.methods")
        return
    row = rows.iloc[0]
    informative = bool(row["judge_informative"]) if "judge_informative" in row else None  # winrate_table's judge controls
    note = ""
    builder.add(5, f"{winner} vs {loser}", comparison, "win_rate_pct", float(row["win_rate_pct"]), float(row["ci_low"]),
                float(row["ci_high"]), test, margin, 50.0, "winrate.csv")
    if informative is False:
        if builder.rows[-1]["verdict"] in ("supported", "contradicted"):
            builder.rows[-1]["verdict"] = "inconclusive"
        note = "judge uninformative: its control-pair accuracy interval includes 50% (winrate_controls.csv)"
    elif informative is None:
        note = "judge not checked on control pairs"
    builder.rows[-1]["note"] = note


def _cost(builder: _Builder, method: str, reference: str, test: str, margin=None):
    from evaluation.stats import mean_ci

    cost = builder.tables.get("cost")
    comparison = f"train wall time {method} / {reference}"
    part = f"{method} / {reference}"
    if cost is None or not method or not reference:
        builder.add(6, part, comparison, "wall_ratio", None, None, None, test, margin, 1.0, "cost.csv", "no cost table")
        return
    jobs = cost[(cost["model"] == builder.model) & cost["job"].isin(["train", "nado_samples", "train_nado"])]
    per_seed = jobs.groupby(["method", "seed"])["wall_s"].sum()
    ratios = []
    for seed in sorted(set(jobs["seed"])):
        if (method, seed) in per_seed and (reference, seed) in per_seed:
            ratios.append(per_seed[(method, seed)] / per_seed[(reference, seed)])
    if not ratios:
        builder.add(6, part, comparison, "wall_ratio", None, None, None, test, margin, 1.0, "cost.csv",
                    f"no training jobs of {method} and {reference} with the same seed")
        return
    if len(ratios) < 2:
        builder.add(6, part, comparison, "wall_ratio", float(ratios[0]), None, None, test, margin, 1.0, "cost.csv",
                    "one seed: no interval (a single wall-time ratio; cost.csv)")
        return
    interval = mean_ci(ratios)
    builder.add(6, part, comparison, "wall_ratio", interval.mean, interval.low, interval.high, test, margin, 1.0,
                "cost.csv", f"t-interval over {len(ratios)} seeds")


def _jigsaw(builder: _Builder, method: str, reference: str, metric: str, test: str, margin=None):
    table = builder.tables.get("jigsaw")
    comparison = f"{method} - {reference}"
    part = f"{comparison}, {metric}"
    if table is None:
        builder.add(8, part, comparison, metric, None, None, None, test, margin, 0.0, "jigsaw.csv", "Jigsaw variant not enabled")
        return
    rows = table[table["model"] == builder.model].set_index("method")
    if method not in rows.index or reference not in rows.index:
        builder.add(8, part, comparison, metric, None, None, None, test, margin, 0.0, "jigsaw.csv",
                    f"jigsaw.methods lacks {[m for m in (method, reference) if m not in rows.index]}")
        return
    a, b = rows.loc[method], rows.loc[reference]
    estimate = float(a[metric] - b[metric])
    half = math.hypot((a[f"{metric}_ci_high"] - a[f"{metric}_ci_low"]) / 2, (b[f"{metric}_ci_high"] - b[f"{metric}_ci_low"]) / 2)
    builder.add(8, part, comparison, metric, estimate, estimate - half, estimate + half, test, margin, 0.0, "jigsaw.csv",
                "unpaired: interval from the two methods' intervals")


def claims_table(tables: dict, models, roles: dict | None = None, margins: dict | None = None) -> pd.DataFrame:
    """Every claim of METHOD.md section 7 for each model. ``tables``: DataFrames under
    ``main``, ``paired`` and, when they exist, ``winrate``, ``cost``, ``jigsaw`` (absent ones make their parts "not tested")."""
    roles, margins = _roles(roles), {**DEFAULT_MARGINS, **(margins or {})}
    accuracy, general = _utility_metrics(tables.get("paired"))
    rows = []
    for model in models:
        b = _Builder(model, tables, roles, margins)
        ours = roles["ours"]
        # 1. Control
        for method in ours:
            b.paired(1, f"{method} vs base", method, roles["base"], "toxicity_pct", "less")
        # 2. Control on par with the alternatives
        for method in ours:
            for other in ("rl", "nado"):
                b.paired(2, f"{method} vs {other}", method, roles[other], "toxicity_pct", "equivalent", margins["toxicity_pp"])
            b.paired(2, f"{method} vs filtering", method, roles["filtering"], "toxicity_pct", "less")
        # 3. Utility with adaptive (accuracy: higher is closer to base; held-out general perplexity: lower)
        if not accuracy and not general:
            b.add(3, "utility", f"{roles['ours_adaptive']} - {roles['ours_plain']}", "utility", None, None, None, "greater",
                  source="paired.csv", note="no paired utility measure (no lm-eval suite ran)")
        for other in ("ours_plain", "nado"):
            for metric in accuracy:
                b.paired(3, f"adaptive vs {roles[other]}, {metric}", roles["ours_adaptive"], roles[other], metric, "greater")
            for metric in general:
                b.paired(3, f"adaptive vs {roles[other]}, {metric}", roles["ours_adaptive"], roles[other], metric, "less")
        # 4. Filtering trades control for utility
        for method in ours:
            b.paired(4, f"filtering vs {method}, toxicity", roles["filtering"], method, "toxicity_pct", "greater")
            for metric in accuracy:
                b.paired(4, f"filtering vs {method}, {metric}", roles["filtering"], method, metric, "greater")
            for metric in general:
                b.paired(4, f"filtering vs {method}, {metric}", roles["filtering"], method, metric, "less")
        # 5. Generation quality (the paper's matrix has w/ adaptive)
        judged = roles["ours_adaptive"]
        _winrate(b, judged, roles["base"], "equivalent", margins["winrate_pp"])
        _winrate(b, judged, roles["filtering"], "greater")
        _winrate(b, judged, roles["rl"], "greater")
        # 6. Cost
        _cost(b, roles["parallel"], roles["sft"], "equivalent", margins["cost_ratio"])
        _cost(b, roles["sequential"], roles["parallel"], "greater")
        # 7. Parallel = sequential in quality
        b.paired(7, "toxicity", roles["parallel"], roles["sequential"], "toxicity_pct", "equivalent", margins["toxicity_pp"])
        for metric in accuracy:
            b.paired(7, metric, roles["parallel"], roles["sequential"], metric, "equivalent", margins["accuracy_pp"])
        for metric in general:
            b.paired(7, metric, roles["parallel"], roles["sequential"], metric, "equivalent", margins["ppl_pct"], relative=True)
        # 8. Jigsaw
        _jigsaw(b, roles["jigsaw_sft"], roles["jigsaw_base"], "api_toxicity", "greater")
        _jigsaw(b, roles["jigsaw_ours"], roles["jigsaw_sft"], "api_toxicity", "less")
        _jigsaw(b, roles["jigsaw_ours"], roles["jigsaw_base"], "api_toxicity", "less")
        _jigsaw(b, roles["jigsaw_ours"], roles["jigsaw_sft"], "classify_roc_auc", "equivalent", margins["auc"])
        rows += b.rows
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "claim_verdict"])
    table["claim_verdict"] = table.groupby(["model", "claim"])["verdict"].transform(combine)
    for column in ("estimate", "ci_low", "ci_high"):
        table[column] = pd.to_numeric(table[column], errors="coerce").round(4)
    return table[COLUMNS]


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """One line per model and claim: its verdict and how many parts each verdict got."""
    counts = table.pivot_table(index=["model", "claim", "claim_name", "claim_verdict"], columns="verdict",
                               values="part", aggfunc="count", fill_value=0).reset_index()
    return counts


def read_tables(folder, names=("main", "paired", "winrate", "cost", "jigsaw")) -> dict:
    """The tables under ``folder`` that exist, by name."""
    found = {}
    for name in names:
        file = Path(folder) / f"{name}.csv"
        if file.is_file():
            found[name] = pd.read_csv(file)
    return found


COLORS = {"supported": "tab:green", "contradicted": "tab:red", "inconclusive": "tab:orange", "not tested": "0.6"}


def plot_claims(table: pd.DataFrame, out_file) -> None:
    """``figure_claims`` saved to ``out_file``."""
    from evaluation.plots import _pyplot

    fig = figure_claims(table)
    fig.savefig(out_file, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)


def figure_claims(table: pd.DataFrame):
    """One panel per claim and model: each part's estimate and interval against the value the
    test compares with (0, 50% or 1), coloured by verdict; equivalence margins shaded."""
    from evaluation.plots import _pyplot

    plt = _pyplot()
    groups = list(table.groupby(["model", "claim"], sort=False))
    heights = [max(1, len(group)) * 0.32 + 0.9 for _, group in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, sum(heights)), gridspec_kw={"height_ratios": heights},
                             squeeze=False)
    for ax, ((model, claim), group) in zip(axes[:, 0], groups):
        y = np.arange(len(group))[::-1]
        for yi, row in zip(y, group.itertuples()):
            null = 50.0 if row.metric == "win_rate_pct" else 1.0 if row.metric == "wall_ratio" else 0.0
            ax.axvline(null, color="0.3", lw=0.8)
            if isinstance(row.test, str) and row.test.startswith("within") and pd.notna(row.margin):
                margin = row.margin
                ax.axvspan(null - margin, null + margin, color="0.9", zorder=0)
            color = COLORS.get(row.verdict, "0.6")
            if pd.notna(row.estimate):
                if pd.notna(row.ci_low):
                    ax.plot([row.ci_low, row.ci_high], [yi, yi], color=color, lw=2)
                ax.plot([row.estimate], [yi], "o", color=color)
            ax.text(1.01, yi, row.verdict, transform=ax.get_yaxis_transform(), color=color, va="center", fontsize=7)
        ax.set_yticks(y, [f"{p}" for p in group["part"]], fontsize=7)
        verdict_text = group["claim_verdict"].iloc[0]
        ax.set_title(f"{model} - claim {claim}: {CLAIMS[claim][0]} ({verdict_text})", fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
        ax.set_ylim(-0.7, len(group) - 0.3)
    fig.tight_layout()
    return fig
