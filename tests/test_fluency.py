"""Fluency: continuation perplexity under a reference model (evaluation/fluency.py) against a direct computation."""
import json
import math
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from evaluation.fluency import (
    continuation_nll,
    continuation_perplexities,
    encode_pair,
    fluency_summary,
)

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["The weather today is", "My neighbour keeps playing loud music at night and", "Hi", "The weather today is"]
CONTINUATIONS = [" sunny and warm.", " I cannot sleep at all, so I called him twice", " there!", " cold"]


def _load(path):
    from modeling.load import load_causal_lm, load_tokenizer

    return load_causal_lm(path, device="cpu", precision="fp32"), load_tokenizer(path)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return _load(tiny_model_dir)


@pytest.fixture(scope="module")
def tiny_bos(tiny_bos_model_dir):
    return _load(tiny_bos_model_dir)


def direct_perplexity(model, ids: list[int], prompt_len: int) -> float:
    """exp(mean NLL of ids[prompt_len:] given what precedes), one unbatched forward."""
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    nll = -sum(float(log_probs[t - 1, ids[t]]) for t in range(prompt_len, len(ids)))
    return math.exp(nll / (len(ids) - prompt_len))


@pytest.mark.parametrize("which", ["tiny", "tiny_bos"])
def test_perplexity_of_a_known_text_matches_a_direct_computation(which, request):
    model, tokenizer = request.getfixturevalue(which)
    prompt, continuation = "The weather today is", " sunny and warm, with a light breeze."
    prompt_ids = tokenizer(prompt)["input_ids"]
    continuation_ids = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    expected = direct_perplexity(model, prompt_ids + continuation_ids, len(prompt_ids))
    got = continuation_perplexities(model, tokenizer, [prompt], [continuation], batch_size=1)
    assert got.shape == (1,)
    assert got[0] == pytest.approx(expected, rel=1e-5)
    # a random model over a 49k vocabulary: near-uniform, so the perplexity is of that order
    assert 1e3 < got[0] < 1e6


@pytest.mark.parametrize("which", ["tiny", "tiny_bos"])
def test_batching_and_padding_give_the_numbers_of_batch_size_one(which, request):
    model, tokenizer = request.getfixturevalue(which)
    one = continuation_perplexities(model, tokenizer, PROMPTS, CONTINUATIONS, batch_size=1)
    for batch_size in (2, 3, 8):
        assert continuation_perplexities(model, tokenizer, PROMPTS, CONTINUATIONS, batch_size=batch_size) == \
            pytest.approx(one, rel=1e-5)
    _, n_tokens = continuation_nll(model, tokenizer, PROMPTS, CONTINUATIONS, batch_size=3)
    for i, (prompt, continuation) in enumerate(zip(PROMPTS, CONTINUATIONS)):  # input order kept, counts exact
        assert n_tokens[i] == len(tokenizer(continuation, add_special_tokens=False)["input_ids"])
        prompt_ids = tokenizer(prompt)["input_ids"]
        ids = prompt_ids + tokenizer(continuation, add_special_tokens=False)["input_ids"]
        assert one[i] == pytest.approx(direct_perplexity(model, ids, len(prompt_ids)), rel=1e-5)


def test_prompt_is_encoded_as_the_generator_encodes_it_bos_included(tiny_bos):
    """evaluation/generate.py feeds tokenizer(prompts) (BOS where the tokenizer adds it); the
    continuation follows without a second BOS."""
    model, tokenizer = tiny_bos
    prompt, continuation = "The weather today is", " sunny and warm."
    prompt_ids, continuation_ids = encode_pair(tokenizer, prompt, continuation)
    generator = tokenizer([prompt], return_tensors="pt", padding=True)["input_ids"][0].tolist()
    assert prompt_ids == generator and prompt_ids[0] == tokenizer.bos_token_id
    assert tokenizer.bos_token_id not in continuation_ids
    # the continuation's ids re-create its text as the generator decodes it
    assert tokenizer.decode(continuation_ids, skip_special_tokens=True) == continuation
    # and BOS matters: the same text scored without it is another number
    with_bos = continuation_perplexities(model, tokenizer, [prompt], [continuation])[0]
    without = direct_perplexity(model, prompt_ids[1:] + continuation_ids, len(prompt_ids) - 1)
    assert with_bos == pytest.approx(direct_perplexity(model, prompt_ids + continuation_ids, len(prompt_ids)), rel=1e-5)
    assert with_bos != pytest.approx(without, rel=1e-3)


def test_empty_continuations_are_excluded_and_counted(tiny):
    model, tokenizer = tiny
    ppl = continuation_perplexities(model, tokenizer, ["Hi", "Hi", "Hello"], ["", " there", ""], batch_size=2)
    assert math.isnan(ppl[0]) and math.isnan(ppl[2]) and np.isfinite(ppl[1])
    nll, n_tokens = continuation_nll(model, tokenizer, ["Hi", "Hi", "Hello"], ["", " there", ""])
    summary = fluency_summary(nll, n_tokens, ["a", "a", "b"], n_resamples=100)
    assert summary["n_excluded"] == 2 and summary["n_continuations"] == 3 and summary["n_prompts"] == 1
    assert summary["fluency_ppl"] == pytest.approx(ppl[1])


def test_fluency_summary_on_hand_built_values():
    # per continuation ppl: e^2, e^2, (excluded), e^1 -> prompts a: e^2, c: e -> mean (e^2 + e) / 2
    summary = fluency_summary([2.0, 4.0, 0.0, 3.0], [1, 2, 0, 3], ["a", "a", "b", "c"], n_resamples=200, seed=0)
    assert summary["fluency_ppl"] == pytest.approx((math.e**2 + math.e) / 2)
    assert summary["fluency_corpus_ppl"] == pytest.approx(math.exp(9 / 6))
    assert summary["n_excluded"] == 1 and summary["n_prompts"] == 2 and summary["n_tokens"] == 6
    assert summary["fluency_ppl_ci_low"] <= summary["fluency_ppl"] <= summary["fluency_ppl_ci_high"]
    assert math.e == pytest.approx(summary["fluency_ppl_ci_low"]) and math.e**2 == pytest.approx(summary["fluency_ppl_ci_high"])
    same = fluency_summary([1.0, 1.0], [1, 1], ["a", "b"], n_resamples=100)
    assert same["fluency_ppl_ci_low"] == same["fluency_ppl_ci_high"] == pytest.approx(math.e)


def test_fluency_script_writes_the_metrics_file(tiny_model_dir, tmp_path, monkeypatch):
    import scripts._common
    from corpora.jsonl import write_jsonl
    from modeling.manifest import ModelManifest, write_manifest

    monkeypatch.setattr(scripts._common, "start_job", lambda snakemake: None)
    manifest = tmp_path / "manifest.json"
    write_manifest(ModelManifest(alias="tiny", path=str(tiny_model_dir), base_path=str(tiny_model_dir)), manifest)
    generations = tmp_path / "toxicity.jsonl"
    write_jsonl([{"id": i % 4, "prompt": p, "continuation": c, "sample": i // 4}
                 for i, (p, c) in enumerate(zip(PROMPTS * 2, CONTINUATIONS + ["", " a", " b", " c"]))], generations)
    out = tmp_path / "fluency.json"
    job = SimpleNamespace(
        wildcards=SimpleNamespace(model="tiny", method="base", seed="0"),
        params=SimpleNamespace(reference_model="tiny", batch_size=3, resamples=100),
        input=SimpleNamespace(generations=str(generations), reference=str(manifest)),
        output=[str(out)], log=[], threads=1,
    )
    runpy.run_path(str(ROOT / "scripts" / "fluency.py"), init_globals={"snakemake": job}, run_name="__main__")
    metrics = json.loads(out.read_text())
    assert {"fluency_ppl", "fluency_ppl_ci_low", "fluency_ppl_ci_high", "fluency_corpus_ppl", "reference_model",
            "n_continuations", "n_excluded"} <= set(metrics)
    assert metrics["reference_model"] == "tiny" and metrics["n_continuations"] == 8 and metrics["n_excluded"] == 1
    assert metrics["fluency_ppl_ci_low"] <= metrics["fluency_ppl"] <= metrics["fluency_ppl_ci_high"]
