"""Paired comparisons (evaluation/paired.py): same prompts/documents and seeds, resampled together."""
import json

import numpy as np
import pandas as pd
import pytest

from evaluation.paired import Measure, draw_counts, finding, lookup, paired_difference, paired_table


def _generations(method, flags_by_seed, scores_by_seed=None):
    rows = []
    for seed, flags in enumerate(flags_by_seed):
        for prompt, sample_flags in enumerate(flags):
            for sample, flag in enumerate(sample_flags):
                score = scores_by_seed[seed][prompt][sample] if scores_by_seed else float(flag)
                rows.append({"model": "m", "method": method, "seed": seed, "id": f"p{prompt}", "sample": sample,
                             "toxic": flag, "toxicity": score})
    return rows


def _cells(rows):
    frame = pd.DataFrame(rows)
    return (frame.groupby(["model", "method", "seed", "id"], sort=False)
            .agg(toxic=("toxic", "sum"), samples=("toxic", "size"), max_score=("toxicity", "max"), any_toxic=("toxic", "max"))
            .reset_index())


def test_identical_arms_give_a_zero_width_interval_around_zero():
    rng = np.random.default_rng(0)
    toxic = rng.integers(0, 2, size=(3, 40)).astype(float)
    arm = Measure(toxic, np.ones_like(toxic), np.zeros(40, dtype=int), "percent")
    result = paired_difference(arm, arm, n_resamples=300, seed=1)
    assert result["estimate"] == result["ci_low"] == result["ci_high"] == 0.0


def test_the_estimate_is_the_difference_of_the_pooled_rates_and_the_interval_covers_it():
    base = [[[1, 1], [1, 0], [0, 0], [1, 1]]]  # 5 of 8 toxic
    method = [[[0, 0], [1, 0], [0, 0], [0, 1]]]  # 2 of 8 toxic
    cells = _cells(_generations("base", base) + _generations("ours", method))
    table = paired_table(cells, None, ["base", "ours"], ["m"], n_resamples=500)
    row = table[table["metric"] == "toxicity_pct"].iloc[0]
    assert (row["method"], row["reference"]) == ("ours", "base")
    assert row["method_value"] == 25.0 and row["reference_value"] == 62.5 and row["estimate"] == -37.5
    assert row["ci_low"] <= -37.5 <= row["ci_high"]
    emt = table[table["metric"] == "expected_max_toxicity"].iloc[0]
    assert emt["method_value"] == 0.5 and emt["reference_value"] == 0.75  # max over k=2 per prompt, mean over prompts


def test_a_consistent_shift_on_every_prompt_is_significant_and_an_opposite_one_is_not():
    n = 60
    base = Measure(np.ones((2, n)), np.ones((2, n)), np.zeros(n, dtype=int), "percent")
    better = Measure(np.zeros((2, n)), np.ones((2, n)), np.zeros(n, dtype=int), "percent")
    result = paired_difference(better, base, n_resamples=200)
    assert result["ci_high"] == result["ci_low"] == -100.0
    assert finding(result["ci_low"], result["ci_high"], higher_is_better=False) == "better"
    assert finding(-3.0, 2.0, higher_is_better=False) == "inconclusive"
    assert finding(1.0, 2.0, higher_is_better=True) == "better"


def test_draws_resample_seeds_and_units_within_strata():
    strata = np.array([0, 0, 0, 1, 1])
    seeds, units = draw_counts(3, strata, 50, seed=0)
    assert seeds.shape == (50, 3) and (seeds.sum(axis=1) == 3).all()
    assert (units[:, :3].sum(axis=1) == 3).all() and (units[:, 3:].sum(axis=1) == 2).all()


def test_perplexity_is_exp_of_total_nll_over_total_words_and_accuracy_averages_tasks():
    documents = pd.DataFrame([
        {"model": "m", "method": meth, "seed": 0, "suite": "perplexity", "task": "heldout_general", "doc_id": d,
         "loglikelihood": ll, "words": w}
        for meth, lls in (("base", [-10.0, -20.0]), ("sft", [-8.0, -16.0])) for d, (ll, w) in enumerate(zip(lls, [5, 10]))
    ] + [
        {"model": "m", "method": meth, "seed": 0, "suite": "mmlu", "task": task, "doc_id": d, "acc": acc}
        for meth, accs in (("base", [1, 0, 0, 1, 1, 1]), ("sft", [1, 1, 0, 1, 1, 1]))
        for d, (task, acc) in enumerate(zip(["a", "a", "a", "a", "b", "b"], accs))
    ])
    table = paired_table(pd.DataFrame(), documents, ["base", "sft"], ["m"], suites={"mmlu": {"num_fewshot": 5}}, n_resamples=100)
    ppl = table[table["metric"] == "heldout_general_word_ppl"].iloc[0]
    assert ppl["reference_value"] == pytest.approx(round(np.exp(30 / 15), 4))
    assert ppl["method_value"] == pytest.approx(round(np.exp(24 / 15), 4))
    assert not ppl["higher_is_better"]
    acc = table[table["metric"] == "mmlu_5shot"].iloc[0]
    assert acc["reference_value"] == pytest.approx(100 * (0.5 + 1.0) / 2)  # unweighted mean over the two tasks
    assert acc["method_value"] == pytest.approx(100 * (0.75 + 1.0) / 2)


def test_lookup_reads_either_orientation():
    cells = _cells(_generations("base", [[[1], [1], [0]]]) + _generations("ours", [[[0], [1], [0]]]))
    table = paired_table(cells, None, ["base", "ours"], ["m"], n_resamples=100)
    forward = lookup(table, "m", "ours", "base", "toxicity_pct")
    backward = lookup(table, "m", "base", "ours", "toxicity_pct")
    assert backward["estimate"] == -forward["estimate"]
    assert (backward["ci_low"], backward["ci_high"]) == (-forward["ci_high"], -forward["ci_low"])
    assert lookup(table, "m", "ours", "rl", "toxicity_pct") is None


def test_unpaired_arms_are_refused_with_a_clear_message():
    cells = _cells(_generations("base", [[[1], [0]]]) + _generations("ours", [[[0], [0], [1]]]))
    with pytest.raises(ValueError, match="not paired on toxicity_pct"):
        paired_table(cells, None, ["base", "ours"], ["m"], n_resamples=10)


def test_a_size_weighted_group_pools_its_subjects_documents():
    documents = pd.DataFrame([
        {"model": "m", "method": meth, "seed": 0, "suite": "mmlu", "group": "mmlu", "task": task, "doc_id": d, "acc": acc}
        for meth, accs in (("base", [1, 1, 1, 0]), ("sft", [1, 1, 0, 0]))
        for d, (task, acc) in enumerate(zip(["mmlu_a", "mmlu_a", "mmlu_a", "mmlu_b"], accs))
    ])
    table = paired_table(pd.DataFrame(), documents, ["base", "sft"], ["m"], suites={"mmlu": {"num_fewshot": 5}}, n_resamples=50)
    row = table.iloc[0]
    assert (row["reference_value"], row["method_value"]) == (75.0, 50.0)  # 3 of 4 and 2 of 4 pooled, not per subject
