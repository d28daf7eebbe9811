"""Load models and tokenizers from manifests, on the right device and precision."""
from __future__ import annotations

import os


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(precision: str, device: str):
    """``auto``: bf16 on a GPU that supports it, fp32 on CPU (fp16 is never chosen)."""
    import torch

    if precision == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def load_tokenizer(path: str | os.PathLike, padding_side: str = "left"):
    """Tokenizer with a pad token; left padding for batched generation."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def load_causal_lm(path: str | os.PathLike, device: str = "auto", precision: str = "auto"):
    from transformers import AutoModelForCausalLM

    device = pick_device(device)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=pick_dtype(precision, device))
    return model.to(device).eval()
