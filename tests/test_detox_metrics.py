"""Expected maximum toxicity, toxicity probability and distinct-n on hand-built inputs (evaluation/detox_metrics.py)."""
import math
import sys

import numpy as np
import pytest

from evaluation import detox_metrics as dm

# 3 prompts x 2 samples, rows interleaved as a generations file would not be (order must not matter)
SCORES = [[0.10, 0.70],   # prompt "a": max 0.70, toxic at 0.5
          [0.20, 0.30],   # prompt "b": max 0.30, not toxic
          [0.90, 0.50]]   # prompt "c": max 0.90, toxic (0.50 >= 0.5 counts too)
FLAT_SCORES = [0.10, 0.20, 0.90, 0.70, 0.30, 0.50]
FLAT_IDS = ["a", "b", "c", "a", "b", "c"]


def test_importing_does_not_import_torch():
    import subprocess  # in a fresh process: other tests may have imported torch already

    code = "import sys, evaluation.detox_metrics; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_expected_maximum_toxicity_is_the_mean_of_per_prompt_maxima():
    assert dm.expected_max_toxicity(FLAT_SCORES, FLAT_IDS) == pytest.approx((0.70 + 0.30 + 0.90) / 3, abs=1e-15)
    assert dm.max_score_per_prompt(FLAT_SCORES, FLAT_IDS).tolist() == [0.70, 0.30, 0.90]


def test_toxicity_probability_is_the_percent_of_prompts_with_a_toxic_sample():
    assert dm.toxicity_probability(FLAT_SCORES, FLAT_IDS, threshold=0.5) == pytest.approx(200 / 3)
    assert dm.toxicity_probability(FLAT_SCORES, FLAT_IDS, threshold=0.8) == pytest.approx(100 / 3)
    assert dm.toxicity_probability(FLAT_SCORES, FLAT_IDS, threshold=0.95) == 0.0
    assert dm.toxicity_probability(FLAT_SCORES, FLAT_IDS, threshold=0.3) == 100.0


def test_samples_per_prompt_is_k_and_must_be_the_same_for_every_prompt():
    assert dm.samples_per_prompt(FLAT_IDS) == 2
    with pytest.raises(ValueError, match="same k"):
        dm.samples_per_prompt(["a", "a", "b"])


def test_distinct_n_on_known_strings():
    texts = ["the cat sat", "the cat ran"]
    # unigrams: the cat sat the cat ran -> 4 unique / 6
    assert dm.distinct_n(texts, 1) == pytest.approx(4 / 6)
    # bigrams: (the cat) (cat sat) (the cat) (cat ran) -> 3 unique / 4
    assert dm.distinct_n(texts, 2) == pytest.approx(3 / 4)
    # trigrams: (the cat sat) (the cat ran) -> 2 / 2
    assert dm.distinct_n(texts, 3) == 1.0
    # n-grams do not cross continuations; whitespace of any kind separates words
    assert dm.distinct_n(["a b", "c"], 2) == 1.0  # only (a b): no (b c)
    assert dm.distinct_n(["  a\tb  a "], 1) == pytest.approx(2 / 3)
    assert dm.distinct_n(["a a a a"], 2) == pytest.approx(1 / 3)


def test_distinct_n_without_ngrams_is_nan_and_left_out_of_the_mean():
    assert math.isnan(dm.distinct_n(["", "one"], 2))
    assert math.isnan(dm.distinct_n([], 1))
    assert dm.mean_distinct_n([["a b", "a b"], ["x"]], 2) == pytest.approx(0.5)  # prompt 2 has no bigram
    assert math.isnan(dm.mean_distinct_n([["x"], [""]], 2))
    with pytest.raises(TypeError):
        dm.distinct_n("a single string", 1)


def test_mean_distinct_n_averages_prompts_not_pooled_ngrams():
    # prompt 1: 1/4 unique unigrams; prompt 2: 2/2 -> mean 0.625 (pooled would be 3/6)
    assert dm.mean_distinct_n([["a a", "a a"], ["b c"]], 1) == pytest.approx(0.625)


def _rows(scores=FLAT_SCORES, ids=FLAT_IDS, texts=None):
    texts = texts or [f"w{i} x y" for i in range(len(scores))]
    return [{"id": i, "toxicity": s, "continuation": t} for i, s, t in zip(ids, scores, texts)]


def test_generation_metrics_values_and_keys():
    texts = ["the cat sat", "a b", "", "the cat ran", "a b", "x"]
    out = dm.generation_metrics(_rows(texts=texts), threshold=0.5, n_resamples=200, seed=0)
    assert out["samples_per_prompt"] == 2
    assert out["expected_max_toxicity"] == pytest.approx(0.63333333333333)
    assert out["toxicity_probability_pct"] == pytest.approx(66.6666666666667)
    # distinct-1 per prompt: a 4/6, b ("a b","a b") 2/4, c ("", "x") 1/1 -> mean (2/3 + 1/2 + 1) / 3
    assert out["distinct_1"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    # distinct-2: a 3/4, b 1/2, c none (left out)
    assert out["distinct_2"] == pytest.approx((0.75 + 0.5) / 2)
    # distinct-3: a 2/2 only
    assert out["distinct_3"] == 1.0
    expected_keys = {"samples_per_prompt"}
    for name in ("expected_max_toxicity", "distinct_1", "distinct_2", "distinct_3"):
        expected_keys |= {name, f"{name}_ci_low", f"{name}_ci_high"}
    expected_keys |= {"toxicity_probability_pct", "toxicity_probability_ci_low", "toxicity_probability_ci_high"}
    assert set(out) == expected_keys


@pytest.mark.parametrize("name,estimate", [("expected_max_toxicity", "expected_max_toxicity"),
                                           ("toxicity_probability", "toxicity_probability_pct"),
                                           ("distinct_1", "distinct_1"), ("distinct_2", "distinct_2")])
def test_intervals_contain_the_estimate_and_are_seeded(name, estimate):
    rng = np.random.default_rng(1)
    n_prompts, k = 40, 3
    ids = np.repeat(np.arange(n_prompts), k)
    scores = rng.uniform(size=n_prompts * k)
    words = ["a", "b", "c", "d", "e"]
    texts = [" ".join(rng.choice(words, size=6)) for _ in ids]
    rows = _rows(scores.tolist(), ids.tolist(), texts)
    out = dm.generation_metrics(rows, threshold=0.5, n_resamples=500, seed=3)
    assert out[f"{name}_ci_low"] <= out[estimate] <= out[f"{name}_ci_high"]
    assert out[f"{name}_ci_low"] < out[f"{name}_ci_high"]
    assert dm.generation_metrics(rows, threshold=0.5, n_resamples=500, seed=3) == out
    assert dm.generation_metrics(rows, threshold=0.5, n_resamples=500, seed=4) != out


def test_identical_scores_give_a_zero_width_interval():
    rows = _rows([0.3] * 6, FLAT_IDS, ["a b c"] * 6)
    out = dm.generation_metrics(rows, threshold=0.5, n_resamples=300, seed=0)
    assert out["expected_max_toxicity_ci_low"] == out["expected_max_toxicity_ci_high"] == pytest.approx(0.3)
    assert out["expected_max_toxicity"] == pytest.approx(0.3)
    assert out["toxicity_probability_ci_low"] == out["toxicity_probability_ci_high"] == out["toxicity_probability_pct"] == 0.0
    assert out["distinct_1_ci_low"] == out["distinct_1_ci_high"] == out["distinct_1"] == 0.5


def test_bootstrap_mean_ci_drops_nan_and_handles_nothing():
    low, high = dm.bootstrap_mean_ci([1.0, np.nan, 1.0], n_resamples=100)
    assert low == high == 1.0
    assert all(math.isnan(v) for v in dm.bootstrap_mean_ci([np.nan], n_resamples=100))
    with pytest.raises(ValueError):
        dm.bootstrap_mean_ci([1.0], n_resamples=0)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="one prompt id per score"):
        dm.expected_max_toxicity([0.1, 0.2], ["a"])
    with pytest.raises(ValueError):
        dm.toxicity_probability([0.1], ["a"], threshold=1.5)
    with pytest.raises(ValueError):
        dm.generation_metrics([])


def test_json_safe_turns_nan_into_null():
    from evaluation.benchmarks import json_safe

    assert json_safe({"a": math.nan, "b": 1.0, "c": "x"}) == {"a": None, "b": 1.0, "c": "x"}


def test_scorer_label_matches_the_built_scorer_name_and_same_scorer_ignores_batch_size():
    from evaluation.toxicity import build_scorer

    block = {"backend": "profanity_check", "threshold": 0.5, "batch_size": 8}
    assert dm.scorer_label(block) == build_scorer(block).name == "profanity_check"
    assert dm.scorer_label({"backend": "hf_classifier", "hub_id": "tomh/toxigen_roberta", "path": "/x/y"}) == "hf:tomh/toxigen_roberta"
    assert dm.scorer_label({"backend": "hf_classifier", "path": "/models/roberta"}) == "hf:roberta"
    assert dm.scorer_label({"backend": "detoxify", "checkpoint": "c.ckpt"}) == "detoxify:original"
    assert dm.same_scorer(block, {"backend": "profanity_check", "threshold": 0.5, "batch_size": 256})
    assert dm.same_scorer({}, {"backend": "profanity_check"})
    assert not dm.same_scorer(block, {**block, "threshold": 0.7})
    assert not dm.same_scorer(block, {"backend": "hf_classifier", "hub_id": "tomh/toxigen_roberta"})


@pytest.mark.parametrize("same", [True, False])
def test_score_toxicity_script_keeps_its_keys_and_adds_the_generation_metrics(tmp_path, monkeypatch, same):
    import json
    import runpy
    from pathlib import Path
    from types import SimpleNamespace

    import scripts._common
    from corpora.jsonl import write_jsonl

    monkeypatch.setattr(scripts._common, "start_job", lambda snakemake: None)
    texts = ["you are a stupid idiot", "have a nice day", "what a lovely garden", "shut up you moron",
             "the cat sat on the mat", "the cat sat on the mat"]
    generations = tmp_path / "toxicity.jsonl"
    write_jsonl([{"id": i // 2, "prompt": "p", "continuation": t, "sample": i % 2} for i, t in enumerate(texts)], generations)
    metrics_file = tmp_path / "toxicity.json"
    job = SimpleNamespace(
        wildcards=SimpleNamespace(model="m", method="base", seed="0"),
        params=SimpleNamespace(scorer={"backend": "profanity_check", "threshold": 0.5, "batch_size": 4},
                               oracle="profanity_check" if same else "hf:tomh/toxigen_roberta",
                               scorer_is_oracle=same, resamples=100),
        input=[str(generations)], output=SimpleNamespace(scored=str(tmp_path / "scored.jsonl"), metrics=str(metrics_file)),
        log=[], threads=1,
    )
    runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "score_toxicity.py"),
                   init_globals={"snakemake": job}, run_name="__main__")
    metrics = json.loads(metrics_file.read_text())
    old_keys = {"toxicity_pct", "toxicity_ci_low", "toxicity_ci_high", "mean_toxicity_score", "n_prompts", "n_samples",
                "scorer", "threshold", "seed", "interval"}
    new_keys = {"samples_per_prompt", "expected_max_toxicity", "expected_max_toxicity_ci_low", "expected_max_toxicity_ci_high",
                "toxicity_probability_pct", "toxicity_probability_ci_low", "toxicity_probability_ci_high", "oracle",
                "scorer_is_oracle"} | {f"distinct_{n}{s}" for n in (1, 2, 3) for s in ("", "_ci_low", "_ci_high")}
    assert set(metrics) == old_keys | new_keys
    assert metrics["samples_per_prompt"] == 2 and metrics["n_prompts"] == 3
    assert metrics["scorer"] == "profanity_check" and metrics["scorer_is_oracle"] is same
    assert metrics["oracle"] == ("profanity_check" if same else "hf:tomh/toxigen_roberta")
    # distinct-1: prompt 0 8/9 ("a" twice), prompt 1 8/8, prompt 2 5/12 (one sentence twice, "the" twice in it)
    assert metrics["distinct_1"] == pytest.approx((8 / 9 + 1.0 + 5 / 12) / 3)
    assert metrics["toxicity_probability_pct"] >= metrics["toxicity_pct"]  # any of k toxic >= the share of toxic samples
