"""Plots of the paper's tables (matplotlib, Agg backend, no display needed)."""
from __future__ import annotations

import pandas as pd


def _pyplot():
    """pyplot on the Agg backend unless a backend is already chosen (a notebook's inline one)."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_file) -> None:
    fig.savefig(out_file, dpi=120)
    _pyplot().close(fig)


def plot_main(table: pd.DataFrame, out_file) -> None:
    """Toxicity against utility, one point per method, one panel per utility suite."""
    _save(figure_main(table), out_file)


def figure_main(table: pd.DataFrame):
    """The figure of ``plot_main`` (for notebooks)."""
    plt = _pyplot()
    utility = [column for column in table.columns if column.endswith("shot")]  # not the *_ci_low/high columns
    fig, axes = plt.subplots(1, len(utility), figsize=(5.2 * len(utility), 4.2), squeeze=False)
    markers = dict(zip(table["model"].unique(), "osD^v"))
    for ax, column in zip(axes[0], utility):
        for _, row in table.iterrows():
            xerr = [[row["toxicity_pct"] - row["toxicity_ci_low"]], [row["toxicity_ci_high"] - row["toxicity_pct"]]]
            yerr = None  # across-seed interval of the utility, when there are several seeds
            if pd.notna(row.get(f"{column}_ci_low")) and pd.notna(row.get(f"{column}_ci_high")):
                yerr = [[row[column] - row[f"{column}_ci_low"]], [row[f"{column}_ci_high"] - row[column]]]
            ax.errorbar(row["toxicity_pct"], row[column], xerr=xerr, yerr=yerr, fmt=markers[row["model"]], capsize=3,
                        label=f"{row['model']}: {row['method']}")
        for (x, y), text, above in _point_labels(table["toxicity_pct"], table[column], table["method"]):
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(5, 4) if above else (5, -11), fontsize=8)
        ax.set_xlabel("generations toxic (%), 95% CI  (lower is better)")
        ax.set_ylabel(f"{column.replace('_', ' ')} accuracy (%)  (higher is better)")
        ax.grid(alpha=0.3)
    axes[0][0].set_title("Toxicity vs utility per method", loc="left")
    fig.tight_layout()
    return fig


def _point_labels(xs, ys, names, min_gap: float = 0.12):
    """One label per distinct point (methods at the same point share it, "base, nado"), and
    neighbours on the same level alternate above/below when closer than ``min_gap`` of the
    x range: ``[((x, y), text, above)]``."""
    points: dict[tuple, list[str]] = {}
    for x, y, name in zip(xs, ys, names):
        points.setdefault((float(x), float(y)), []).append(str(name))
    span = max((x for x, _ in points), default=0) - min((x for x, _ in points), default=0) or 1.0
    labels, last_on_level = [], {}
    for (x, y), group in sorted(points.items()):
        previous = last_on_level.get(y)  # (x, above) of the last label at this height
        above = True if previous is None or (x - previous[0]) / span >= min_gap else not previous[1]
        last_on_level[y] = (x, above)
        labels.append(((x, y), ", ".join(group), above))
    return labels


def plot_paper_comparison(frame: pd.DataFrame, out_file) -> None:
    """Ours beside the paper's numbers per method, one panel per metric (see ``figure_paper_comparison``)."""
    _save(figure_paper_comparison(frame), out_file)


def figure_paper_comparison(frame: pd.DataFrame):
    """Paired horizontal bars, ours (with our 95% interval) and the paper's, per method;
    one row of panels per (our model, paper model), one panel per metric. ``frame`` comes
    from ``evaluation.compare.compare``. Method labels carry the method's rank in ours and
    in the paper's, panel titles Kendall's tau of the two orderings: for a stand-in model
    the ordering, not the values, is what can agree with the paper."""
    import numpy as np

    plt = _pyplot()
    if frame.empty:
        fig, ax = plt.subplots(figsize=(7, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, "Nothing to compare: none of our models maps to a model in the paper's table\n"
                "(config: paper_comparison.models)", ha="center", va="center")
        return fig
    name = frame["table"].iloc[0]
    pairs = list(dict.fromkeys(zip(frame["our_model"], frame["paper_model"])))
    metrics = list(dict.fromkeys(frame["metric"]))
    n_methods = int(frame.groupby(["our_model", "metric"])["method"].nunique().max())
    panel_height = 0.42 * n_methods + 1.2
    header = 1.15  # inches above the panels: the note and the legend
    height = panel_height * len(pairs) + header
    fig, axes = plt.subplots(len(pairs), len(metrics), figsize=(max(10.0, 5.2 * len(metrics) + 1.2), height), squeeze=False)
    for (our_model, paper_model), panel_row in zip(pairs, axes):
        for metric, ax in zip(metrics, panel_row):
            rows = frame[(frame["our_model"] == our_model) & (frame["metric"] == metric)]
            if rows.empty:
                ax.axis("off")
                continue
            y = np.arange(len(rows))
            ours = rows["ours"].to_numpy(dtype=float)
            low, high = rows["ours_ci_low"].to_numpy(dtype=float), rows["ours_ci_high"].to_numpy(dtype=float)
            ax.barh(y - 0.2, ours, 0.4, color="tab:blue", label="ours (error bars: our 95% interval)")
            has_ci = np.isfinite(ours) & np.isfinite(low) & np.isfinite(high)
            ax.errorbar(ours[has_ci], y[has_ci] - 0.2, xerr=[ours[has_ci] - low[has_ci], high[has_ci] - ours[has_ci]],
                        fmt="none", ecolor="black", capsize=3)
            ax.barh(y + 0.2, rows["paper"].to_numpy(dtype=float), 0.4, color="tab:gray", label="the paper's (as reported)")
            labels = [row.method if pd.isna(row.our_rank) else f"{row.method}  (#{row.our_rank} / #{row.paper_rank})"
                      for row in rows.itertuples()]
            ax.set_yticks(y, labels, fontsize=8)
            ax.invert_yaxis()
            if metric == "win_rate_pct":
                ax.axvline(50, color="black", lw=0.8, ls="--")
            tau = rows["kendall_tau"].iloc[0]
            agreement = (f"Kendall tau {tau:.2f} over {rows['n_ranked'].iloc[0]} methods" if pd.notna(tau)
                         else "no ordering to compare")
            better = "higher" if bool(rows["higher_is_better"].iloc[0]) else "lower"
            ax.set_title(f"{our_model} vs {paper_model}: {metric}\n({better} is better; {agreement})", fontsize=9)
            ax.grid(axis="x", alpha=0.3)
    handles, legend_labels = next((ax.get_legend_handles_labels() for ax in axes.flat if ax.get_legend_handles_labels()[0]),
                                  ([], []))
    stand_in = [f"{ours} for {paper}" for ours, paper in pairs if ours != paper]
    note = f"Our {name} table beside the paper's. Labels: (#rank in ours / #rank in the paper's), 1 = best."
    if stand_in:
        note += (f"\nStand-in ({', '.join(stand_in)}): our model and data stand in for the paper's,"
                 "\nso the values are not expected to match the paper's; only the ordering of the methods is.")
    fig.text(0.01, 1 - 0.08 / height, note, ha="left", va="top", fontsize=9)
    fig.legend(handles, legend_labels, loc="upper left", bbox_to_anchor=(0.005, 1 - 0.62 / height), fontsize=8, ncol=2,
               frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - header / height))
    return fig
