"""The claims table (evaluation/claims.py): verdicts from hand-made tables."""
import pandas as pd
import pytest

from evaluation.claims import claims_table, combine, plot_claims, verdict

METHODS = ["base", "sft", "filtering", "rl", "nado", "regularized", "regularized_adaptive", "regularized_sequential"]


def _paired(differences: dict) -> pd.DataFrame:
    """differences: {(method, reference, metric): (estimate, low, high)}."""
    rows = [{"model": "m", "method": method, "reference": reference, "metric": metric, "estimate": est, "ci_low": low,
             "ci_high": high, "method_value": 10.0 + est, "reference_value": 10.0,
             "higher_is_better": metric.endswith("shot"), "finding": "", "unit": "prompts", "n_units": 50, "n_seeds": 1}
            for (method, reference, metric), (est, low, high) in differences.items()]
    return pd.DataFrame(rows)


def _main():
    return pd.DataFrame({"model": "m", "method": METHODS})


def _rows(table, claim):
    return table[table["claim"] == claim]


def test_verdicts_of_directional_and_equivalence_tests():
    assert verdict(-5, -1, "less") == "supported"
    assert verdict(1, 5, "less") == "contradicted"
    assert verdict(-1, 1, "less") == "inconclusive"
    assert verdict(52, 60, "greater", null=50) == "supported"
    assert verdict(-1.5, 1.5, "equivalent", margin=2) == "supported"
    assert verdict(2.5, 4, "equivalent", margin=2) == "contradicted"
    assert verdict(-1, 3, "equivalent", margin=2) == "inconclusive"
    assert verdict(float("nan"), 1, "less") == "not tested"
    assert combine(["supported", "supported", "not tested"]) == "supported"
    assert combine(["supported", "contradicted"]) == "mixed"
    assert combine(["contradicted", "contradicted"]) == "contradicted"
    assert combine(["supported", "inconclusive"]) == "inconclusive"
    assert combine(["not tested"]) == "not tested"


@pytest.mark.parametrize("interval, expected", [((-8.0, -12.0, -4.0), "supported"), ((6.0, 2.0, 10.0), "contradicted"),
                                                ((-1.0, -4.0, 2.0), "inconclusive")])
def test_claim_1_from_the_paired_toxicity_difference(interval, expected):
    paired = _paired({("regularized", "base", "toxicity_pct"): interval,
                      ("regularized_adaptive", "base", "toxicity_pct"): interval})
    table = claims_table({"main": _main(), "paired": paired}, ["m"])
    rows = _rows(table, 1)
    assert list(rows["verdict"]) == [expected, expected]
    assert set(rows["claim_verdict"]) == {expected}
    assert rows.iloc[0]["comparison"] == "regularized - base"


def test_a_pair_stored_the_other_way_round_is_read_negated():
    paired = _paired({("regularized", "base", "toxicity_pct"): (-8.0, -12.0, -4.0),
                      ("regularized_sequential", "regularized", "toxicity_pct"): (0.5, -1.0, 1.5)})
    table = claims_table({"main": _main(), "paired": paired}, ["m"])
    row = _rows(table, 7)[lambda f: f["metric"] == "toxicity_pct"].iloc[0]
    assert (row["estimate"], row["ci_low"], row["ci_high"]) == (-0.5, -1.5, 1.0)
    assert row["verdict"] == "supported"  # within +-2 points


def test_equivalence_claims_use_the_configured_margin():
    paired = _paired({("regularized", "rl", "toxicity_pct"): (1.0, -2.5, 4.5)})
    loose = claims_table({"main": _main(), "paired": paired}, ["m"], margins={"toxicity_pp": 5.0})
    tight = claims_table({"main": _main(), "paired": paired}, ["m"], margins={"toxicity_pp": 2.0})
    pick = lambda t: t[(t["claim"] == 2) & (t["part"] == "regularized vs rl")].iloc[0]
    assert pick(loose)["verdict"] == "supported" and pick(tight)["verdict"] == "inconclusive"
    assert pick(loose)["test"] == "within 0 +- 5"


def test_missing_methods_and_tables_are_not_tested_and_say_why():
    main = pd.DataFrame({"model": "m", "method": ["base", "sft", "regularized"]})
    table = claims_table({"main": main, "paired": _paired({})}, ["m"])
    assert set(_rows(table, 6)["verdict"]) == {"not tested"}
    assert set(_rows(table, 8)["note"]) == {"Jigsaw variant not enabled"}
    assert "not in this run" in _rows(table, 2).iloc[0]["note"]
    assert set(table["claim"]) == set(range(1, 9))  # every claim has a row


def test_a_judge_that_failed_its_controls_makes_win_rate_parts_inconclusive():
    winrate = pd.DataFrame([{"model": "m", "winner": "regularized_adaptive", "loser": loser, "win_rate_pct": 80.0,
                             "ci_low": 70.0, "ci_high": 90.0, "judge_informative": informative}
                            for loser in ("base", "filtering", "rl") for informative in [False]])
    table = claims_table({"main": _main(), "paired": _paired({}), "winrate": winrate}, ["m"])
    rows = _rows(table, 5)
    assert set(rows["verdict"]) == {"inconclusive"}
    assert rows["note"].str.contains("judge uninformative").all()
    trusted = claims_table({"main": _main(), "paired": _paired({}), "winrate": winrate.assign(judge_informative=True)}, ["m"])
    assert list(_rows(trusted, 5)["verdict"]) == ["contradicted", "supported", "supported"]  # 80% is not "about 50%"


def test_cost_ratio_over_seeds_and_jigsaw_intervals(tmp_path):
    cost = pd.DataFrame([{"job": "train", "model": "m", "method": method, "seed": seed, "wall_s": wall}
                         for seed in (0, 1, 2) for method, wall in
                         (("sft", 100.0 + seed), ("regularized", 105.0 + seed), ("regularized_sequential", 150.0))])
    jigsaw = pd.DataFrame([
        {"model": "m", "method": "base", "api_toxicity": 0.30, "api_toxicity_ci_low": 0.29, "api_toxicity_ci_high": 0.31,
         "classify_roc_auc": 0.5, "classify_roc_auc_ci_low": 0.45, "classify_roc_auc_ci_high": 0.55},
        {"model": "m", "method": "sft_lm", "api_toxicity": 0.35, "api_toxicity_ci_low": 0.34, "api_toxicity_ci_high": 0.36,
         "classify_roc_auc": 0.96, "classify_roc_auc_ci_low": 0.955, "classify_roc_auc_ci_high": 0.965},
        {"model": "m", "method": "regularized_lm", "api_toxicity": 0.25, "api_toxicity_ci_low": 0.24, "api_toxicity_ci_high": 0.26,
         "classify_roc_auc": 0.958, "classify_roc_auc_ci_low": 0.953, "classify_roc_auc_ci_high": 0.963},
    ])
    table = claims_table({"main": _main(), "paired": _paired({}), "cost": cost, "jigsaw": jigsaw}, ["m"])
    cost_rows = _rows(table, 6)
    assert list(cost_rows["verdict"]) == ["supported", "supported"]
    assert cost_rows.iloc[0]["estimate"] == pytest.approx(sum((105 + s) / (100 + s) for s in range(3)) / 3, abs=1e-4)
    assert list(_rows(table, 8)["verdict"]) == ["supported"] * 4
    assert _rows(table, 8)["claim_verdict"].iloc[0] == "supported"
    plot_claims(table, tmp_path / "claims.png")
    assert (tmp_path / "claims.png").stat().st_size > 0


def test_an_accuracy_at_chance_cannot_support_or_contradict():
    paired = _paired({("regularized", "regularized_sequential", "mmlu_5shot"): (0.0, 0.0, 0.0),
                      ("regularized", "regularized_sequential", "commonsense_0shot"): (0.0, -1.0, 1.0)})
    main = _main().assign(mmlu_5shot_at_chance=lambda f: f["method"] == "regularized_sequential",
                          commonsense_0shot_at_chance=False)
    rows = _rows(claims_table({"main": main, "paired": paired}, ["m"]), 7).set_index("metric")
    assert rows.loc["mmlu_5shot", "verdict"] == "inconclusive"  # identical answers, but both guessing
    assert "at chance for regularized_sequential" in rows.loc["mmlu_5shot", "note"]
    assert rows.loc["commonsense_0shot", "verdict"] == "supported"  # above chance: the equivalence stands
