"""Plots of the paper's tables (matplotlib, Agg backend, no display needed)."""
from __future__ import annotations

import pandas as pd


def plot_main(table: pd.DataFrame, out_file) -> None:
    """Toxicity against utility, one point per method, one panel per utility suite."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    utility = [column for column in table.columns if column.endswith("shot")]
    fig, axes = plt.subplots(1, len(utility), figsize=(5.2 * len(utility), 4.2), squeeze=False)
    markers = dict(zip(table["model"].unique(), "osD^v"))
    for ax, column in zip(axes[0], utility):
        for _, row in table.iterrows():
            xerr = [[row["toxicity_pct"] - row["toxicity_ci_low"]], [row["toxicity_ci_high"] - row["toxicity_pct"]]]
            ax.errorbar(row["toxicity_pct"], row[column], xerr=xerr, fmt=markers[row["model"]], capsize=3,
                        label=f"{row['model']}: {row['method']}")
            ax.annotate(row["method"], (row["toxicity_pct"], row[column]), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xlabel("generations toxic (%), 95% CI  (lower is better)")
        ax.set_ylabel(f"{column.replace('_', ' ')} accuracy (%)  (higher is better)")
        ax.grid(alpha=0.3)
    axes[0][0].set_title("Toxicity vs utility per method", loc="left")
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)
