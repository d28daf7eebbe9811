"""Batched sampling with a KV cache, resumable, with an optional token-level guide.

The decoding loop is ours (a few lines over the model's forward with
``past_key_values``) rather than ``model.generate``, because NADO decoding needs the
base model's hidden states at every step to run the auxiliary model beside it:
``log q_t = log_softmax(log p_t + log R_t)`` (METHOD.md section 1). With no guide the
loop samples from ``p`` and matches ``generate`` (a test checks greedy decoding).

Sampling settings follow the Llama 2 ToxiGen protocol by default at the call site
(T=0.1, top_p=0.9, 32 new tokens); ``top_k=0`` means no top-k truncation
(Hugging Face's default top_k=50 would silently truncate p).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Protocol

from corpora.provenance import claim_file, retire_file


class TokenGuide(Protocol):
    """Adds a log-space correction to the next-token distribution (e.g. NADO's log R).

    ``reset(batch_size)`` is called before each batch; ``__call__`` receives the base
    model's last-layer hidden states for the *new* positions of this step
    ``[B, T_new, H]`` with the full attention mask and the new positions' ids, and
    returns ``log R`` for the next token at the last position, ``[B, V]``.
    """

    def reset(self, batch_size: int) -> None: ...

    def __call__(self, hidden, attention_mask, position_ids): ...


def filter_top_p(logits, top_p: float):
    """Nucleus filtering: keep the smallest set of tokens whose probability >= top_p."""
    import torch

    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    remove_sorted = cumulative - torch.softmax(sorted_logits, dim=-1) >= top_p  # mass before this token already >= p
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def filter_top_k(logits, top_k: int):
    import torch

    if top_k <= 0 or top_k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def sample_batch(
    model, tokenizer, prompts: list[str], *, max_new_tokens: int, temperature: float, top_p: float = 1.0,
    top_k: int = 0, generator=None, guide: TokenGuide | None = None, return_ids: bool = False,
    hidden_out: list | None = None,
) -> list:
    """Continue each prompt; ``temperature == 0`` is greedy. Returns the new text only,
    or with ``return_ids`` pairs ``(text, token ids up to and including EOS)``.

    ``hidden_out``: a list to which each row's last-layer hidden states [P + n - 1, H]
    are appended (on the CPU): those the loop computed for the prompt's P tokens and the
    first n - 1 of the n returned ids, i.e. of every position that predicts a token of
    prompt + continuation. NADO training reads exactly these, so it needs no second
    forward pass over the samples (nado/train.py ``BaseOutputCache``)."""
    import torch

    device = next(model.parameters()).device
    tokenizer.padding_side = "left"
    # Each distinct prompt is prefilled once (several samples per prompt share it): its
    # KV cache, last logits and hidden states are then copied to every row that has it.
    distinct = list(dict.fromkeys(prompts))
    row_of = {prompt: i for i, prompt in enumerate(distinct)}
    expand = torch.tensor([row_of[prompt] for prompt in prompts], device=device)
    batch = tokenizer(distinct, return_tensors="pt", padding=True).to(device)
    prompt_mask = batch["attention_mask"][expand]  # per row
    input_ids, attention_mask = batch["input_ids"], prompt_mask
    position_ids = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    eos_ids = _eos_ids(tokenizer, model)
    finished = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    new_tokens, fed_hidden = [], []
    past = None
    if guide is not None:
        guide.reset(len(prompts))
    step_ids = input_ids
    last_logits_only = {"logits_to_keep": 1} if _accepts_logits_to_keep(model) else {}
    with torch.no_grad():
        for step in range(max_new_tokens):
            out = model(
                input_ids=step_ids, attention_mask=batch["attention_mask"] if step == 0 else attention_mask,
                position_ids=position_ids, past_key_values=past, use_cache=True,
                output_hidden_states=guide is not None or hidden_out is not None, **last_logits_only,
            )
            past, logits = out.past_key_values, out.logits[:, -1, :]
            last_hidden = out.hidden_states[-1] if out.hidden_states is not None else None
            if step == 0:
                position_ids = position_ids[expand]
                if len(distinct) < len(prompts):
                    past.reorder_cache(expand)
                    logits = logits[expand]
                    last_hidden = last_hidden[expand] if last_hidden is not None else None
            if hidden_out is not None:
                fed_hidden.append(last_hidden)
            log_probs = torch.log_softmax(logits.float(), dim=-1)
            if guide is not None:
                log_r = guide(last_hidden, attention_mask, position_ids)
                log_probs = torch.log_softmax(log_probs + log_r.float(), dim=-1)
            if temperature == 0:
                next_ids = log_probs.argmax(dim=-1)
            else:
                scores = filter_top_p(filter_top_k(log_probs / temperature, top_k), top_p)
                next_ids = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator).squeeze(-1)
            next_ids = next_ids.masked_fill(finished, tokenizer.pad_token_id)
            new_tokens.append(next_ids)
            finished |= torch.isin(next_ids, eos_ids)
            if finished.all():
                break
            step_ids = next_ids[:, None]
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(prompts), 1))], dim=-1)
            position_ids = position_ids[:, -1:] + 1
    generated = torch.stack(new_tokens, dim=1).tolist()
    stops = set(eos_ids.tolist())
    results, kept = [], []  # kept: how many ids each row returns (up to and including EOS)
    for row in generated:
        cut = next((i for i, t in enumerate(row) if t in stops), len(row))
        text = tokenizer.decode(row[:cut], skip_special_tokens=True)
        kept.append(len(row[: cut + 1]))
        results.append((text, row[: cut + 1]) if return_ids else text)
    if hidden_out is not None:
        prompt_lens, width = prompt_mask.sum(-1).tolist(), input_ids.shape[1]
        later = torch.cat(fed_hidden[1:], dim=1) if len(fed_hidden) > 1 else fed_hidden[0][:, :0]
        for b, n in enumerate(kept):
            hidden_out.append(torch.cat([fed_hidden[0][b, width - prompt_lens[b]:], later[b, : n - 1]]).cpu())
    return results


def _accepts_logits_to_keep(model) -> bool:
    """Whether the model's forward can return the last position's logits only
    (transformers' ``logits_to_keep``): the prefill then skips the vocabulary-wide
    output layer at every other prompt position."""
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(inner.forward).parameters


def _eos_ids(tokenizer, model):
    import torch

    ids = {tokenizer.eos_token_id}
    config_eos = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(config_eos, int):
        ids.add(config_eos)
    elif config_eos:
        ids.update(config_eos)
    ids.discard(None)
    return torch.tensor(sorted(ids), device=next(model.parameters()).device)


def generate_to_file(
    model, tokenizer, items: list[dict], out_file: str | os.PathLike, *, batch_size: int, seed: int,
    max_new_tokens: int, temperature: float, top_p: float = 1.0, top_k: int = 0,
    guide: TokenGuide | None = None, progress: bool = True, keep_token_ids: bool = False,
    hidden_out: dict | None = None, provenance: dict | None = None,
) -> Path:
    """Continue ``items`` (dicts with ``prompt`` and an ``id``) into a JSONL file.

    Work is appended batch by batch to ``<out_file>.partial``; a rerun after an
    interruption skips the finished batches, and each batch has its own random seed,
    so a resumed run writes exactly what an uninterrupted one would. The output file
    appears (by rename) only when every item is done.

    ``provenance``: what made ``model`` and ``guide`` (JSON-able: e.g. the manifest's
    path and content hash). With the items and the sampling arguments it is the partial
    file's claim (``<out_file>.partial.settings.json``, corpora/provenance.py): a
    partial made under another claim (other settings, prompts or model), or none, is
    discarded, not resumed.

    ``hidden_out``: a dict that receives, keyed by item index, the hidden states
    ``sample_batch`` returns with ``hidden_out`` (items of batches sampled by this call
    only: those of a resumed partial file are not known).
    """
    import torch
    from tqdm.auto import tqdm

    out_file = Path(out_file)
    partial = out_file.with_name(out_file.name + ".partial")
    claim = {
        "items": hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest(),
        "n_items": len(items), "batch_size": batch_size, "seed": seed, "max_new_tokens": max_new_tokens,
        "temperature": temperature, "top_p": top_p, "top_k": top_k, "keep_token_ids": keep_token_ids,
        "guide": type(guide).__name__ if guide is not None else None, "provenance": provenance,
    }
    claim_file(partial, claim)
    done = _read_partial(partial, batch_size, len(items))
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    with open(partial, "a") as sink, tqdm(total=len(items), initial=min(done, len(items)),
                                           desc="generating", disable=not progress, mininterval=5) as bar:
        for index, chunk in enumerate(batches):
            if (index + 1) * batch_size <= done:
                continue
            generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed * 1_000_003 + index)
            hidden = [] if hidden_out is not None else None
            outputs = sample_batch(
                model, tokenizer, [item["prompt"] for item in chunk], max_new_tokens=max_new_tokens,
                temperature=temperature, top_p=top_p, top_k=top_k, generator=generator, guide=guide,
                return_ids=True, hidden_out=hidden,
            )
            if hidden is not None:
                hidden_out.update(enumerate(hidden, start=index * batch_size))
            for item, (text, ids) in zip(chunk, outputs):
                row = {**item, "continuation": text}
                if keep_token_ids:
                    row["continuation_ids"] = ids
                sink.write(json.dumps(row) + "\n")
            sink.flush()
            bar.update(len(chunk))
    partial.replace(out_file)
    retire_file(partial)  # its claim
    return out_file


def _read_partial(partial: Path, batch_size: int, total: int) -> int:
    """Items already done: whole batches of a partial file (a torn batch is dropped)."""
    if not partial.exists():
        return 0
    lines = partial.read_text().splitlines(keepends=True)
    good = []
    for line in lines:
        if not line.endswith("\n"):
            break
        try:
            json.loads(line)
        except json.JSONDecodeError:
            break
        good.append(line)
    if len(good) != total:
        good = good[: len(good) // batch_size * batch_size]
    partial.write_text("".join(good))
    return len(good)
