"""Load models and tokenizers from manifests, on the right device and precision."""
from __future__ import annotations

import os

PRECISIONS = ("auto", "fp32", "bf16", "bf16_mixed", "fp16")  # fp16: inference only (pick_dtype)


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def _bf16_gpu(device: str) -> bool:
    import torch

    return device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _check(precision: str, known=PRECISIONS) -> None:
    if precision not in known:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(known)} (training.precision in the config)")


def pick_dtype(precision: str, device: str):
    """The dtype to load a model in for inference (generation, scoring, lm-eval).

    ``auto``: bf16 on a GPU that supports it, fp32 otherwise (fp16 is never chosen);
    ``bf16_mixed`` (a training setting, see ``training_dtypes``) infers in bf16.
    """
    import torch

    _check(precision)
    if precision == "auto":
        return torch.bfloat16 if _bf16_gpu(device) else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "bf16_mixed": torch.bfloat16, "fp16": torch.float16}[precision]


def training_dtypes(precision: str, device: str):
    """``(weights_dtype, compute_dtype)`` of a training run: the dtype the trained weights (and
    so their gradients and AdamW states) are held in, and the dtype of the matmuls (bf16: the
    Trainer's ``bf16=True``, i.e. autocast).

    - ``fp32``: (fp32, fp32).
    - ``bf16``: (bf16, bf16), "pure bf16": least memory, AdamW over bf16 weights holds
      2 (weights) + 2 (gradients) + 4 (two states) = 8 bytes per parameter, but an update
      smaller than half a bf16 step of the weight (up to ~0.4% of it) is rounded away: full
      fine-tuning of a 7B model at lr 2e-5 loses many of its small updates.
    - ``bf16_mixed``: (fp32, bf16), fp32 master weights under bf16 autocast: every update
      counts, at 4 + 4 + 8 = 16 bytes per parameter (~108 GB for a 7B model, before
      activations), plus transient bf16 copies of the weights during the forward.
    - ``auto``: ``bf16_mixed`` on a CUDA GPU with bf16, else ``fp32`` (CPU).

    With LoRA, ``bf16`` is the sensible choice: only the frozen base is bf16, and peft keeps
    the adapter weights (the trained ones) in fp32 by default, so nothing is lost; mixed
    would hold the frozen base in fp32 for nothing.
    """
    import torch

    _check(precision, known=("auto", "fp32", "bf16", "bf16_mixed"))
    if precision == "auto":
        precision = "bf16_mixed" if _bf16_gpu(device) else "fp32"
    return {
        "fp32": (torch.float32, torch.float32),
        "bf16": (torch.bfloat16, torch.bfloat16),
        "bf16_mixed": (torch.float32, torch.bfloat16),
    }[precision]


def load_tokenizer(path: str | os.PathLike, padding_side: str = "left"):
    """Tokenizer with a pad token; left padding for batched generation."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def special_token_ids(tokenizer) -> tuple[list[int], list[int]]:
    """The ids ``tokenizer`` puts before and after a text (``add_special_tokens=True``, its
    default, which generation, NADO sampling, trl and lm-eval use): Llama's ``([BOS], [])``;
    Falcon's and SmolLM2's ``([], [])``. Training and scoring code builds its ids as
    ``prefix + text ids`` with these, so a model is trained on text as it is prompted with it."""
    plain = tokenizer("x", add_special_tokens=False)["input_ids"]
    full = tokenizer("x")["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start], full[start + len(plain) :]
    raise ValueError(f"tokenizer {type(tokenizer).__name__} changes a text's own tokens when it adds special tokens "
                     f"({plain} -> {full}): training and prompting cannot be made to agree")


def load_causal_lm(path: str | os.PathLike, device: str = "auto", precision: str = "auto"):
    from transformers import AutoModelForCausalLM

    device = pick_device(device)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=pick_dtype(precision, device))
    return model.to(device).eval()
