"""Tiny random-weight stand-ins of the paper config's hub models, in a Hugging Face cache.

The paper config (config/paper.yaml) loads its models by hub id: Llama-7B
(``huggyllama/llama-7b``), Falcon-7B (``tiiuae/falcon-7b``), the OPT-30B judge
(``facebook/opt-30b``) and the ToxiGen scorer (``tomh/toxigen_roberta``). The rehearsal
(config/paper_rehearsal.yaml) loads the same ids, offline, from its own Hugging Face
cache, filled by scripts/prefetch.py from ``rehearsal.fake_hub`` serving the repositories
written here (rehearsal/build.py): ``snapshot_download(..., local_files_only=True)`` and
``from_pretrained("ORG/NAME")`` then resolve them as they resolve the real ones after
``make prefetch``.

Each stand-in keeps what the suite's code paths depend on and shrinks the rest:

- the architecture class and its module names (Falcon's fused ``query_key_value``, which
  LoRA targets; OPT's ``word_embed_proj_dim``; RoBERTa's classification head and label
  names ``LABEL_0``/``LABEL_1``);
- the tokenizer's behaviour: Llama's sentencepiece-style BPE (``▁`` word marks, byte
  fallback, ``<s>`` prepended to every text, no pad token), Falcon's byte-level BPE
  (``<|endoftext|>`` as EOS, nothing prepended, no pad token), OPT's byte-level BPE
  (``</s>`` prepended, ``<pad>`` = 1), RoBERTa's ``<s> ... </s>``;
- the special-token ids of the real configs where the vocabulary allows it.

Sizes are cut (2 layers, width 64, a vocabulary of a few thousand tokens trained here on
Python's own documentation text), and weights are random: numbers from a rehearsal mean
nothing; what it shows is that the paper profile's code runs.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

VOCAB_SIZE = 4000
WIDTH = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}


def _corpus() -> list[str]:
    """English text that ships with Python (no download): the tokenizers' training corpus."""
    from pydoc_data.topics import topics

    return [topics[key] for key in sorted(topics)]


# ----------------------------------------------------------------------------- tokenizers
def llama_tokenizer():
    """Llama's tokenizer behaviour: ``▁``-marked BPE with byte fallback, ``<unk>``/``<s>``/``</s>``
    at ids 0/1/2, the 256 ``<0xNN>`` byte tokens next, BOS prepended, no pad token."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaTokenizer

    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{byte:02X}>" for byte in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=specials, show_progress=False)
    model = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    model.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    model.train_from_iterator(_corpus(), trainer)
    state = json.loads(model.to_str())["model"]
    return LlamaTokenizer(vocab=state["vocab"], merges=_merge_pairs(state), add_bos_token=True, add_eos_token=False)


def _byte_level_bpe(specials: list[str]):
    from tokenizers import ByteLevelBPETokenizer

    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(_corpus(), vocab_size=VOCAB_SIZE, special_tokens=specials, show_progress=False)
    return tokenizer


def falcon_tokenizer():
    """Falcon's: byte-level BPE, ``<|endoftext|>`` as EOS (and the BOS id of its config), nothing
    prepended to a text, no pad token."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    raw = _byte_level_bpe([">>TITLE<<", ">>ABSTRACT<<", "<|endoftext|>"])
    raw.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(tokenizer_object=raw._tokenizer, eos_token="<|endoftext|>",
                                   bos_token="<|endoftext|>")


def opt_tokenizer():
    """OPT's: byte-level BPE with ``<s>``/``<pad>``/``</s>``/``<unk>`` at 0-3 and ``</s>`` prepended."""
    from transformers import GPT2Tokenizer

    raw = _byte_level_bpe(["<s>", "<pad>", "</s>", "<unk>"])
    vocab, merges = _vocab_and_merges(raw)
    return GPT2Tokenizer(vocab=vocab, merges=merges, bos_token="</s>", eos_token="</s>", unk_token="<unk>",
                         pad_token="<pad>", add_bos_token=True)


def roberta_tokenizer():
    """RoBERTa's: byte-level BPE, ``<s> text </s>``, ``<pad>`` = 1."""
    from transformers import RobertaTokenizer

    raw = _byte_level_bpe(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    vocab, merges = _vocab_and_merges(raw)
    return RobertaTokenizer(vocab=vocab, merges=merges)


def _vocab_and_merges(raw):
    state = json.loads(raw._tokenizer.to_str())["model"]
    return state["vocab"], _merge_pairs(state)


def _merge_pairs(state: dict) -> list[tuple[str, str]]:
    """A serialised BPE model's merges as pairs (tokenizers writes lists or "a b" strings)."""
    return [tuple(pair) if isinstance(pair, list) else tuple(pair.split(" ")) for pair in state["merges"]]


# ----------------------------------------------------------------------------- models
def _llama(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), intermediate_size=128, num_key_value_heads=4,
                         max_position_embeddings=2048, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=None, tie_word_embeddings=False,
                         **WIDTH)
    return LlamaForCausalLM(config)


def _falcon(tokenizer):
    from transformers import FalconConfig, FalconForCausalLM

    # Falcon-7B: multi-query attention, parallel attention/MLP, no biases, rotary positions
    config = FalconConfig(vocab_size=len(tokenizer), multi_query=True, parallel_attn=True,
                          new_decoder_architecture=False, bias=False, alibi=False,
                          bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id, **WIDTH)
    return FalconForCausalLM(config)


def _opt(tokenizer):
    from transformers import OPTConfig, OPTForCausalLM

    config = OPTConfig(vocab_size=len(tokenizer), ffn_dim=128, word_embed_proj_dim=WIDTH["hidden_size"],
                       max_position_embeddings=2048, do_layer_norm_before=True,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, **WIDTH)
    return OPTForCausalLM(config)


def _roberta_classifier(tokenizer):
    from transformers import RobertaConfig, RobertaForSequenceClassification

    # tomh/toxigen_roberta: RobertaForSequenceClassification, LABEL_1 = toxic
    config = RobertaConfig(vocab_size=len(tokenizer), intermediate_size=128, max_position_embeddings=514,
                           num_labels=2, id2label={0: "LABEL_0", 1: "LABEL_1"},
                           label2id={"LABEL_0": 0, "LABEL_1": 1}, pad_token_id=tokenizer.pad_token_id,
                           bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **WIDTH)
    return RobertaForSequenceClassification(config)


# hub id -> (tokenizer, model) builders. A hub id of the paper config missing here fails with this list.
STAND_INS = {
    "huggyllama/llama-7b": (llama_tokenizer, _llama),
    "tiiuae/falcon-7b": (falcon_tokenizer, _falcon),
    "facebook/opt-30b": (opt_tokenizer, _opt),
    "tomh/toxigen_roberta": (roberta_tokenizer, _roberta_classifier),
}


def build_model_folder(hub_id: str, out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Write the stand-in of ``hub_id`` as a plain Hugging Face model folder."""
    import torch

    if hub_id not in STAND_INS:
        raise KeyError(f"no rehearsal stand-in for model {hub_id!r}; known: {sorted(STAND_INS)} "
                       "(add one to rehearsal/models.py STAND_INS)")
    make_tokenizer, make_model = STAND_INS[hub_id]
    tokenizer = make_tokenizer()
    torch.manual_seed(seed)
    model = make_model(tokenizer)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


# ----------------------------------------------------------------------------- the repositories
# What the real repositories hold besides config, tokenizer and safetensors weights: a model
# card, .gitattributes, and older weight formats. Prefetch must take one weight format only
# (modeling/hub.py), and an offline load must accept a snapshot without the rest.
EXTRA_WEIGHTS = {"huggyllama/llama-7b": "both", "tiiuae/falcon-7b": "both", "facebook/opt-30b": "bin_only"}


def write_model_repo(repos_root: str | os.PathLike, hub_id: str, seed: int = 0) -> Path:
    """Build the stand-in of ``hub_id`` as the repository ``rehearsal.fake_hub.FakeHub(repos_root)``
    serves under that id (scripts/prefetch.py then fetches it as it fetches the real one)."""
    import torch
    from safetensors.torch import load_file

    from rehearsal.hub_cache import repo_folder

    folder = repo_folder(repos_root, hub_id, "model")
    shutil.rmtree(folder, ignore_errors=True)
    build_model_folder(hub_id, folder, seed)
    (folder / "README.md").write_text(f"# {hub_id} (rehearsal stand-in)\n\nTiny random weights; see rehearsal/models.py.\n")
    (folder / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n"
                                           "*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    formats = EXTRA_WEIGHTS.get(hub_id)
    if formats:
        weights = folder / "model.safetensors"
        torch.save(load_file(str(weights)), folder / "pytorch_model.bin")
        if formats == "bin_only":
            weights.unlink()
    return folder


def hub_model_ids(config: dict) -> list[str]:
    """Every model hub id a config loads: ``models:``, ``judges:`` and an ``hf_classifier`` scorer."""
    ids = [spec["hub_id"] for block in ("models", "judges") for spec in (config.get(block) or {}).values()
           if spec.get("source") == "hub" and not spec.get("path")]
    scorers = [config.get("scorer") or {}, (config.get("jigsaw") or {}).get("scorer") or {}]
    ids += [s["hub_id"] for s in scorers if s.get("backend") == "hf_classifier" and s.get("hub_id") and not s.get("path")]
    return list(dict.fromkeys(ids))
