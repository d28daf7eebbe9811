"""The auxiliary model: a few causal transformer layers over the frozen base model's
last hidden states (through a linear projection), then a vocabulary-sized head.

The layer stack is a transformers ``LlamaModel`` fed ``inputs_embeds``, so it has
rotary positions, SDPA attention and a KV cache for incremental decoding for free.
The head is initialised to zero: ``c = 0``, ``R = 0.5`` everywhere, and ``q = p``
until the model is trained (METHOD.md section 2).
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch
from torch import nn


@dataclasses.dataclass
class NADOArchitecture:
    base_hidden_size: int
    vocab_size: int
    layers: int = 2
    width: int = 256
    heads: int = 4
    max_position_embeddings: int = 8192
    rope_theta: float = 10000.0


class NADOModel(nn.Module):
    def __init__(self, arch: NADOArchitecture):
        super().__init__()
        from transformers import LlamaConfig, LlamaModel

        if arch.width % arch.heads:
            raise ValueError(f"nado.width ({arch.width}) must be a multiple of nado.heads ({arch.heads})")
        self.arch = arch
        self.proj = nn.Linear(arch.base_hidden_size, arch.width)
        body_config = LlamaConfig(
            vocab_size=1,  # token embeddings are unused: the input is the base model's hidden states
            bos_token_id=None, eos_token_id=None, pad_token_id=None,
            hidden_size=arch.width,
            intermediate_size=2 * arch.width,
            num_hidden_layers=arch.layers,
            num_attention_heads=arch.heads,
            num_key_value_heads=arch.heads,
            max_position_embeddings=arch.max_position_embeddings,
            rope_parameters={"rope_type": "default", "rope_theta": arch.rope_theta},
        )
        self.body = LlamaModel(body_config)
        self.head = nn.Linear(arch.width, arch.vocab_size)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, hidden, attention_mask=None, position_ids=None, past_key_values=None, use_cache=False, positions=None):
        """Logits ``c`` [B, T, V] for every position of ``hidden`` [B, T, H_base].

        ``positions`` (bool [B, T]): only those positions' logits, [N, V] in row-major
        order; the vocabulary-sized head is the costly part, so callers that need a few
        positions pass them."""
        states, past = self.states(hidden, attention_mask, position_ids, past_key_values, use_cache)
        return self.head(states if positions is None else states[positions]), past

    def states(self, hidden, attention_mask=None, position_ids=None, past_key_values=None, use_cache=False):
        """The layer stack's output [B, T, width] (the head's input), and the KV cache."""
        x = self.proj(hidden.to(self.proj.weight.dtype))
        out = self.body(
            inputs_embeds=x, attention_mask=attention_mask, position_ids=position_ids,
            past_key_values=past_key_values, use_cache=use_cache,
        )
        return out.last_hidden_state, out.past_key_values

    def token_logits(self, states, token_ids):
        """``c[..., token_ids]``: one vocabulary entry of the head per position, without
        the vocabulary-wide product (``states`` [..., width], ``token_ids`` [...])."""
        return (states * self.head.weight[token_ids]).sum(-1) + self.head.bias[token_ids]


def build_nado(base_config, settings) -> NADOModel:
    """A fresh auxiliary model sized for a base model config and ``NADOSettings``."""
    return NADOModel(NADOArchitecture(
        base_hidden_size=base_config.hidden_size, vocab_size=base_config.vocab_size,
        layers=settings.layers, width=settings.width, heads=settings.heads,
        max_position_embeddings=getattr(base_config, "max_position_embeddings", 8192),
    ))


def save_nado(model: NADOModel, out_dir: str | os.PathLike, extra: dict | None = None) -> None:
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "nado_config.json").write_text(json.dumps({**dataclasses.asdict(model.arch), **(extra or {})}, indent=2) + "\n")
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(out_dir / "nado.safetensors"))


def load_nado(path: str | os.PathLike, device="cpu", dtype=None) -> NADOModel:
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / "nado_config.json").is_file():
        raise FileNotFoundError(f"{path} is not a NADO folder (no nado_config.json): rerun the rule that trains it")
    fields = {f.name for f in dataclasses.fields(NADOArchitecture)}
    arch = NADOArchitecture(**{k: v for k, v in json.loads((path / "nado_config.json").read_text()).items() if k in fields})
    model = NADOModel(arch)
    model.load_state_dict(load_file(str(path / "nado.safetensors")), strict=True)
    return model.to(device=device, dtype=dtype).eval()
