"""Our tables beside the paper's: differences, rank agreement, model mapping, missing tables."""
import math
from pathlib import Path

import pandas as pd
import pytest

from evaluation.compare import COLUMNS, compare, compare_tables, kendall_tau_b, model_pairs, read_paper

REPO = Path(__file__).resolve().parents[1]


def _paper(rows):
    return pd.DataFrame(rows, columns=["table", "model", "method", "metric", "value", "higher_is_better"])


PAPER = _paper([
    ("main", "llama-7b", "base", "toxigen_pct_toxic", 23.0, False),
    ("main", "llama-7b", "filtering", "toxigen_pct_toxic", 21.9, False),
    ("main", "llama-7b", "rl", "toxigen_pct_toxic", 15.2, False),
    ("main", "llama-7b", "regularized_adaptive", "toxigen_pct_toxic", 14.2, False),
    ("main", "llama-7b", "base", "mmlu_5shot", 35.1, True),
    ("main", "llama-7b", "filtering", "mmlu_5shot", 34.6, True),
    ("main", "llama-7b", "rl", "mmlu_5shot", 33.6, True),
    ("main", "llama-7b", "regularized_adaptive", "mmlu_5shot", 33.9, True),
    ("main", "falcon-7b", "base", "toxigen_pct_toxic", 14.0, False),
    ("winrate", "llama-7b", "regularized_adaptive_over_base", "win_rate_pct", 51.4, True),
    ("winrate", "llama-7b", "base_over_regularized_adaptive", "win_rate_pct", 48.6, True),
    ("winrate", "llama-7b", "filtering_over_base", "win_rate_pct", 44.3, True),
    ("jigsaw", "llama-7b", "base", "api_toxicity", 0.315, False),
    ("jigsaw", "llama-7b", "base", "classify_roc_auc", 0.910, True),
    ("jigsaw", "llama-7b", "sft_lm", "api_toxicity", 0.344, False),
    ("jigsaw", "llama-7b", "sft_lm", "classify_roc_auc", 0.966, True),
])

OURS_MAIN = pd.DataFrame({
    "model": ["small"] * 4,
    "method": ["base", "sft", "filtering", "regularized_adaptive"],
    "toxicity_pct": [10.0, 12.0, 9.0, 5.0],
    "toxicity_ci_low": [8.0, 10.0, 7.0, 3.5],
    "toxicity_ci_high": [12.0, 14.0, 11.0, 6.5],
    "mmlu_5shot": [30.0, 29.0, 31.0, 28.0],
    "mmlu_5shot_ci_low": [29.0, math.nan, math.nan, math.nan],
    "mmlu_5shot_ci_high": [31.0, math.nan, math.nan, math.nan],
    "commonsense_0shot": [50.0, 51.0, 52.0, 53.0],
})


def _row(frame, metric, method):
    rows = frame[(frame["metric"] == metric) & (frame["method"] == method)]
    assert len(rows) == 1, (metric, method)
    return rows.iloc[0]


def test_main_comparison_puts_ours_beside_the_paper_with_exact_differences():
    frame = compare("main", OURS_MAIN, PAPER, {"small": "llama-7b"})
    assert list(frame.columns) == COLUMNS
    assert set(frame["table"]) == {"main"} and set(zip(frame["our_model"], frame["paper_model"])) == {("small", "llama-7b")}
    base = _row(frame, "toxigen_pct_toxic", "base")
    assert (base["ours"], base["ours_ci_low"], base["ours_ci_high"], base["paper"]) == (10.0, 8.0, 12.0, 23.0)
    assert base["difference"] == -13.0 and not base["higher_is_better"]
    assert _row(frame, "mmlu_5shot", "filtering")["difference"] == -3.6
    assert (_row(frame, "mmlu_5shot", "base")["ours_ci_low"], _row(frame, "mmlu_5shot", "base")["ours_ci_high"]) == (29.0, 31.0)
    assert math.isnan(_row(frame, "mmlu_5shot", "filtering")["ours_ci_low"])
    # the paper's method order, then methods only we have
    assert list(frame[frame["metric"] == "toxigen_pct_toxic"]["method"]) == ["base", "filtering", "rl", "regularized_adaptive", "sft"]


def test_methods_on_one_side_keep_their_row_with_the_other_side_empty():
    frame = compare("main", OURS_MAIN, PAPER, {"small": "llama-7b"})
    rl, sft = _row(frame, "toxigen_pct_toxic", "rl"), _row(frame, "toxigen_pct_toxic", "sft")
    assert math.isnan(rl["ours"]) and rl["paper"] == 15.2 and math.isnan(rl["difference"])
    assert sft["ours"] == 12.0 and math.isnan(sft["paper"])
    for row in (rl, sft):
        assert pd.isna(row["our_rank"]) and pd.isna(row["paper_rank"]) and pd.isna(row["same_rank"])
    # commonsense: the paper frame here has none, so all our rows stand alone, unranked
    commonsense = frame[frame["metric"] == "commonsense_0shot"]
    assert len(commonsense) == 4 and commonsense["paper"].isna().all() and commonsense["kendall_tau"].isna().all()
    assert (commonsense["n_ranked"] == 0).all() and commonsense["higher_is_better"].all()


def test_ranks_and_kendall_tau_measure_agreement_of_the_orderings():
    frame = compare("main", OURS_MAIN, PAPER, {"small": "llama-7b"})
    # toxicity (lower is better): ours 10, 9, 5 and the paper's 23, 21.9, 14.2 order base, filtering, ours alike
    toxicity = frame[frame["metric"] == "toxigen_pct_toxic"].set_index("method")
    assert toxicity.loc[["base", "filtering", "regularized_adaptive"], "our_rank"].tolist() == [3, 2, 1]
    assert toxicity.loc[["base", "filtering", "regularized_adaptive"], "paper_rank"].tolist() == [3, 2, 1]
    assert toxicity["same_rank"].dropna().all() and set(toxicity["kendall_tau"]) == {1.0}
    assert set(toxicity["n_ranked"]) == {3}
    # MMLU (higher is better): ours 30, 31, 28 vs paper 35.1, 34.6, 33.9: base/filtering swapped
    mmlu = frame[frame["metric"] == "mmlu_5shot"].set_index("method")
    assert mmlu.loc[["base", "filtering", "regularized_adaptive"], "our_rank"].tolist() == [2, 1, 3]
    assert mmlu.loc[["base", "filtering", "regularized_adaptive"], "paper_rank"].tolist() == [1, 2, 3]
    assert mmlu.loc[["base", "filtering", "regularized_adaptive"], "same_rank"].tolist() == [False, False, True]
    assert set(mmlu["kendall_tau"]) == {round(1 / 3, 4)}  # 2 concordant pairs, 1 discordant


def test_kendall_tau_b_handles_ties_like_scipy():
    from scipy.stats import kendalltau

    cases = [([1, 2, 3, 4], [1, 2, 3, 4]), ([1, 2, 3, 4], [4, 3, 2, 1]), ([23, 21.9, 15.2, 15.2, 14.2], [5, 4, 3, 2, 1]),
             ([1, 1, 2, 3], [1, 2, 2, 3]), ([3, 1, 2], [1, 2, 3])]
    for x, y in cases:
        assert kendall_tau_b(x, y) == pytest.approx(kendalltau(x, y).statistic, abs=1e-12)
    assert math.isnan(kendall_tau_b([1], [2])) and math.isnan(kendall_tau_b([1, 1], [1, 2]))


def test_tied_paper_values_share_the_better_rank():
    paper = _paper([("main", "llama-7b", method, "toxigen_pct_toxic", value, False)
                    for method, value in [("rl", 15.2), ("nado", 15.2), ("regularized", 15.2), ("base", 23.0)]])
    ours = pd.DataFrame({"model": ["m"] * 4, "method": ["rl", "nado", "regularized", "base"],
                         "toxicity_pct": [3.0, 2.0, 1.0, 4.0]})
    frame = compare("main", ours, paper, {"m": "llama-7b"}).set_index("method")
    assert frame["paper_rank"].tolist() == [1, 1, 1, 4]
    assert frame["our_rank"].tolist() == [3, 2, 1, 4]
    assert frame["same_rank"].tolist() == [False, False, True, True]


def test_winrate_rows_are_winner_over_loser_pairs():
    ours = pd.DataFrame({
        "model": ["small"] * 3,
        "winner": ["regularized_adaptive", "base", "filtering"],
        "loser": ["base", "regularized_adaptive", "base"],
        "win_rate_pct": [60.0, 40.0, 55.0],
        "ci_low": [50.0, 30.0, 45.0],  # evaluation/winrate.py's column names
        "ci_high": [70.0, 50.0, 65.0],
        "n_prompts": [10, 10, 10],
        "n_seeds": [1, 1, 1],
        "judge": ["tiny"] * 3,
    })
    frame = compare("winrate", ours, PAPER, {"small": "llama-7b"})
    assert list(frame.columns) == COLUMNS + ["same_winner"]
    row = _row(frame, "win_rate_pct", "regularized_adaptive_over_base")
    assert (row["ours"], row["ours_ci_low"], row["paper"]) == (60.0, 50.0, 51.4)
    assert row["difference"] == pytest.approx(8.6) and row["difference"] == round(60.0 - 51.4, 6)
    assert frame.set_index("method")["same_winner"].to_dict() == {
        "regularized_adaptive_over_base": True, "base_over_regularized_adaptive": True, "filtering_over_base": False}
    assert set(frame["kendall_tau"]) == {round(1 / 3, 4)}


def test_jigsaw_comparison_and_a_missing_metric_value():
    ours = pd.DataFrame({"model": ["small", "small"], "method": ["base", "sft_lm"],
                         "api_toxicity": [0.3, 0.25], "classify_roc_auc": [0.8, math.nan]})
    frame = compare("jigsaw", ours, PAPER, {"small": "llama-7b"})
    assert _row(frame, "api_toxicity", "base")["difference"] == -0.015
    assert _row(frame, "api_toxicity", "sft_lm")["difference"] == pytest.approx(-0.094)
    assert _row(frame, "api_toxicity", "sft_lm")["our_rank"] == 1 and _row(frame, "api_toxicity", "sft_lm")["paper_rank"] == 2
    missing = _row(frame, "classify_roc_auc", "sft_lm")
    assert math.isnan(missing["ours"]) and missing["paper"] == 0.966 and pd.isna(missing["our_rank"])
    assert set(frame[frame["metric"] == "classify_roc_auc"]["n_ranked"]) == {1}


def test_model_mapping():
    # the config's mapping; an alias that is a paper model maps to itself; others are left out
    assert model_pairs(["small", "llama-7b", "other"], ["llama-7b", "falcon-7b"], {"small": "falcon-7b"}) == [
        ("small", "falcon-7b"), ("llama-7b", "llama-7b")]
    assert model_pairs(["small"], ["llama-7b"], {}) == []
    ours = pd.concat([OURS_MAIN, OURS_MAIN.assign(model="tiny")])
    frame = compare("main", ours, PAPER, {"small": "llama-7b", "tiny": "falcon-7b"})
    assert list(dict.fromkeys(zip(frame["our_model"], frame["paper_model"]))) == [("small", "llama-7b"), ("tiny", "falcon-7b")]
    falcon = frame[(frame["our_model"] == "tiny") & (frame["metric"] == "toxigen_pct_toxic")]
    assert falcon.set_index("method")["paper"].dropna().to_dict() == {"base": 14.0}
    # falcon-7b has no MMLU rows in this paper frame: our rows stay, the paper's side is empty
    assert falcon.shape[0] == 4
    assert compare("main", OURS_MAIN, PAPER, {}).empty
    assert list(compare("main", OURS_MAIN, PAPER, {}).columns) == COLUMNS


def test_missing_tables_are_skipped(tmp_path):
    OURS_MAIN.to_csv(tmp_path / "main.csv", index=False)
    paper_file = tmp_path / "paper.csv"
    PAPER.to_csv(paper_file, index=False)
    frames = compare_tables(tmp_path, paper_file, {"small": "llama-7b"})
    assert list(frames) == ["main"]
    assert len(frames["main"]) == 5 + 5 + 4  # toxicity, MMLU: 4 paper methods + sft; commonsense: ours only


def test_the_shipped_paper_numbers():
    paper = read_paper(REPO / "results/paper/paper_reported.csv")
    assert paper.groupby("table").size().to_dict() == {"main": 36, "winrate": 12, "jigsaw": 8}
    assert paper["higher_is_better"].dtype == bool
    row = paper[(paper["model"] == "falcon-7b") & (paper["method"] == "regularized_adaptive") & (paper["metric"] == "mmlu_5shot")]
    assert row["value"].tolist() == [26.1]
    assert not paper[paper["metric"] == "toxigen_pct_toxic"]["higher_is_better"].any()


def test_comparison_plot_is_written(tmp_path):
    from evaluation.plots import plot_paper_comparison

    frame = compare("main", OURS_MAIN, PAPER, {"small": "llama-7b"})
    plot_paper_comparison(frame, tmp_path / "main.png")
    plot_paper_comparison(frame.iloc[0:0], tmp_path / "empty.png")
    for name in ("main.png", "empty.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
