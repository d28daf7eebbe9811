"""Fluency: perplexity of the continuations under one fixed reference LM, given the prompt.

DExperts (Liu et al. 2021) and Quark (Lu et al. 2022) report the fluency of detoxified
generations as their perplexity under a larger model that none of the compared methods
changed (GPT-2 XL there; ``evaluation.fluency.model`` here, the same model for every
method). A detoxification that damages the language model shows up as a higher perplexity:
toxicity can be lowered by producing garbled or off-topic text, which this detects.

Per continuation (DExperts' ``conditional_perplexity``): ``exp(mean NLL of the
continuation's tokens given the prompt)``. Tokens as the generator sees them
(evaluation/generate.py): the prompt is ``tokenizer(prompt)["input_ids"]``, with the
special tokens the tokenizer adds (Llama's BOS; SmolLM2's and Falcon's add none), and the
continuation is ``tokenizer(continuation, add_special_tokens=False)["input_ids"]``
appended after it, as nado/train.py builds prompt + continuation. Encoding the
continuation on its own re-creates the generator's tokens from their decoded text
(byte-level BPE keeps the leading space; SentencePiece's dummy prefix restores the
space Llama's decoder drops), which ``tokenizer(prompt + continuation)`` would not do
for Llama. Only continuation tokens are scored; a continuation with no token (empty
text) is excluded (NaN) and counted. When the prompt has no token at all (no BOS, empty
prompt), the first continuation token has no context and is not scored.

Aggregates (``fluency_summary``):

- ``fluency_ppl``: the mean over prompts of the mean per-continuation perplexity of the
  prompt's continuations (excluded ones left out; a prompt with none left is dropped).
  With the same k for every prompt and nothing excluded this is DExperts' number, the
  mean over all generations. A 95% percentile bootstrap interval over prompts.
- ``fluency_corpus_ppl``: token-weighted, ``exp(sum of NLL / number of scored tokens)``
  over all continuations; less sensitive to a few very short, very unlikely ones.

Computation: batches of ``batch_size`` sequences, right-padded (positions are unchanged
by right padding), no gradients; the log-softmax in float32 over the continuation
positions only. The model is loaded by the caller (scripts/fluency.py: bf16 on a GPU,
fp32 on CPU, as every evaluation job). Sequences must fit the model's context.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def encode_pair(tokenizer, prompt: str, continuation: str) -> tuple[list[int], list[int]]:
    """(prompt ids with the tokenizer's special tokens, continuation ids without)."""
    prompt_ids = list(tokenizer(prompt)["input_ids"])
    continuation_ids = list(tokenizer(continuation, add_special_tokens=False)["input_ids"]) if continuation else []
    return prompt_ids, continuation_ids


def continuation_nll(model, tokenizer, prompts: Sequence[str], continuations: Sequence[str], batch_size: int = 16):
    """Per continuation: (sum of token NLLs in nats, number of scored tokens), two float64 /
    int64 arrays in input order; 0 tokens (and NLL 0) for an excluded continuation."""
    import torch

    if len(prompts) != len(continuations):
        raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_id is None:
        pad_id = 0  # padded positions are masked out and never scored
    sequences, starts = [], []
    for prompt, continuation in zip(prompts, continuations):
        prompt_ids, continuation_ids = encode_pair(tokenizer, prompt, continuation)
        sequences.append(prompt_ids + continuation_ids)
        starts.append(max(len(prompt_ids), 1))  # first scored position (needs one token of context)
    nll = np.zeros(len(sequences), dtype=np.float64)
    n_tokens = np.array([max(0, len(ids) - start) for ids, start in zip(sequences, starts)], dtype=np.int64)
    todo = [i for i in range(len(sequences)) if n_tokens[i] > 0]
    todo.sort(key=lambda i: len(sequences[i]))  # similar lengths together: less padding
    was_training = model.training
    model.eval()
    try:
        for first in range(0, len(todo), batch_size):
            rows = todo[first : first + batch_size]
            width = max(len(sequences[i]) for i in rows)
            input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
            for b, i in enumerate(rows):
                input_ids[b, : len(sequences[i])] = torch.tensor(sequences[i], dtype=torch.long)
                attention_mask[b, : len(sequences[i])] = 1
            with torch.inference_mode():
                logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
                for b, i in enumerate(rows):
                    start, end = starts[i], len(sequences[i])
                    # logits at t - 1 predict the token at t
                    log_probs = torch.log_softmax(logits[b, start - 1 : end - 1].float(), dim=-1)
                    targets = input_ids[b, start:end].to(log_probs.device)
                    nll[i] = -float(log_probs.gather(-1, targets[:, None]).sum())
    finally:
        model.train(was_training)
    return nll, n_tokens


def continuation_perplexities(model, tokenizer, prompts: Sequence[str], continuations: Sequence[str],
                              batch_size: int = 16) -> np.ndarray:
    """exp(mean NLL of each continuation's tokens given its prompt); NaN where excluded (no token)."""
    return _perplexities(*continuation_nll(model, tokenizer, prompts, continuations, batch_size))


def _perplexities(nll: np.ndarray, n_tokens: np.ndarray) -> np.ndarray:
    """exp(nll / n_tokens) per continuation; NaN where it has no token."""
    out = np.full(nll.shape, np.nan)
    scored = n_tokens > 0
    out[scored] = np.exp(nll[scored] / n_tokens[scored])
    return out


def fluency_summary(nll, n_tokens, prompt_ids, n_resamples: int = 1000, seed: int = 0) -> dict:
    """The aggregates of the module docstring from per-continuation NLL sums and token counts:
    ``fluency_ppl`` (+ ``_ci_low``/``_ci_high``), ``fluency_corpus_ppl``, ``n_continuations``,
    ``n_excluded``, ``n_prompts`` (prompts with a scored continuation), ``n_tokens``."""
    from evaluation.detox_metrics import bootstrap_mean_ci

    nll = np.asarray(nll, dtype=np.float64)
    n_tokens = np.asarray(n_tokens, dtype=np.int64)
    prompt_ids = np.asarray(prompt_ids)
    if not (nll.shape == n_tokens.shape == prompt_ids.shape) or nll.ndim != 1:
        raise ValueError(f"one value per continuation: shapes {nll.shape}, {n_tokens.shape}, {prompt_ids.shape}")
    scored = n_tokens > 0
    ppl = _perplexities(nll, n_tokens)
    per_prompt = []
    if scored.any():
        _, prompt_of = np.unique(prompt_ids[scored], return_inverse=True)
        per_prompt = np.bincount(prompt_of, weights=ppl[scored]) / np.bincount(prompt_of)
    per_prompt = np.asarray(per_prompt, dtype=np.float64)
    mean = float(per_prompt.mean()) if per_prompt.size else math.nan
    low, high = bootstrap_mean_ci(per_prompt, n_resamples=n_resamples, seed=seed)
    total_tokens = int(n_tokens[scored].sum())
    return {
        "fluency_ppl": mean,
        "fluency_ppl_ci_low": low,
        "fluency_ppl_ci_high": high,
        "fluency_corpus_ppl": float(math.exp(nll[scored].sum() / total_tokens)) if total_tokens else math.nan,
        "n_continuations": int(nll.shape[0]),
        "n_excluded": int((~scored).sum()),
        "n_prompts": int(per_prompt.size),
        "n_tokens": total_tokens,
    }
