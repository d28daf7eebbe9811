"""Options of a NADO (``nado:`` inside a method's config entry), with defaults."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class NADOSettings:
    # architecture (METHOD.md section 2): a few layers over the base model's last hidden states
    layers: int = 2  # transformer layers (2-4 for small models, 8 for 7B)
    width: int = 256  # hidden size of those layers (7B: e.g. 1024)
    heads: int = 4
    # data: prompts from the training mixture -> samples of the current LM -> labels
    n_prompts: int = 256  # prompts drawn from the training mixture's rows
    prompt_domains: list = dataclasses.field(default_factory=lambda: ["toxicity", "general"])
    prompt_max_words: int = 24  # a prompt is a row's first sentence, cut to this many words
    samples_per_prompt: int = 2
    max_new_tokens: int = 24
    sample_batch_size: int = 32
    temperature: float = 1.0  # ancestral sampling: T=1, top_p=1, top_k=0 (no truncation of p)
    top_p: float = 1.0
    top_k: int = 0
    label_threshold: float | None = None  # None: label = 1 - toxicity; else 1[toxicity < threshold]
    # training
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 1.0e-3
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    consistency_weight: float = 1.0  # lambda of the consistency regularizer (ours: 1.0)
    consistency_kl: str = "expected_to_token"  # KL(Bern(E_t)||Bern(R_t)) (ours); or token_to_expected

    @classmethod
    def from_dict(cls, data: dict | None, where: str = "nado") -> "NADOSettings":
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown option(s) {unknown}; known options: {sorted(known)}")
        from methods._registry import check_option_types

        check_option_types(cls, data, where)
        settings = cls(**data)
        if settings.consistency_kl not in ("expected_to_token", "token_to_expected"):
            raise ValueError(f"{where}.consistency_kl must be expected_to_token or token_to_expected, got {settings.consistency_kl!r}")
        return settings
