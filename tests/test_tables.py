"""The main table from hand-made metric files: one seed, several seeds, intervals pinned."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from evaluation.tables import main_table, read_run_metrics, read_run_samples

T975_DF2 = 4.302653  # Student t, 0.975 quantile, 2 degrees of freedom


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def _run_files(root, model, method, seed, toxicity_pct, mmlu, commonsense, ci=(0.0, 0.0), n_prompts=4, n_samples=8):
    run = root / "metrics" / model / method / f"seed{seed}"
    return [
        _write(run / "toxicity.json", {"toxicity_pct": toxicity_pct, "toxicity_ci_low": ci[0], "toxicity_ci_high": ci[1],
                                       "n_prompts": n_prompts, "n_samples": n_samples, "scorer": "hand"}),
        _write(run / "mmlu.json", {"num_fewshot": 5, "mean_pct": mmlu}),
        _write(run / "commonsense.json", {"num_fewshot": 0, "mean_pct": commonsense}),
    ]


# Three seeds x 4 prompts x 2 samples; per seed 3/8, 2/8, 1/8 toxic -> 37.5, 25, 12.5 %.
FLAGS = {
    0: {"p0": [1, 0], "p1": [0, 0], "p2": [1, 1], "p3": [0, 0]},
    1: {"p0": [1, 1], "p1": [0, 0], "p2": [0, 0], "p3": [0, 0]},
    2: {"p0": [0, 0], "p1": [0, 0], "p2": [1, 0], "p3": [0, 0]},
}
MMLU = {0: 30.0, 1: 32.0, 2: 34.0}


def _scored_file(root, model, method, seed):
    path = root / "generations" / model / method / f"seed{seed}" / "toxicity.scored.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"id": prompt, "sample": k, "continuation": "...", "toxicity": float(flag), "toxic": bool(flag)}
            for prompt, flags in FLAGS[seed].items() for k, flag in enumerate(flags)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def three_seeds(tmp_path):
    metrics, scored = [], []
    for seed, flags in FLAGS.items():
        pct = 100 * sum(map(sum, flags.values())) / 8
        metrics += _run_files(tmp_path, "m", "sft", seed, pct, MMLU[seed], 60.0, ci=(pct - 5, pct + 5))
        scored.append(_scored_file(tmp_path, "m", "sft", seed))
    return read_run_metrics(metrics), read_run_samples(scored)


def test_one_seed_keeps_the_runs_numbers_and_its_bootstrap(tmp_path):
    files = _run_files(tmp_path, "m", "base", 0, 25.0, 30.0, 60.0, ci=(10.0, 40.0))
    files += _run_files(tmp_path, "m", "sft", 0, 12.5, 28.0, 58.0, ci=(0.0, 25.0))
    by_seed, table = main_table(read_run_metrics(files), methods=["base", "sft"], models=["m"])
    assert list(by_seed["method"]) == ["base", "sft"]
    base = table.set_index("method").loc["base"]
    assert (base["toxicity_pct"], base["toxicity_ci_low"], base["toxicity_ci_high"]) == (25.0, 10.0, 40.0)
    assert (base["mmlu_5shot"], base["commonsense_0shot"]) == (30.0, 60.0)
    assert base["interval"] == "bootstrap over prompts"
    assert (base["n_prompts"], base["n_samples"], base["seed"], base["n_seeds"], base["scorer"]) == (4, 8, "0", 1, "hand")
    # one seed: no spread across seeds to estimate, so those intervals are empty, not zero-width
    for column in ["toxicity_seed_ci_low", "mmlu_5shot_ci_low", "mmlu_5shot_ci_high", "commonsense_0shot_ci_high"]:
        assert math.isnan(base[column]), column


def test_several_seeds_pool_samples_and_bootstrap_prompts_shared_by_seeds(three_seeds):
    runs, samples = three_seeds
    _, table = main_table(runs, methods=["sft"], models=["m"], samples=samples, n_resamples=400, bootstrap_seed=3)
    row = table.iloc[0]
    assert row["toxicity_pct"] == 25.0  # 6 toxic of 24 pooled samples
    assert row["interval"] == "bootstrap over prompts, seeds pooled"
    assert (row["seed"], row["n_seeds"], row["n_samples"]) == ("0,1,2", 3, 8)
    # Reference: draw 4 prompts with replacement; each brings its 6 samples (2 per seed).
    hits = np.array([3, 0, 3, 0])  # toxic samples of p0..p3 over the three seeds
    rng = np.random.default_rng(3)
    rates = [100 * hits[rng.integers(0, 4, size=4)].sum() / 24 for _ in range(400)]
    low, high = np.percentile(rates, [2.5, 97.5])
    assert (row["toxicity_ci_low"], row["toxicity_ci_high"]) == (round(low, 2), round(high, 2))
    # t over the per-seed rates 37.5, 25, 12.5: sd 12.5, 25 -+ 31.05, clipped at 0 (a percentage)
    half = T975_DF2 * 12.5 / math.sqrt(3)
    assert round(25 - half, 2) == -6.05
    assert (row["toxicity_seed_ci_low"], row["toxicity_seed_ci_high"]) == (0.0, round(25 + half, 2))
    assert row["toxicity_seed_ci_high"] == 56.05


def test_several_seeds_give_utility_a_t_interval_across_seeds(three_seeds):
    runs, samples = three_seeds
    _, table = main_table(runs, methods=["sft"], models=["m"], samples=samples)
    row = table.iloc[0]
    assert (row["mmlu_5shot"], row["mmlu_5shot_ci_low"], row["mmlu_5shot_ci_high"]) == (32.0, 27.03, 36.97)
    assert round(32 - T975_DF2 * 2 / math.sqrt(3), 2) == 27.03
    assert (row["commonsense_0shot"], row["commonsense_0shot_ci_low"], row["commonsense_0shot_ci_high"]) == (60.0, 60.0, 60.0)


def test_several_seeds_without_samples_fall_back_to_t_over_seeds(three_seeds):
    runs, _ = three_seeds
    _, table = main_table(runs, methods=["sft"], models=["m"])
    row = table.iloc[0]
    assert row["interval"] == "t over seeds"
    assert (row["toxicity_pct"], row["toxicity_ci_low"], row["toxicity_ci_high"]) == (25.0, 0.0, 56.05)


def test_a_seed_without_samples_is_an_error(three_seeds):
    runs, samples = three_seeds
    with pytest.raises(ValueError, match=r"seed\(s\) \[2\]"):
        main_table(runs, methods=["sft"], models=["m"], samples=samples[samples["seed"] != 2])


def test_read_run_samples_takes_the_run_from_the_path(tmp_path):
    samples = read_run_samples([_scored_file(tmp_path, "m", "sft", 1)])
    assert list(samples.columns) == ["model", "method", "seed", "id", "toxic"]
    assert (samples["model"].unique().tolist(), samples["seed"].unique().tolist()) == (["m"], [1])
    assert samples["toxic"].sum() == 2 and len(samples) == 8
    with pytest.raises(ValueError, match="not a scored generations path"):
        read_run_samples([tmp_path / "elsewhere.jsonl"])


def test_table_rows_follow_the_config_order(tmp_path):
    files = []
    for model in ("b", "a"):
        for method in ("sft", "base"):
            files += _run_files(tmp_path, model, method, 0, 10.0, 30.0, 60.0)
    _, table = main_table(read_run_metrics(files), methods=["base", "sft"], models=["a", "b"])
    assert list(zip(table["model"], table["method"])) == [("a", "base"), ("a", "sft"), ("b", "base"), ("b", "sft")]
    assert isinstance(table, pd.DataFrame)


def test_across_seed_intervals_stay_within_0_and_100(tmp_path):
    files = []
    for seed, mmlu in enumerate([96.0, 100.0, 98.0]):  # mean 98, sd 2: t-interval 93.03 .. 102.97
        files += _run_files(tmp_path, "m", "sft", seed, 0.0, mmlu, 60.0)
    _, table = main_table(read_run_metrics(files), methods=["sft"], models=["m"])
    row = table.iloc[0]
    assert (row["mmlu_5shot"], row["mmlu_5shot_ci_low"], row["mmlu_5shot_ci_high"]) == (98.0, 93.03, 100.0)
    assert (row["toxicity_seed_ci_low"], row["toxicity_seed_ci_high"]) == (0.0, 0.0)


def test_methods_at_the_same_point_are_set_side_by_side_and_all_named(tmp_path):
    from evaluation.plots import dodge_offsets, figure_main, plot_main

    assert dodge_offsets([0, 0, 7.5, 0], [50, 50, 47.5, 50]) == [-7.0, 0.0, 0.0, 7.0]
    assert dodge_offsets([1, 2], [3, 3]) == [0.0, 0.0]
    table = pd.DataFrame({
        "model": "m", "method": ["base", "nado", "filtering", "sft"], "toxicity_pct": [0.0, 0.0, 0.0, 22.0],
        "toxicity_ci_low": [0.0, 0.0, 0.0, 15.0], "toxicity_ci_high": [0.0, 0.0, 0.0, 30.0],
        "mmlu_5shot": [15.0, 15.0, 15.0, 20.0], "mmlu_5shot_chance": 25.0, "heldout_general_word_ppl": [30.0, 30.0, 30.0, 25.0],
    })
    figure = figure_main(table)
    legend = figure.legends[0]
    assert [text.get_text() for text in legend.get_texts()] == ["base", "nado", "filtering", "sft"]
    assert len(figure.axes) == 2  # one panel per utility measure, perplexity included
    plot_main(table, tmp_path / "main.png")


def test_every_measure_keeps_its_interval_and_chance_is_marked(tmp_path):
    run = tmp_path / "metrics" / "m" / "base" / "seed0"
    files = [
        _write(run / "toxicity.json", {"toxicity_pct": 20.0, "toxicity_ci_low": 10.0, "toxicity_ci_high": 30.0, "n_prompts": 4,
                                       "n_samples": 8, "scorer": "eval", "oracle": "train", "scorer_is_oracle": False,
                                       "samples_per_prompt": 2, "expected_max_toxicity": 0.4,
                                       "expected_max_toxicity_ci_low": 0.3, "expected_max_toxicity_ci_high": 0.5,
                                       "distinct_2": 0.8, "distinct_2_ci_low": 0.7, "distinct_2_ci_high": 0.9}),
        _write(run / "fluency.json", {"fluency_ppl": 12.0, "fluency_ppl_ci_low": 11.0, "fluency_ppl_ci_high": 13.5,
                                      "reference_model": "ref"}),
        _write(run / "mmlu.json", {"num_fewshot": 5, "mean_pct": 27.0, "mean_pct_ci_low": 20.0, "mean_pct_ci_high": 34.0,
                                   "chance_pct": 25.0}),
        _write(run / "commonsense.json", {"num_fewshot": 0, "mean_pct": 60.0, "mean_pct_ci_low": 55.0,
                                          "mean_pct_ci_high": 65.0, "chance_pct": 33.3}),
        _write(run / "perplexity.json", {"kind": "perplexity", "num_fewshot": 0, "mean_pct": None, "tasks": {
            "heldout_general": {"word_perplexity": 40.0, "word_perplexity_ci_low": 35.0, "word_perplexity_ci_high": 46.0}}}),
    ]
    _, table = main_table(read_run_metrics(files), methods=["base"], models=["m"])
    row = table.iloc[0]
    assert (row["expected_max_toxicity"], row["expected_max_toxicity_ci_low"], row["expected_max_toxicity_ci_high"]) == (0.4, 0.3, 0.5)
    assert (row["fluency_ppl"], row["fluency_ppl_ci_high"], row["fluency_reference"]) == (12.0, 13.5, "ref")
    assert (row["heldout_general_word_ppl"], row["heldout_general_word_ppl_ci_low"]) == (40.0, 35.0)
    assert row["mmlu_5shot_at_chance"] and not row["commonsense_0shot_at_chance"]
    assert (row["scorer"], row["oracle"], row["scorer_is_oracle"], row["samples_per_prompt"]) == ("eval", "train", False, 2)
