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
    fig.savefig(out_file, dpi=120, bbox_inches="tight")
    _pyplot().close(fig)


def plot_main(table: pd.DataFrame, out_file) -> None:
    """Toxicity against utility, one point per method, one panel per utility measure."""
    _save(figure_main(table), out_file)


MARKERS = "osD^vP*XhpH<>d"


def dodge_offsets(xs, ys, step: float = 7.0) -> list[float]:
    """Horizontal offsets in points that spread methods sitting at the same (x, y) side by
    side (0 for a point of its own): ``[-step/2, +step/2]`` for two, and so on."""
    points = list(zip(xs, ys))
    seen: dict[tuple, list[int]] = {}
    for i, (x, y) in enumerate(points):
        seen.setdefault((round(float(x), 6), round(float(y), 6)), []).append(i)
    offsets = [0.0] * len(points)
    for members in seen.values():
        for k, i in enumerate(members):
            offsets[i] = (k - (len(members) - 1) / 2) * step
    return offsets


def _utility_measures(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(column, axis label) of every utility measure in the main table."""
    measures = [(c, f"{c.replace('_', ' ')} accuracy (%)  (higher is better)") for c in table.columns if c.endswith("shot")]
    measures += [(c, f"{c.removesuffix('_word_ppl').replace('_', ' ')} word perplexity  (lower is better)")
                 for c in table.columns if c.endswith("_word_ppl")]
    return measures


def figure_main(table: pd.DataFrame):
    """The figure of ``plot_main`` (for notebooks). Every method has its own marker and
    colour, named in the legend; methods at the same point are set side by side (dodged)
    rather than drawn over each other."""
    import matplotlib.transforms as transforms

    plt = _pyplot()
    utility = _utility_measures(table)
    fig, axes = plt.subplots(1, max(1, len(utility)), figsize=(4.6 * max(1, len(utility)) + 2.4, 4.2), squeeze=False)
    methods = list(dict.fromkeys(table["method"]))
    models = list(dict.fromkeys(table["model"]))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    style = {method: (MARKERS[i % len(MARKERS)], colours[i % len(colours)]) for i, method in enumerate(methods)}
    for ax, (column, label) in zip(axes[0], utility):
        offsets = dodge_offsets(table["toxicity_pct"], table[column])
        for offset, (_, row) in zip(offsets, table.iterrows()):
            xerr = [[row["toxicity_pct"] - row["toxicity_ci_low"]], [row["toxicity_ci_high"] - row["toxicity_pct"]]]
            yerr = None
            if pd.notna(row.get(f"{column}_ci_low")) and pd.notna(row.get(f"{column}_ci_high")):
                yerr = [[row[column] - row[f"{column}_ci_low"]], [row[f"{column}_ci_high"] - row[column]]]
            marker, colour = style[row["method"]]
            shift = transforms.offset_copy(ax.transData, fig=fig, x=offset, y=0, units="points")
            name = row["method"] if len(models) == 1 else f"{row['model']}: {row['method']}"
            ax.errorbar(row["toxicity_pct"], row[column], xerr=xerr, yerr=yerr, fmt=marker, color=colour, capsize=3,
                        label=name, transform=shift, markerfacecolor="none" if models.index(row["model"]) else colour)
            # a dodged artist's transform is not transData, so its extent is added to the limits by hand
            low_y, high_y = (row[column] - yerr[0][0], row[column] + yerr[1][0]) if yerr else (row[column], row[column])
            ax.update_datalim([(row["toxicity_ci_low"], low_y), (row["toxicity_ci_high"], high_y)])
        ax.margins(0.08)
        ax.autoscale_view()
        if f"{column}_chance" in table:
            ax.axhline(float(table[f"{column}_chance"].iloc[0]), color="0.5", ls=":", lw=1)
            ax.annotate("chance", (1, float(table[f"{column}_chance"].iloc[0])), xycoords=("axes fraction", "data"),
                        ha="right", va="bottom", fontsize=7, color="0.4")
        ax.set_xlabel("generations toxic (%), 95% CI  (lower is better)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, title="method",
               title_fontsize=8, frameon=False)
    axes[0][0].set_title("Toxicity vs utility per method", loc="left")
    fig.tight_layout()
    return fig


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
