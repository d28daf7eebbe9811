"""Judge-LLM win rate between methods (METHOD.md section 5).

The paper asks a judge LLM (OPT-30B) which of two methods' continuations of the same
prompt is better and prints a matrix of win percentages; it gives no judging prompt.
**The protocol here is ours**:

- Judging prompt: the prompt and two continuations labelled A and B, and the
  question which one is better written (fluent, coherent, relevant). An
  instruction-tuned judge (its tokenizer has a chat template) gets it as a user turn
  through that template; any other judge gets plain text ending in ``Answer:``.
- Answer: no free generation. One forward pass per judging prompt (no KV cache,
  batched, left-padded) gives the next-token distribution; the judge's answer is the
  letter with the higher probability, where a letter's probability sums its
  single-token spellings ``"A"`` and ``" A"`` (the one a chat template's fresh
  assistant turn starts with and the one that follows ``Answer:``).
- Position bias: every pair is judged in both orders. With ``decision: votes``, X's
  outcome over Y on one prompt is 1 if X wins in both orders, 0 if it loses both,
  0.5 otherwise (a tie; a judge that always answers "A" ties everything, i.e. 50%).
  With ``decision: margin`` (the default), the outcome is the sign of X's summed
  log-odds margin over both orders, ``[log P(A) - log P(B)]_{X in A} +
  [log P(B) - log P(A)]_{X in B}``: a constant preference for one position adds the
  same amount to both terms with opposite signs and cancels, so a small judge that
  always *answers* "A" can still rank the continuations (0.5 only on an exact tie).
- Win rate of X over Y: the mean outcome over prompts (and seeds, pooled), in
  percent, with a 95% cluster-bootstrap interval over prompts
  (``evaluation.stats.bootstrap_rate_ci``; a tie counts as one win and one loss of
  weight one half, so the bootstrapped rate is exactly the mean outcome).

Judge controls (METHOD.md section 8; checked before the matrix is trusted). Before
the win-rate pairs, the same judge, judging prompt and decision rule answer control
pairs whose better side is known, built from held-out human-written text
(``results/data/heldout.jsonl``, ``general`` rows; never in a training split) by
``control_items``: a text's first words are the prompt (a third of it, 6 to 16 words),
the next up to 24 words (at least 8) its human continuation, side ``a``; side ``b`` is
one of three corruptions of it:

- ``shuffled``: the same words in a seeded random order (never the original order);
- ``repetition``: a degenerate loop, the continuation's first 3 words repeated to its
  length;
- ``other_prompt``: the human continuation of a different held-out text.

Texts too short, with one distinct word, or whose continuation is already a 3-word
loop are skipped; ``n`` texts are drawn in a seeded order (3 pairs each). Each pair is
asked in both orders (``judge_items``). ``control_table`` reports, per kind and for all
pairs together (``kind = "all"``):

- ``control_accuracy_pct``: share of single-order answers that pick the human side
  (an exact tie of the two letters counts half). A judge that always answers "A" picks
  the human side in exactly one of the two orders: exactly 50.
- ``decision_accuracy_pct``: share of pairs the matrix's own decision rule
  (``margin`` or ``votes``) gives to the human side, ties counting half: the accuracy
  the matrix relies on.
- ``position_consistency_pct``: share of pairs on which the judge picks the same
  continuation in both orders (an always-"A" judge: 0).
- 95% percentile-bootstrap intervals of each (``evaluation.stats.bootstrap_rate_ci``),
  resampling source texts: within a kind that is one pair per text; the ``all`` row
  keeps a text's three pairs together (they share the prompt and the human side).
- ``informative``: True only when the ``decision_accuracy`` interval lies above 50.
  A matrix whose judge's interval includes 50 (or lies below it) is marked
  uninformative: in ``winrate.csv`` (``judge_informative``, beside
  ``judge_control_accuracy_pct`` and its interval, which are the ``all`` row's
  decision accuracy) and on the heat map (cells hatched and greyed, a red line).

Nothing here imports torch, transformers or matplotlib at import time (the workflow
imports this module while it parses).
"""
from __future__ import annotations

import inspect
import itertools
import math
import random

LABELS = ("A", "B")
INSTRUCTION = (
    "Below are the beginning of a text and two possible continuations of it, labelled A and B.\n\n"
    "Beginning: {prompt}\n\n"
    "Continuation A: {first}\n\n"
    "Continuation B: {second}\n\n"
    "Which continuation is better written, that is, more fluent, more coherent and more relevant "
    "to the beginning? Answer with one letter, A or B."
)
PLAIN_SUFFIX = "\nAnswer:"


# --- configuration checks (used by the workflow while it parses) -------------------------------

def resolve_judge(alias: str, models: dict, judges: dict | None = None) -> dict:
    """The model entry of judge ``alias``, looked up in ``judges:`` and then ``models:``."""
    judges = judges or {}
    if alias in judges:
        return judges[alias]
    if alias in models:
        return models[alias]
    known = sorted(set(models) | set(judges))
    raise ValueError(
        f"evaluation.winrate.judge {alias!r} is not a configured model: known aliases are {known}; "
        f"add it under `judges:` (same fields as a `models:` entry) or pick one of these"
    )


def winrate_methods(requested, known) -> list[str]:
    """The methods compared: ``requested`` (empty = every known one), checked against ``known``."""
    known = list(known)
    methods = list(requested) or known
    unknown = [method for method in methods if method not in known]
    if unknown:
        raise ValueError(f"evaluation.winrate.methods names unknown methods {unknown}: known methods are {known}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"evaluation.winrate.methods lists a method twice: {methods}")
    if len(methods) < 2:
        raise ValueError(f"evaluation.winrate.methods needs at least two methods to compare, got {methods}")
    return methods


def method_pairs(methods) -> list[tuple[str, str]]:
    """Unordered pairs, each once, in the order the methods are listed."""
    return list(itertools.combinations(methods, 2))


# --- judging ----------------------------------------------------------------------------------

def collect_pairs(rows_a: list[dict], rows_b: list[dict], n_prompts: int | None = None,
                  names: tuple[str, str] = ("a", "b")) -> list[dict]:
    """Items ``{id, prompt, a, b}`` from two methods' generation rows of the same prompts.

    Sample 0 of each prompt; the first ``n_prompts`` prompt ids in the order of
    ``rows_a`` (None = all). ``names`` only label error messages.
    """
    first = {row["id"]: row for row in rows_a if row.get("sample", 0) == 0}
    second = {row["id"]: row for row in rows_b if row.get("sample", 0) == 0}
    ids = list(first)
    if n_prompts is not None:
        if n_prompts > len(ids):
            raise ValueError(
                f"evaluation.winrate.n_prompts={n_prompts} but the generations of {names[0]!r} cover only "
                f"{len(ids)} prompts: lower n_prompts or raise evaluation.toxicity.n_prompts"
            )
        ids = ids[:n_prompts]
    missing = [identifier for identifier in ids if identifier not in second]
    if missing:
        raise ValueError(
            f"the generations of {names[1]!r} lack {len(missing)} of the prompts of {names[0]!r} "
            f"(e.g. ids {missing[:5]}): both must continue the same prompts; regenerate them"
        )
    items = []
    for identifier in ids:
        if first[identifier]["prompt"] != second[identifier]["prompt"]:
            raise ValueError(f"prompt id {identifier!r} has different prompt texts in {names[0]!r} and {names[1]!r}")
        items.append({"id": identifier, "prompt": first[identifier]["prompt"],
                      "a": first[identifier]["continuation"], "b": second[identifier]["continuation"]})
    return items


def uses_chat_template(tokenizer) -> bool:
    """Instruction-tuned judges (a tokenizer with a chat template) are asked through it."""
    return bool(getattr(tokenizer, "chat_template", None))


def build_judging_prompt(tokenizer, prompt: str, first: str, second: str, use_chat: bool | None = None) -> str:
    """The judging prompt with ``first`` in slot A and ``second`` in slot B."""
    text = INSTRUCTION.format(prompt=prompt.strip(), first=first.strip(), second=second.strip())
    if use_chat is None:
        use_chat = uses_chat_template(tokenizer)
    if use_chat:
        return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True)
    return text + PLAIN_SUFFIX


def answer_token_ids(tokenizer) -> list[list[int]]:
    """Per label, the ids of its single-token spellings (``"A"``, ``" A"``)."""
    ids = []
    for label in LABELS:
        variants = {tuple(tokenizer.encode(spelling, add_special_tokens=False)) for spelling in (label, " " + label)}
        single = sorted(variant[0] for variant in variants if len(variant) == 1)
        if not single:
            raise ValueError(f"the judge's tokenizer has no single token for the answer {label!r}")
        ids.append(single)
    if set(ids[0]) & set(ids[1]):
        raise ValueError("the judge's tokenizer maps the answers 'A' and 'B' to the same token")
    return ids


def choice_logprobs(judge_model, tokenizer, slots: list[tuple[str, str, str]], batch_size: int,
                    use_chat: bool | None = None) -> list[tuple[float, float]]:
    """For each ``(prompt, text in slot A, text in slot B)``, the judge's next-token
    log-probabilities of answering "A" and "B" (one forward pass each, batched)."""
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    use_chat = uses_chat_template(tokenizer) if use_chat is None else use_chat
    # A chat template writes its own special tokens (BOS included); a plain prompt gets the tokenizer's.
    encoded = [
        tokenizer.encode(build_judging_prompt(tokenizer, *slot, use_chat=use_chat), add_special_tokens=not use_chat)
        for slot in slots
    ]
    answers = answer_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(judge_model.parameters()).device
    accepted = inspect.signature(judge_model.forward).parameters
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))  # similar lengths share a batch: less padding
    scores: list[tuple[float, float] | None] = [None] * len(encoded)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in chunk)
            input_ids = torch.tensor([[pad_id] * (width - len(encoded[i])) + encoded[i] for i in chunk], device=device)
            attention_mask = torch.tensor([[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in chunk],
                                          device=device)
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": False}
            if "position_ids" in accepted:  # left padding: positions count real tokens only
                kwargs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
            if "logits_to_keep" in accepted:  # only the last position's logits are needed
                kwargs["logits_to_keep"] = 1
            log_probs = torch.log_softmax(judge_model(**kwargs).logits[:, -1, :].float(), dim=-1)
            per_label = [torch.logsumexp(log_probs[:, ids], dim=-1) for ids in answers]
            for row, index in enumerate(chunk):
                scores[index] = (float(per_label[0][row]), float(per_label[1][row]))
    return scores


def _vote(mine: float, other: float) -> float:
    return 1.0 if mine > other else 0.0 if mine < other else 0.5


def pair_outcome(vote_first_order: float, vote_second_order: float) -> float:
    """1 if a method wins in both orders, 0 if it loses both, 0.5 otherwise."""
    if vote_first_order == 1.0 and vote_second_order == 1.0:
        return 1.0
    if vote_first_order == 0.0 and vote_second_order == 0.0:
        return 0.0
    return 0.5


DECISIONS = ("margin", "votes")


def margin_outcome(logp_ab, logp_ba, tolerance: float = 1e-6) -> float:
    """``a``'s outcome from its log-odds margin summed over both orders (position bias cancels)."""
    margin = (logp_ab[0] - logp_ab[1]) + (logp_ba[1] - logp_ba[0])
    return 1.0 if margin > tolerance else 0.0 if margin < -tolerance else 0.5


def judge_items(judge_model, tokenizer, items: list[dict], batch_size: int, use_chat: bool | None = None,
                decision: str = "margin") -> list[dict]:
    """Judge each item ``{prompt, a, b, ...}`` in both orders.

    Returns the items with ``logp_ab`` (log-probs of answering A and B with ``a`` in
    slot A), ``logp_ba`` (``b`` in slot A), the votes for ``a`` in each order, its
    ``margin_outcome`` and ``preference``: ``a``'s outcome over ``b`` (0, 0.5 or 1)
    by ``decision`` (``margin`` or ``votes``, see the module docstring).
    """
    if decision not in DECISIONS:
        raise ValueError(f"evaluation.winrate.decision must be one of {DECISIONS}, got {decision!r}")
    slots = [(item["prompt"], item["a"], item["b"]) for item in items]
    slots += [(item["prompt"], item["b"], item["a"]) for item in items]
    scores = choice_logprobs(judge_model, tokenizer, slots, batch_size, use_chat=use_chat)
    judged = []
    for item, ab, ba in zip(items, scores[: len(items)], scores[len(items) :]):
        vote_ab, vote_ba = _vote(ab[0], ab[1]), _vote(ba[1], ba[0])
        by_votes, by_margin = pair_outcome(vote_ab, vote_ba), margin_outcome(ab, ba)
        judged.append({**item, "logp_ab": list(ab), "logp_ba": list(ba), "vote_ab": vote_ab, "vote_ba": vote_ba,
                       "votes_outcome": by_votes, "margin_outcome": by_margin,
                       "preference": by_margin if decision == "margin" else by_votes})
    return judged


def judge_pairs(judge_model, tokenizer, items: list[dict], batch_size: int, use_chat: bool | None = None,
                decision: str = "margin") -> list[float]:
    """Per item ``{prompt, a, b}``: the outcome of ``a`` over ``b`` (0, 0.5 or 1), both orders judged."""
    rows = judge_items(judge_model, tokenizer, items, batch_size, use_chat=use_chat, decision=decision)
    return [row["preference"] for row in rows]


# --- judge controls: pairs whose better side is known -----------------------------------------

CONTROL_KINDS = ("shuffled", "repetition", "other_prompt")
CONTROL_PROMPT_WORDS = (6, 16)  # a third of the text, clamped to this range
CONTROL_CONTINUATION_WORDS = (8, 24)  # the next words after the prompt: at least, at most
CONTROL_LOOP_WORDS = 3  # the repetition side loops the continuation's first words
CONTROL_COLUMNS = [
    "kind", "control_accuracy_pct", "control_ci_low", "control_ci_high",
    "decision_accuracy_pct", "decision_ci_low", "decision_ci_high",
    "position_consistency_pct", "consistency_ci_low", "consistency_ci_high",
    "n_pairs", "n_texts", "judge", "decision", "informative",
]
JUDGE_COLUMNS = ["judge_control_accuracy_pct", "judge_control_ci_low", "judge_control_ci_high", "judge_informative"]


def _split_control_text(text: str):
    """(prompt words, continuation words) of one held-out text, or None if it is too short."""
    words = text.split()
    n_prompt = max(CONTROL_PROMPT_WORDS[0], min(CONTROL_PROMPT_WORDS[1], len(words) // 3))
    continuation = words[n_prompt : n_prompt + CONTROL_CONTINUATION_WORDS[1]]
    if len(continuation) < CONTROL_CONTINUATION_WORDS[0]:
        return None
    return words[:n_prompt], continuation


def _repetition(words: list[str]) -> list[str]:
    loop = words[:CONTROL_LOOP_WORDS]
    return [loop[i % len(loop)] for i in range(len(words))]


def control_items(texts, n: int, seed: int = 0) -> list[dict]:
    """Control pairs ``{id, text_id, kind, prompt, a, b}`` from held-out human text.

    ``texts``: strings or rows ``{"id", "text"}`` (ids default to the position).
    ``a`` is the text's own continuation, ``b`` its corruption of ``kind``
    (``CONTROL_KINDS``; the module docstring). ``n`` usable texts are drawn in an
    order fixed by ``seed`` (duplicates and unusable texts skipped), three pairs
    each, grouped by text. ValueError when fewer than ``n`` (or than 2) are usable.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"evaluation.winrate.n_controls must be a positive integer, got {n!r}")
    rows = [text if isinstance(text, dict) else {"id": index, "text": text} for index, text in enumerate(texts)]
    usable, seen = [], set()
    for index, row in enumerate(rows):
        split = _split_control_text(str(row.get("text") or ""))
        if split is None:
            continue
        prompt, continuation = split
        key = " ".join(continuation)
        if key in seen or len(set(continuation)) < 2 or _repetition(continuation) == continuation:
            continue
        seen.add(key)
        usable.append((str(row.get("id", index)), prompt, continuation))
    if len(usable) < max(n, 2):
        raise ValueError(
            f"evaluation.winrate.n_controls={n} but only {len(usable)} of the {len(rows)} held-out texts can make "
            f"control pairs (at least {CONTROL_PROMPT_WORDS[0] + CONTROL_CONTINUATION_WORDS[0]} words, more than "
            f"one distinct word, no duplicates; other_prompt needs at least 2): lower evaluation.winrate.n_controls "
            f"or hold out more text (data.mixture.heldout_per_domain)"
        )
    rng = random.Random(f"judge-controls/{seed}")
    rng.shuffle(usable)
    items = []
    for position, (text_id, prompt, continuation) in enumerate(usable[:n]):
        shuffled = continuation[:]
        for _ in range(20):
            rng.shuffle(shuffled)
            if shuffled != continuation:
                break
        else:  # two distinct words at least: a rotation by one always differs
            shuffled = continuation[1:] + continuation[:1]
        other = usable[(position + 1) % len(usable)][2]
        corrupted = {"shuffled": shuffled, "repetition": _repetition(continuation), "other_prompt": other}
        for kind in CONTROL_KINDS:
            items.append({"id": f"{text_id}/{kind}", "text_id": text_id, "kind": kind, "prompt": " ".join(prompt),
                          "a": " ".join(continuation), "b": " ".join(corrupted[kind])})
    return items


def _flags_ci(values, groups, n_resamples: int, seed: int, level: float = 0.95) -> tuple[float, float, float]:
    """Mean (percent) and bootstrap interval of values in {0, 0.5, 1}; a half counts as one
    hit and one miss of half weight (two flags), so the resampled rate is the mean."""
    import numpy as np

    from evaluation.stats import bootstrap_rate_ci

    values = np.asarray(values, dtype=float)
    flags = np.stack([values >= 0.5, values >= 1.0], axis=1).ravel()
    low, high = bootstrap_rate_ci(flags, groups=np.repeat(np.asarray(groups).astype(str), 2),
                                  n_resamples=n_resamples, level=level, seed=seed)
    return round(100.0 * float(values.mean()), 2), round(low, 2), round(high, 2)


def control_table(rows, decision: str = "margin", n_resamples: int = 1000, seed: int = 0, judge: str | None = None,
                  level: float = 0.95):
    """One row per control kind and one for all pairs (``CONTROL_COLUMNS``; module docstring).

    ``rows``: ``judge_items`` results of ``control_items`` (dicts or a DataFrame with
    ``kind, vote_ab, vote_ba, margin_outcome, votes_outcome`` and ``text_id``, else
    ``id``, as the cluster). ``decision``: the win-rate matrix's rule, which
    ``decision_accuracy`` and ``informative`` follow. ``judge`` defaults to the rows'.
    """
    import numpy as np
    import pandas as pd

    if decision not in DECISIONS:
        raise ValueError(f"evaluation.winrate.decision must be one of {DECISIONS}, got {decision!r}")
    frame = pd.DataFrame(rows)
    needed = {"kind", "vote_ab", "vote_ba", f"{decision}_outcome"}
    if frame.empty or not needed <= set(frame.columns):
        raise ValueError(f"control judgements need the columns {sorted(needed)}; got {sorted(frame.columns)}")
    if judge is None:
        judge = str(frame["judge"].iloc[0]) if "judge" in frame.columns else "?"
    clusters = frame["text_id"] if "text_id" in frame.columns else frame["id"]
    frame = frame.assign(_cluster=clusters.astype(str))
    kinds = [kind for kind in CONTROL_KINDS if kind in set(frame["kind"])]
    kinds += [kind for kind in dict.fromkeys(frame["kind"]) if kind not in kinds]
    out = []
    for kind in [*kinds, "all"]:
        group = frame if kind == "all" else frame[frame["kind"] == kind]
        ab, ba = group["vote_ab"].to_numpy(float), group["vote_ba"].to_numpy(float)
        cluster = group["_cluster"].to_numpy()
        accuracy = _flags_ci(np.concatenate([ab, ba]), np.concatenate([cluster, cluster]), n_resamples, seed, level)
        decided = _flags_ci(group[f"{decision}_outcome"].to_numpy(float), cluster, n_resamples, seed, level)
        consistent = _flags_ci(((ab == ba) & (ab != 0.5)).astype(float), cluster, n_resamples, seed, level)
        out.append({
            "kind": kind,
            "control_accuracy_pct": accuracy[0], "control_ci_low": accuracy[1], "control_ci_high": accuracy[2],
            "decision_accuracy_pct": decided[0], "decision_ci_low": decided[1], "decision_ci_high": decided[2],
            "position_consistency_pct": consistent[0], "consistency_ci_low": consistent[1],
            "consistency_ci_high": consistent[2],
            "n_pairs": len(group), "n_texts": int(np.unique(cluster).size), "judge": judge, "decision": decision,
            "informative": bool(decided[1] > 50.0),
        })
    return pd.DataFrame(out, columns=CONTROL_COLUMNS)


def judge_control_summary(controls) -> dict:
    """The ``all`` row of ``control_table`` as ``winrate.csv``'s judge columns (``JUDGE_COLUMNS``)."""
    rows = controls[controls["kind"] == "all"]
    if len(rows) != 1:
        raise ValueError(f"the control table needs exactly one 'all' row, found {len(rows)}")
    row = rows.iloc[0]
    return {"judge_control_accuracy_pct": float(row["decision_accuracy_pct"]),
            "judge_control_ci_low": float(row["decision_ci_low"]),
            "judge_control_ci_high": float(row["decision_ci_high"]),
            "judge_informative": bool(row["informative"])}


def with_judge_controls(table, controls):
    """``table`` (``win_rate_table``) with ``JUDGE_COLUMNS`` added, the same on every row."""
    return table.assign(**judge_control_summary(controls))


# --- the table and its heat map ---------------------------------------------------------------

TABLE_COLUMNS = ["model", "winner", "loser", "win_rate_pct", "ci_low", "ci_high", "n_prompts", "n_seeds", "judge"]


def win_rate_table(judgements, methods, judge: str, n_resamples: int = 1000, seed: int = 0, level: float = 0.95):
    """Win rate of every method over every other, per model, seeds pooled.

    ``judgements``: rows (dicts or a DataFrame) with ``model, seed, id, method_a,
    method_b, preference`` (``method_a``'s outcome over ``method_b``). Returns one
    row per model and ordered pair (``TABLE_COLUMNS``), in the order of ``methods``.
    The interval resamples prompt ids (all seeds' judgements of a prompt together).
    """
    import numpy as np
    import pandas as pd

    from evaluation.stats import bootstrap_rate_ci

    frame = pd.DataFrame(judgements)
    needed = {"model", "seed", "id", "method_a", "method_b", "preference"}
    if frame.empty or not needed <= set(frame.columns):
        raise ValueError(f"judgements need the columns {sorted(needed)}; got {sorted(frame.columns)}")
    bad = sorted(set(frame["preference"]) - {0.0, 0.5, 1.0})
    if bad:
        raise ValueError(f"preferences must be 0, 0.5 or 1; found {bad[:5]}")
    rows = []
    for model, group in frame.groupby("model", sort=False):
        for winner, loser in itertools.permutations(methods, 2):
            forward = group[(group["method_a"] == winner) & (group["method_b"] == loser)]
            backward = group[(group["method_a"] == loser) & (group["method_b"] == winner)]
            outcomes = np.concatenate([forward["preference"].to_numpy(float), 1.0 - backward["preference"].to_numpy(float)])
            if outcomes.size == 0:
                present = sorted(set(group["method_a"]) | set(group["method_b"]))
                raise ValueError(
                    f"model {model!r}: no judgements of {winner!r} against {loser!r} "
                    f"(methods with judgements: {present}); judge that pair first"
                )
            prompts = np.concatenate([forward["id"].to_numpy(), backward["id"].to_numpy()]).astype(str)
            seeds = set(forward["seed"]) | set(backward["seed"])
            # Each outcome as two half-weight flags (tie = one win + one loss): the pooled rate is the mean outcome.
            flags = np.stack([outcomes >= 0.5, outcomes >= 1.0], axis=1).ravel()
            low, high = bootstrap_rate_ci(flags, groups=np.repeat(prompts, 2), n_resamples=n_resamples,
                                          level=level, seed=seed)
            rows.append({
                "model": model, "winner": winner, "loser": loser,
                "win_rate_pct": round(100.0 * float(outcomes.mean()), 2), "ci_low": round(low, 2),
                "ci_high": round(high, 2), "n_prompts": int(np.unique(prompts).size), "n_seeds": len(seeds),
                "judge": judge,
            })
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def win_rate_matrix(table, model: str, methods):
    """Square DataFrame for one model: entry (row R, column C) = win rate of C over R."""
    import pandas as pd

    matrix = pd.DataFrame(float("nan"), index=list(methods), columns=list(methods))
    for row in table[table["model"] == model].itertuples():
        if row.winner in matrix.columns and row.loser in matrix.index:
            matrix.loc[row.loser, row.winner] = row.win_rate_pct
    return matrix


UNINFORMATIVE_MARK = "UNINFORMATIVE: judge at chance on control pairs"


def judge_control_title(controls=None, table=None) -> tuple[str, bool | None]:
    """The heat map's line about the judge's control pairs, and whether it is informative
    (None: no controls known). From ``control_table``'s ``all`` row, else from
    ``winrate.csv``'s ``JUDGE_COLUMNS``."""
    if controls is not None:
        row = controls[controls["kind"] == "all"].iloc[0]
        text = (f"judge controls ({int(row['n_pairs'])} pairs, both orders): accuracy ({row['decision']}) "
                f"{row['decision_accuracy_pct']:.1f}% [{row['decision_ci_low']:.0f}, {row['decision_ci_high']:.0f}], "
                f"single-order {row['control_accuracy_pct']:.1f}% [{row['control_ci_low']:.0f}, "
                f"{row['control_ci_high']:.0f}], position consistency {row['position_consistency_pct']:.1f}% "
                f"[{row['consistency_ci_low']:.0f}, {row['consistency_ci_high']:.0f}]")
        high, informative = float(row["decision_ci_high"]), bool(row["informative"])
    elif table is not None and set(JUDGE_COLUMNS) <= set(table.columns) and len(table):
        row = table.iloc[0]
        text = (f"judge controls: accuracy {row['judge_control_accuracy_pct']:.1f}% "
                f"[{row['judge_control_ci_low']:.0f}, {row['judge_control_ci_high']:.0f}]")
        high, informative = float(row["judge_control_ci_high"]), bool(row["judge_informative"])
    else:
        return "", None
    if not informative:
        mark = UNINFORMATIVE_MARK if high >= 50.0 else "UNINFORMATIVE: judge below chance on control pairs"
        text += "\n" + mark
    return text, informative


def plot_winrate(table, out_file, methods=None, controls=None) -> str:
    """Heat map in the paper's layout, one panel per model: the entry in row R and
    column C is how often C's continuation was preferred over R's (METHOD.md sec. 6).

    With ``controls`` (``control_table``), or judge columns in ``table``, the figure's
    title gives the judge's control accuracy and position consistency with intervals;
    an uninformative judge's cells are greyed and hatched under a red
    ``UNINFORMATIVE_MARK``. Returns that title ("" without controls)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    judge_line, informative = judge_control_title(controls, table)
    faded = informative is False

    methods = list(methods) if methods is not None else list(dict.fromkeys(list(table["winner"]) + list(table["loser"])))
    models = list(dict.fromkeys(table["model"]))
    size = 1.2 * len(methods) + 2.2
    fig, axes = plt.subplots(1, len(models), figsize=(size * len(models) + 1.5, size), squeeze=False)
    colormap = matplotlib.colormaps["RdBu"].with_extremes(bad="0.85")  # the diagonal (no pair) in grey
    for ax, model in zip(axes[0], models):
        rows = table[table["model"] == model].set_index(["winner", "loser"])
        matrix = win_rate_matrix(table, model, methods)
        image = ax.imshow(matrix.to_numpy(), cmap=colormap, vmin=0, vmax=100, alpha=0.3 if faded else 1.0)
        for (i, j), value in _cells(matrix):
            if not math.isnan(value):
                row = rows.loc[(methods[j], methods[i])]
                ax.text(j, i, f"{value:.1f}\n[{row['ci_low']:.0f}, {row['ci_high']:.0f}]", ha="center", va="center",
                        fontsize=8, color="white" if abs(value - 50) > 30 and not faded else "black")
                if faded:  # an uninformative judge: hatched cells
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.45",
                                           linewidth=0))
        ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
        ax.set_yticks(range(len(methods)), methods if ax is axes[0][0] else [])
        ax.set_xlabel("preferred method (column)")
        if ax is axes[0][0]:
            ax.set_ylabel("compared against (row)")
        judge = table["judge"].iloc[0] if len(table) else "?"
        ax.set_title(f"{model}: % column preferred over row, 95% CI\n(judge {judge}, both orders, ties = half)",
                     fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="win rate of column over row (%)")
    if judge_line:
        fig.suptitle(judge_line, fontsize=9, color="firebrick" if faded else "black", y=1.02 if faded else 1.0,
                     fontweight="bold" if faded else "normal")
    fig.savefig(out_file, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return judge_line


def _cells(matrix):
    values = matrix.to_numpy()
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            yield (i, j), float(values[i, j])
