"""Decoding under q: a token guide for our sampling loop, and an lm-eval model class.

``NADOGuide`` runs the auxiliary model beside the base model with its own KV cache,
one step per generated token, and returns ``logsigmoid(c_t)`` for the last position;
the loop adds it to ``log p_t`` and renormalises (evaluation/generate.py).

``NADOLM`` is lm-eval's ``HFLM`` whose logits are ``log q`` instead of the base
logits, so MMLU and commonsense accuracies of ``nado`` are lm-eval's own scoring of
the NADO-decoded distribution (registered as lm-eval model ``nado``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class NADOGuide:
    def __init__(self, nado):
        self.nado = nado
        self.past = None

    def reset(self, batch_size: int) -> None:
        self.past = None

    def __call__(self, hidden, attention_mask, position_ids):
        from transformers import DynamicCache

        if self.past is None:
            self.past = DynamicCache()
        with torch.no_grad():
            c, self.past = self.nado(hidden, attention_mask=attention_mask, position_ids=position_ids,
                                     past_key_values=self.past, use_cache=True)
        return F.logsigmoid(c[:, -1, :].float())


def register_lm_eval_model():
    """Register ``NADOLM`` with lm-eval as model ``nado`` (idempotent)."""
    from lm_eval.api.registry import MODEL_REGISTRY, register_model
    from lm_eval.models.huggingface import HFLM

    if "nado" in MODEL_REGISTRY:
        return MODEL_REGISTRY["nado"]

    @register_model("nado")
    class NADOLM(HFLM):
        """HFLM scoring under ``q = softmax(log p + logsigmoid(c))``; ``nado=<folder>``."""

        def __init__(self, nado: str, **kwargs):
            super().__init__(**kwargs)
            from nado.model import load_nado

            self.nado_model = load_nado(nado, device=self.device, dtype=self.model.dtype)

        def _model_call(self, inps, attn_mask=None, labels=None):
            with torch.no_grad():
                out = self.model(inps, output_hidden_states=True)
                c, _ = self.nado_model(out.hidden_states[-1])
                # lm-eval applies log_softmax to what this returns; log q is already normalised.
                return torch.log_softmax(out.logits.float() + F.logsigmoid(c.float()), dim=-1)

    return NADOLM
