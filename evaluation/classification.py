"""The Jigsaw variant's metrics (METHOD.md section 5): classification ROC AUC and the
generation toxicity's mean score.

- ROC AUC (scikit-learn's ``roc_auc_score``) of a model's toxic-comment scores on the
  held-out comments. An LM-loss model (base, sft on comment-plus-label text, ...)
  scores a comment by the label word's probability after the prompt template,
  ``P(yes) / (P(yes) + P(no))``, one forward per comment (``label_probabilities``);
  a classification-head model by its softmax probability of class 1
  (``classifier_probabilities``).
- "API toxicity": the paper reports a mean Perspective API score (e.g. 0.315) of the
  model's generations; ``mean_score_summary`` gives the mean of the scorer's
  probabilities with a prompt-level bootstrap interval.

Nothing heavy is imported at module import time.
"""
from __future__ import annotations

import numpy as np

from corpora.jigsaw import check_both_classes, fit_comment, lm_prompt
from evaluation.stats import bootstrap_mean_ci


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (scikit-learn).

    Raises ValueError on mismatched or empty input, labels other than 0/1, non-finite
    scores, and a single-class test set (the AUC is undefined there).
    """
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or scores.shape != labels.shape:
        raise ValueError(f"labels and scores must be 1-D of the same length, got shapes {labels.shape} and {scores.shape}")
    if labels.size == 0:
        raise ValueError("ROC AUC of an empty test set is undefined")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0 or 1, found {sorted(set(labels.tolist()) - {0, 1})[:5]}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity")
    check_both_classes(labels.tolist(), "ROC AUC test set")
    return float(roc_auc_score(labels.astype(int), scores))


def bootstrap_auc_ci(labels, scores, n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval (low, high) of the ROC AUC over test comments.

    Stratified: each resample draws the positives and the negatives with replacement
    separately (row ``b``: positives from ``default_rng(seed)``, then negatives), so every
    resample keeps both classes and the AUC is always defined.
    """
    from sklearn.metrics import roc_auc_score

    roc_auc(labels, scores)  # validates the input
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=np.float64)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    positives, negatives = scores[labels == 1], scores[labels == 0]
    stratum_labels = np.concatenate([np.ones(len(positives), dtype=int), np.zeros(len(negatives), dtype=int)])
    rng = np.random.default_rng(seed)
    aucs = np.empty(n_resamples, dtype=np.float64)
    for b in range(n_resamples):
        drawn = np.concatenate([rng.choice(positives, len(positives)), rng.choice(negatives, len(negatives))])
        aucs[b] = roc_auc_score(stratum_labels, drawn)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(aucs, [tail, 100.0 - tail])
    return float(low), float(high)


def _label_token_ids(tokenizer, prompt: str, label_words) -> list[int]:
    """The first token of each label word as it follows ``prompt`` (tokenised together,
    as in training), checking that the prompt's own tokens are unchanged."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    firsts = []
    for word in label_words:
        ids = tokenizer(prompt + word, add_special_tokens=False)["input_ids"]
        if ids[: len(prompt_ids)] != prompt_ids or len(ids) == len(prompt_ids):
            raise ValueError(
                f"label word {word!r} merges with the end of the prompt {prompt[-20:]!r} when tokenised; "
                f"end jigsaw.prompt_template with a separator (e.g. ':') or start the label words with a space"
            )
        firsts.append(ids[len(prompt_ids)])
    if firsts[0] == firsts[1]:
        raise ValueError(f"label words {list(label_words)} start with the same token; choose words whose first tokens differ")
    return firsts


def label_probabilities(
    model, tokenizer, comments: list[str], *, template: str, label_words, max_length: int, batch_size: int = 16,
) -> np.ndarray:
    """``P(label_words[1]) / (P(label_words[0]) + P(label_words[1]))`` for each comment,
    at the position after ``template.format(text=comment)``: the LM-loss model's
    probability that the comment is toxic.

    Comments are cut as in training (``corpora.jigsaw.fit_comment`` with the training
    ``max_length``) and tokenised as the shared training loop tokenises them: the
    tokenizer's prefix (Llama's BOS) and the text's own tokens. A label word of several
    tokens is represented by its first token.
    Batched, right-padded, one forward per comment. float64 array.
    """
    import torch

    from modeling.load import special_token_ids

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    device = next(model.parameters()).device
    prefix, _ = special_token_ids(tokenizer)
    prompts = [lm_prompt(template, fit_comment(tokenizer, comment, template, label_words, max_length)) for comment in comments]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    scores = []
    model.eval()
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        ids = [prefix + tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in batch]
        labels = torch.tensor([_label_token_ids(tokenizer, prompt, label_words) for prompt in batch], device=device)
        width = max(len(row) for row in ids)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = torch.tensor(row)
            attention_mask[i, : len(row)] = 1
        with torch.inference_mode():
            logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
        last = torch.tensor([len(row) - 1 for row in ids], device=device)
        next_logits = logits[torch.arange(len(batch), device=device), last].float()  # [B, V]
        pair = next_logits.gather(1, labels)  # [B, 2]: (no, yes)
        # P(yes) / (P(yes) + P(no)) = sigmoid(logit_yes - logit_no): the softmax normaliser cancels.
        scores.append(torch.sigmoid(pair[:, 1] - pair[:, 0]).double().cpu().numpy())
    return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float64)


def load_classifier(path, device: str = "auto", precision: str = "auto"):
    """A saved sequence classifier (``sft_cls``'s ``classifier/`` folder) and its tokenizer."""
    from transformers import AutoModelForSequenceClassification

    from modeling.load import load_tokenizer, pick_device, pick_dtype

    device = pick_device(device)
    tokenizer = load_tokenizer(path, padding_side="right")
    model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=pick_dtype(precision, device))
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device).eval(), tokenizer


def classifier_probabilities(model, tokenizer, comments: list[str], *, max_length: int, batch_size: int = 16) -> np.ndarray:
    """Softmax probability of class 1 (toxic) of a sequence classifier for each comment,
    tokenised as in ``sft_cls`` training (special tokens, truncated to ``max_length``)."""
    import torch

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    device = next(model.parameters()).device
    tokenizer.padding_side = "right"
    scores = []
    model.eval()
    for start in range(0, len(comments), batch_size):
        encoded = tokenizer(list(comments[start : start + batch_size]), return_tensors="pt", padding=True,
                            truncation=True, max_length=max_length)
        with torch.inference_mode():
            logits = model(**encoded.to(device)).logits.float()
        if logits.shape[-1] != 2:
            raise ValueError(f"expected a 2-class classifier, got {logits.shape[-1]} outputs")
        scores.append(torch.softmax(logits, dim=-1)[:, 1].double().cpu().numpy())
    return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float64)


def mean_score_summary(scores, groups, n_resamples: int, seed: int, level: float = 0.95) -> dict:
    """The "API toxicity" of a run: mean toxicity score with its bootstrap interval over prompts."""
    scores = np.asarray(scores, dtype=np.float64)
    low, high = bootstrap_mean_ci(scores, groups, n_resamples=n_resamples, level=level, seed=seed)
    return {
        "mean_toxicity": float(scores.mean()),
        "mean_toxicity_ci_low": low,
        "mean_toxicity_ci_high": high,
        "n_prompts": int(np.unique(np.asarray(groups)).shape[0]),
        "n_samples": int(scores.shape[0]),
        "interval": f"{level:.0%} percentile bootstrap over prompts ({n_resamples} resamples)",
    }


def build_generation_scorer(config: dict):
    """``evaluation.toxicity.build_scorer`` that also knows the optional ``perspective``
    backend (imported only when configured: it registers itself on import)."""
    from evaluation.toxicity import build_scorer

    if (config or {}).get("backend") == "perspective":
        import evaluation.perspective  # noqa: F401  (registers the backend)
    return build_scorer(config)
