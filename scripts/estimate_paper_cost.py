"""GPU memory and time of every method of the paper config, from arithmetic (no GPU measured).

    .venv/bin/python scripts/estimate_paper_cost.py                     # config/paper.yaml, A100
    .venv/bin/python scripts/estimate_paper_cost.py --gpu h100 --out docs/paper_scale_estimates_h100.csv
    .venv/bin/python scripts/estimate_paper_cost.py --markdown          # also print the README table

Writes one row per model, method and component (a workflow job, or a phase of one),
plus a ``total`` row per method (peak = the largest component, hours = the sum):
``model, method, component, params_b, weights_gb, optimizer_gb, activations_gb,
peak_gb, gpu_hours, source`` (GB = 1e9 bytes; ``optimizer_gb`` = gradients plus
optimizer states; ``source`` = "arithmetic"). Every assumption is a constant below.

What the code does, and so what is counted (methods/_trainer.py, modeling/load.py
``training_dtypes``, nado/):
- Trained weights are held in the dtype ``training.precision`` gives them, and AdamW keeps
  its gradients and two states in that dtype: ``bf16`` (pure) holds 2 (weights) + 2
  (gradients) + 4 (Adam) = 8 bytes per parameter; ``bf16_mixed`` (and ``auto`` on a GPU)
  holds fp32 master weights, 4 + 4 + 8 = 16, with the matmuls in bf16 (autocast), and
  the checkpointed layer inputs in fp32 (the residual stream stays in the weights' dtype);
  ``fp32``: 16 bytes, matmuls at fp32 speed. LoRA: the frozen base in that dtype, fp32
  adapters (peft's default upcast): 4 + 4 + 8 per adapter parameter; the LoRA alternative
  of a full fine-tuning config is estimated with ``bf16``, the sensible choice for LoRA.
  Not counted (transient): under ``bf16_mixed``, the bf16 copies of the weights autocast
  keeps during a forward (2 bytes per parameter, while gradients of earlier micro-batches
  are held); torch's default (foreach) AdamW step allocates one parameter-sized temporary
  in the state dtype (4 bytes per parameter under ``bf16_mixed``, 2 under ``bf16``; none
  with ``optim: adamw_torch_fused``). Nor is FSDP/ZeRO-3 sharding (one GPU per job here).
- Activations with gradient checkpointing: every layer's input (2 s b h bytes per
  layer, 4 with fp32 weights) plus one layer recomputed during backward (34 s b h bytes:
  Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
  Models", eq. 1 without the attention-score term, which SDPA does not store), plus the
  logits and their fp32 loss copy and gradient (10 bytes per logit). Micro-batch
  ``batch_size`` sequences padded to ``max_length`` (an upper bound: the collator pads to
  the longest row of the batch).
- Training FLOPs: 6 P per token (forward and backward), +2 P recompute with gradient
  checkpointing; LoRA skips the frozen weights' gradients (4 P, +2 P). Attention's own
  FLOPs (~1% at 256 tokens) and the optimizer step are left out.
- Generation (KV cache, batched): prefill at compute speed; each new token costs
  max(2 P batch FLOPs, reading the weights and the KV cache from memory). Evaluation
  jobs load models in bf16 whatever ``training.precision`` says.
- RL phase 2 (trl RLOO): the policy as above, plus a frozen reference model in bf16
  (fp32 under ``fp32``; methods/rl.py); none with LoRA (PEFT's adapter is switched off).
- Forward-only jobs (lm-eval, the judge, scorers): 2 P per token.
- The NADO is fp32 when it trains (torch's default: no TF32), bf16 when it decodes.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
GB = 1e9
BF16, FP32 = 2, 4
# training.precision -> bytes per trained weight (and per gradient and AdamW state); auto = bf16_mixed on a GPU
WEIGHT_BYTES = {"bf16": BF16, "bf16_mixed": FP32, "auto": FP32, "fp32": FP32}


# --------------------------------------------------------------------------- hardware (assumed)
@dataclasses.dataclass(frozen=True)
class GPU:
    name: str
    bf16_flops: float  # dense tensor-core peak, FLOP/s
    fp32_flops: float  # plain fp32 (no TF32) peak, FLOP/s
    memory_bandwidth: float  # HBM, bytes/s


GPUS = {  # vendor data sheets (SXM parts)
    "a100": GPU("A100-SXM4-80GB", 312e12, 19.5e12, 2.039e12),
    "h100": GPU("H100-SXM5-80GB", 989e12, 67e12, 3.35e12),
}
MFU = 0.40  # assumed sustained share of peak FLOP/s (training, prefill, scoring)
BANDWIDTH_EFFICIENCY = 0.70  # assumed sustained share of HBM bandwidth (decoding)


# --------------------------------------------------------------------------- models (their config.json)
@dataclasses.dataclass(frozen=True)
class Arch:
    family: str  # llama | falcon | opt | roberta
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    positions: int = 0  # learned position embeddings (opt, roberta)

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


ARCHITECTURES = {
    "huggyllama/llama-7b": Arch("llama", 4096, 32, 32, 32, 11008, 32000),
    "tiiuae/falcon-7b": Arch("falcon", 4544, 32, 71, 1, 18176, 65024),  # multi-query attention, parallel block
    "facebook/opt-30b": Arch("opt", 7168, 48, 56, 56, 28672, 50272, positions=2050),
    "tomh/toxigen_roberta": Arch("roberta", 1024, 24, 16, 16, 4096, 50265, positions=514),  # RoBERTa-large
}
LORA_TARGETS = {"llama": ("q_proj", "v_proj"), "falcon": ("query_key_value",)}  # falcon has no q_proj/v_proj


def param_count(arch: Arch) -> int:
    """Parameters of a model, from its shapes (equals the published totals)."""
    h, i, v, kv = arch.hidden, arch.intermediate, arch.vocab, arch.kv_heads * arch.head_dim
    if arch.family == "llama":  # untied head, RMSNorm without bias, no biases
        layer = h * h * 2 + h * kv * 2 + 3 * h * i + 2 * h
        return 2 * v * h + arch.layers * layer + h
    if arch.family == "falcon":  # tied head, fused qkv, one LayerNorm per (parallel) block
        layer = h * (h + 2 * kv) + h * h + 2 * h * i + 2 * h
        return v * h + arch.layers * layer + 2 * h
    if arch.family == "opt":  # tied head, biases everywhere, learned positions
        layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 4 * h
        return (v + arch.positions) * h + arch.layers * layer + 2 * h
    if arch.family == "roberta":  # + token types, embedding LayerNorm, 2-class head
        layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 4 * h
        return (v + arch.positions + 1) * h + 2 * h + arch.layers * layer + (h * h + h) + (h * 2 + 2)
    raise ValueError(f"unknown family {arch.family!r}")


def lora_param_count(arch: Arch, r: int, targets) -> int:
    """Adapter parameters: r (in + out) per targeted projection and layer."""
    h, kv, i = arch.hidden, arch.kv_heads * arch.head_dim, arch.intermediate
    shapes = {
        "q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
        "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h),
        "query_key_value": (h, h + 2 * kv), "dense": (h, h), "dense_h_to_4h": (h, i), "dense_4h_to_h": (i, h),
    }
    return arch.layers * sum(r * sum(shapes[name]) for name in targets)


def nado_param_count(base: Arch, layers: int, width: int) -> int:
    """nado/model.py: projection, a LlamaModel body (MLP 2 x width, 1-token embedding), vocabulary head."""
    body_layer = 4 * width * width + 3 * width * 2 * width + 2 * width
    return (base.hidden * width + width) + (width + layers * body_layer + width) + (width * base.vocab + base.vocab)


# --------------------------------------------------------------------------- workload (assumed where not in the config)
SAFENLP_PROMPTS = 6514  # microsoft/SafeNLP data/toxiGen.json (METHOD.md section 5)
PROMPT_TOKENS = 30  # ours: a SafeNLP statement or a first sentence cut to 24 words, in tokens
MMLU_QUESTIONS, MMLU_5SHOT_TOKENS = 14042, 600  # MMLU test set; ours: mean 5-shot context length
COMMONSENSE = {  # lm-eval task: (documents, choices scored separately, ours: mean tokens per choice)
    "boolq": (3270, 1, 170), "piqa": (1838, 2, 60), "social_iqa": (1954, 3, 50), "hellaswag": (10042, 4, 110),
    "winogrande": (1267, 2, 30), "arc_easy": (2376, 4, 50), "arc_challenge": (1172, 4, 60), "openbookqa": (500, 4, 35),
}
JUDGE_TOKENS = 200  # ours: instruction + prompt + two 32-token continuations + answer
WIKITEXT_TEST_TOKENS, ROLLING_WINDOW = 340_000, 2048  # WikiText-2 test (245 k words) in Llama tokens; one window each
HELDOUT_TOKENS = 30  # ours: mean tokens of a held-out ToxiGen statement
SCORED_TRAIN_TOKENS = 80  # ours: mean tokens of a training row (ToxiGen ~25, WikiText paragraphs ~130)
JIGSAW_COMMENT_TOKENS = 100  # ours: mean tokens of a Jigsaw comment (cut to max_length)


@dataclasses.dataclass
class Row:
    model: str
    method: str
    component: str
    params_b: float
    weights_gb: float
    optimizer_gb: float
    activations_gb: float
    gpu_hours: float
    source: str = "arithmetic"

    @property
    def peak_gb(self) -> float:
        return self.weights_gb + self.optimizer_gb + self.activations_gb

    def as_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["peak_gb"] = self.peak_gb
        order = ["model", "method", "component", "params_b", "weights_gb", "optimizer_gb", "activations_gb",
                 "peak_gb", "gpu_hours", "source"]
        return {key: _round(values[key]) for key in order}


def _round(value):
    return round(value, 3) if isinstance(value, float) else value


class Estimator:
    def __init__(self, config: dict, gpu: GPU):
        self.config, self.gpu = config, gpu
        self.training = config["training"]
        self.precision = self.training.get("precision", "auto")
        if self.precision not in WEIGHT_BYTES:
            raise SystemExit(f"training.precision {self.precision!r}: estimates know {', '.join(WEIGHT_BYTES)}")
        self.scorer = ARCHITECTURES.get((config.get("scorer") or {}).get("hub_id"))

    def weight_bytes(self, lora) -> int:
        """Bytes per weight of the model being trained (the frozen base under LoRA). The LoRA
        alternative of a full fine-tuning config is estimated in bf16, as one would run it."""
        configured_lora = bool(self.training.get("lora"))
        return BF16 if lora and not configured_lora else WEIGHT_BYTES[self.precision]

    # ---- building blocks: (weights bytes, optimizer bytes, activation bytes, seconds)
    def compute_seconds(self, flops: float, fp32: bool = False) -> float:
        return flops / ((self.gpu.fp32_flops if fp32 else self.gpu.bf16_flops) * MFU)

    def kv_bytes(self, arch: Arch, tokens: int) -> float:
        return 2 * arch.layers * arch.kv_heads * arch.head_dim * BF16 * tokens

    def train(self, arch: Arch, steps: int, lora: dict | None, tokens_per_sequence: int | None = None,
              batch: int | None = None, accumulation: int | None = None, vocab_logits: bool = True):
        """A Trainer run: memory at one micro-batch, time over ``steps`` optimizer steps."""
        t = self.training
        P = param_count(arch)
        b, s = batch or t["batch_size"], tokens_per_sequence or t["max_length"]
        tokens = steps * b * (accumulation or t["gradient_accumulation_steps"]) * s
        checkpointing = t.get("gradient_checkpointing", False)
        w = self.weight_bytes(lora)
        per_layer = 34 * s * b * arch.hidden
        if checkpointing:  # a layer's input is the residual stream, in the weights' dtype
            activations = arch.layers * w * s * b * arch.hidden + per_layer
        else:
            activations = arch.layers * per_layer
        activations += (b * s * arch.vocab * (BF16 + FP32 + FP32)) if vocab_logits else 0
        if lora:
            L = lora_param_count(arch, lora.get("r", 16), LORA_TARGETS[arch.family])
            weights, optimizer = P * w + L * FP32, L * (FP32 + 2 * FP32)
            flops = (4 + 2 * checkpointing) * P * tokens
        else:
            weights, optimizer = P * w, P * (w + 2 * w)
            flops = (6 + 2 * checkpointing) * P * tokens
        return weights, optimizer, activations, self.compute_seconds(flops, fp32=self.precision == "fp32")

    def generate(self, arch: Arch, sequences: int, new_tokens: int, batch: int, extra_params: int = 0):
        """Batched sampling with a KV cache (and, with ``extra_params``, a NADO decoding beside it)."""
        P = param_count(arch) + extra_params
        batches = math.ceil(sequences / batch)
        context = PROMPT_TOKENS + new_tokens
        kv = self.kv_bytes(arch, batch * context)
        prefill = self.compute_seconds(2 * P * batch * PROMPT_TOKENS)
        step = max(self.compute_seconds(2 * P * batch), (P * BF16 + kv) / (self.gpu.memory_bandwidth * BANDWIDTH_EFFICIENCY))
        logits = batch * arch.vocab * FP32 * 2
        return P * BF16, 0.0, kv + logits, batches * (prefill + new_tokens * step)

    def forward(self, arch: Arch, tokens: int, batch: int, sequence: int, dtype_bytes: int = BF16,
                last_logits_only: bool = False, extra_params: int = 0):
        """Forward passes only (lm-eval, the judge, a scorer)."""
        P = param_count(arch) + extra_params
        logits = batch * (1 if last_logits_only else sequence) * arch.vocab * (BF16 + FP32)
        kv = self.kv_bytes(arch, batch * sequence) if arch.family != "roberta" else 0  # decoders return a KV cache
        activations = kv + 34 * sequence * batch * arch.hidden + logits
        return P * dtype_bytes, 0.0, activations, self.compute_seconds(2 * P * tokens, fp32=dtype_bytes == FP32)

    def nado_round(self, arch: Arch, settings: dict, states_from_sampler: bool = False) -> dict:
        """One NADO round: sample n_prompts x samples_per_prompt continuations of the LM, label them,
        cache the LM's last hidden states, train the NADO (fp32) for ``epochs``. The nado method's
        nado_samples + train_nado jobs, or one round inside a regularized run, which keeps the hidden
        states its sampler computed (``states_from_sampler``: no second forward over the samples).
        The NADO's layers read every position; its vocabulary head, ``log p`` and the consistency
        term only the continuation (nado/train.py ``NADOTrainer.losses``)."""
        n = settings["n_prompts"] * settings["samples_per_prompt"]
        new_tokens = settings["max_new_tokens"]
        sequence = PROMPT_TOKENS + new_tokens
        Pn = nado_param_count(arch, settings["layers"], settings["width"])
        head = settings["width"] * arch.vocab + arch.vocab
        b = settings["batch_size"]
        round_ = {
            "params": Pn,
            "sample": self.generate(arch, n, new_tokens, settings["sample_batch_size"]),
            "label_s": self.score_texts(n, new_tokens)[3],
            "cache_s": 0.0 if states_from_sampler else self.compute_seconds(2 * param_count(arch) * n * sequence),
            "train_s": self.compute_seconds(6 * ((Pn - head) * sequence + head * new_tokens) * n * settings["epochs"]
                                            + 2 * arch.hidden * arch.vocab * n * new_tokens * settings["epochs"],
                                            fp32=True),
            "grads_adam": Pn * (FP32 + 2 * FP32),  # fp32 gradients and AdamW states
            # log p, c and their gradients over the vocabulary (fp32) at continuation positions, and the
            # NADO layers' activations
            "activations": b * new_tokens * arch.vocab * FP32 * 4 + 34 * sequence * b * settings["width"] * 2 * settings["layers"],
        }
        round_["seconds"] = round_["sample"][3] + round_["label_s"] + round_["cache_s"] + round_["train_s"]
        return round_

    def score_texts(self, texts: int, tokens: int):
        if self.scorer is None:
            return 0.0, 0.0, 0.0, 0.0
        return self.forward(self.scorer, texts * tokens, self.config["scorer"].get("batch_size", 64), tokens,
                            dtype_bytes=FP32)

    # ---- the rows of one model
    def rows(self, alias: str, hub_id: str) -> list[Row]:
        arch = ARCHITECTURES[hub_id]
        P = param_count(arch)
        config, rows = self.config, []

        def add(method, component, parts, params=P):
            weights, optimizer, activations, seconds = parts[:4]
            rows.append(Row(alias, method, component, params / 1e9, weights / GB, optimizer / GB, activations / GB,
                            seconds / 3600))

        lora_example = self.training.get("lora") or {"r": 16}
        configured_lora = self.training.get("lora")
        evaluation = config["evaluation"]
        tox = evaluation["toxicity"]
        n_sequences = (tox.get("n_prompts") or SAFENLP_PROMPTS) * tox["samples_per_prompt"]
        bench_batch = evaluation["benchmarks"].get("batch_size", 16)
        mmlu_tokens = MMLU_QUESTIONS * MMLU_5SHOT_TOKENS
        commonsense_tokens = sum(docs * choices * tokens for docs, choices, tokens in COMMONSENSE.values())
        heldout_tokens = WIKITEXT_TEST_TOKENS + config["data"]["mixture"].get("heldout_per_domain", 100) * HELDOUT_TOKENS
        reference = (evaluation.get("fluency") or {}).get("model") or next(iter(config["models"]))
        reference_spec = (config.get("judges") or {}).get(reference) or config["models"][reference]
        reference_arch = ARCHITECTURES[reference_spec["hub_id"]]

        def evaluations(method, nado_params=0):
            add(method, "generate_toxicity", self.generate(arch, n_sequences, tox["max_new_tokens"], tox["batch_size"],
                                                           extra_params=nado_params))
            add(method, "benchmark mmlu (5-shot)", self.forward(arch, mmlu_tokens, bench_batch, MMLU_5SHOT_TOKENS,
                                                                 extra_params=nado_params))
            add(method, "benchmark commonsense (0-shot)", self.forward(arch, commonsense_tokens, bench_batch, 170,
                                                                        extra_params=nado_params))
            add(method, "benchmark perplexity (WikiText test, held-out ToxiGen)",
                self.forward(arch, heldout_tokens, 1, ROLLING_WINDOW, extra_params=nado_params))
            # fluency: the continuations (prompt + new tokens) under the fixed reference model, not the method's
            add(method, f"fluency ({reference} in bf16)",
                self.forward(reference_arch, n_sequences * (PROMPT_TOKENS + tox["max_new_tokens"]), bench_batch,
                             PROMPT_TOKENS + tox["max_new_tokens"]), params=param_count(reference_arch))

        def training(method, lora, label, nado=None, prefix="train"):
            add(method, f"{prefix} ({label})", self.fine_tune(arch, lora, nado))

        for method, entry in config["methods"].items():
            kind = entry.get("type", method)
            lora_label = f"LoRA r={lora_example.get('r', 16)} {'+'.join(LORA_TARGETS[arch.family])}"
            variants = [(configured_lora, "LoRA" if configured_lora else "full fine-tuning")]
            variants.append((None, "full fine-tuning") if configured_lora else (lora_example, lora_label))
            nado = entry if kind in ("regularized", "regularized_adaptive") else None
            if kind in ("sft", "filtering", "regularized", "regularized_adaptive"):
                for lora, label in variants:
                    training(method, lora, label, nado)
            elif kind == "rl":
                for lora, label in variants:
                    if not entry.get("sft_from"):  # with sft_from, phase 1 is that entry's checkpoint: no job here
                        training(method, lora, label, prefix="train phase 1: sft")
                    add(method, f"train phase 2: RLOO ({label})", self.rl(arch, entry, lora))
            elif kind == "nado":
                round_ = self.nado_round(arch, {**NADO_DEFAULTS, **entry.get("nado", {})})
                sample, Pn = round_["sample"], round_["params"]
                add(method, "nado_samples (sample and label)", (sample[0], 0.0, sample[2], sample[3] + round_["label_s"]))
                add(method, "train_nado (fp32 NADO over the frozen base)",
                    (P * BF16 + Pn * FP32, round_["grads_adam"], round_["activations"], round_["cache_s"] + round_["train_s"]),
                    params=Pn)
            evaluations(method, nado_params=nado_param_count(arch, **_nado_shape(entry)) if kind == "nado" else 0)
            rows.extend(self.total(alias, method, rows))
        return rows

    def fine_tune(self, arch: Arch, lora, regularized: dict | None = None, vocab_logits: bool = True):
        """The shared training loop for ``max_steps``; with ``regularized`` (a method entry), also its NADO
        rounds, the active NADO's forward and the KL over the vocabulary at every step."""
        parts = list(self.train(arch, self.training["max_steps"], lora, vocab_logits=vocab_logits))
        if regularized:
            round_ = self.nado_round(arch, {**NADO_DEFAULTS, **regularized.get("nado", {})}, states_from_sampler=True)
            Pn, t = round_["params"], self.training
            kl_flops = 2 * Pn * t["batch_size"] * t["gradient_accumulation_steps"] * t["max_length"] * t["max_steps"]
            # the active NADO, the one training beside it (parallel), the cached output layer (the weights' dtype)
            parts[0] += 2 * Pn * FP32 + arch.vocab * arch.hidden * self.weight_bytes(lora)
            parts[1] += round_["grads_adam"]
            parts[2] += t["batch_size"] * t["max_length"] * arch.vocab * FP32 * 3 + max(round_["activations"], round_["sample"][2])
            parts[3] += nado_rounds(regularized) * round_["seconds"] + self.compute_seconds(kl_flops, fp32=True)
        return tuple(parts)

    def rl(self, arch: Arch, entry: dict, lora):
        """RLOO (trl): per step, sample prompts x k continuations, score them, a reference forward,
        and a policy forward/backward; the reference model is a second copy, in bf16 (fp32 under
        ``fp32``), except under LoRA (PEFT: the adapter switched off)."""
        P = param_count(arch)
        steps, prompts, k = entry.get("rl_steps", 100), entry.get("prompts_per_step", 8), entry.get("samples_per_prompt", 4)
        new_tokens, accumulation = entry.get("max_new_tokens", 32), entry.get("gradient_accumulation_steps", 1)
        sequences = prompts * k
        sample = self.generate(arch, sequences, new_tokens, sequences)
        score = self.score_texts(sequences, new_tokens)
        sequence = PROMPT_TOKENS + new_tokens
        micro = sequences // accumulation
        weights, optimizer, activations, update = self.train(arch, 1, lora, tokens_per_sequence=sequence, batch=micro,
                                                             accumulation=accumulation)
        reference = self.compute_seconds(2 * 2 * P * sequences * sequence)  # reference and old-policy log-probs
        reference_weights = 0 if lora else P * (FP32 if self.precision == "fp32" else BF16)
        return (weights + reference_weights, optimizer, max(activations, sample[2]),
                steps * (sample[3] + score[3] + reference + update))

    def total(self, alias: str, method: str, rows: list[Row]) -> list[Row]:
        """One total per training variant: peak of the largest job, hours summed."""
        mine = [row for row in rows if row.model == alias and row.method == method and not row.component.startswith("total")]
        variants = sorted({row.component.split("(")[-1].rstrip(")") for row in mine if row.component.startswith("train ")})
        out = []
        for variant in variants or [None]:
            chosen = [row for row in mine if not row.component.startswith("train ") or row.component.endswith(f"({variant})")]
            peak = max(chosen, key=lambda row: row.peak_gb)
            out.append(Row(alias, method, f"total ({variant})" if variant else "total", peak.params_b, peak.weights_gb,
                           peak.optimizer_gb, peak.activations_gb, sum(row.gpu_hours for row in chosen)))
        return out

    def shared_rows(self) -> list[Row]:
        """Jobs outside the models x methods grid: scoring the mixture, the judge, the Jigsaw variant."""
        config, rows = self.config, []
        mixture = config["data"]["mixture"]["n_per_domain"] * 2
        if self.scorer:
            w, o, a, s = self.score_texts(mixture, SCORED_TRAIN_TOKENS)
            rows.append(Row("-", "(data)", f"score_mixture ({config['scorer']['hub_id']} in fp32)",
                            param_count(self.scorer) / 1e9, w / GB, o / GB, a / GB, s / 3600))
        winrate = config["evaluation"].get("winrate") or {}
        judge = winrate.get("judge")
        if judge:
            spec = (config.get("judges") or {}).get(judge) or config["models"][judge]
            arch = ARCHITECTURES[spec["hub_id"]]
            methods = winrate.get("methods") or list(config["methods"])
            pairs = len(methods) * (len(methods) - 1) // 2 * len(config["models"]) * len(config["seeds"])
            prompts = winrate.get("n_prompts") or SAFENLP_PROMPTS
            w, o, a, s = self.forward(arch, pairs * prompts * 2 * JUDGE_TOKENS, winrate.get("batch_size", 8), JUDGE_TOKENS,
                                      last_logits_only=True)
            rows.append(Row("-", "(win rate)", f"judge_pair x {pairs} ({judge} in bf16; both orders)",
                            param_count(arch) / 1e9, w / GB, o / GB, a / GB, s / 3600))
            controls = 3 * winrate.get("n_controls", 30)  # three corruptions per held-out text, both orders
            w, o, a, s = self.forward(arch, controls * 2 * JUDGE_TOKENS, winrate.get("batch_size", 8), JUDGE_TOKENS,
                                      last_logits_only=True)
            rows.append(Row("-", "(win rate)", f"judge_controls: {controls} control pairs ({judge} in bf16; both orders)",
                            param_count(arch) / 1e9, w / GB, o / GB, a / GB, s / 3600))
        return rows

    def jigsaw_rows(self, alias: str, hub_id: str) -> list[Row]:
        jigsaw = self.config.get("jigsaw") or {}
        if not jigsaw.get("enabled"):
            return []
        arch, rows = ARCHITECTURES[hub_id], []
        P = param_count(arch)
        tox = self.config["evaluation"]["toxicity"]
        n_test = jigsaw.get("n_test") or 10000
        for jmethod, entry in jigsaw["methods"].items():
            kind, method = entry.get("type", jmethod), f"jigsaw/{jmethod}"
            parts = []
            if kind in ("sft", "sft_cls", "regularized"):
                training = self.fine_tune(arch, self.training.get("lora"), entry if kind == "regularized" else None,
                                          vocab_logits=kind != "sft_cls")  # sft_cls: a 2-class head, no vocabulary logits
                parts.append(("jigsaw_train", training))
            parts.append(("jigsaw_generate", self.generate(arch, (tox.get("n_prompts") or SAFENLP_PROMPTS), tox["max_new_tokens"],
                                                           tox["batch_size"])))
            parts.append(("jigsaw_auc", self.forward(arch, n_test * JIGSAW_COMMENT_TOKENS,
                                                     self.config["evaluation"]["benchmarks"].get("batch_size", 16),
                                                     self.training["max_length"])))
            for component, (w, o, a, s) in parts:
                rows.append(Row(alias, method, component, P / 1e9, w / GB, o / GB, a / GB, s / 3600))
            rows.extend(self.total(alias, method, rows))
        return rows


NADO_DEFAULTS = {"layers": 2, "width": 256, "heads": 4, "n_prompts": 256, "samples_per_prompt": 2, "max_new_tokens": 24,
                 "sample_batch_size": 32, "epochs": 3, "batch_size": 16}  # nado/settings.py


def nado_rounds(entry: dict) -> int:
    """NADOs a regularized run trains: K sequentially; K - 1 in parallel (NADO_K is never used)."""
    iterations = entry.get("iterations", 3)
    return max(1, iterations - 1) if entry.get("schedule", "parallel") == "parallel" else iterations


def _nado_shape(entry: dict) -> dict:
    settings = {**NADO_DEFAULTS, **entry.get("nado", {})}
    return {"layers": settings["layers"], "width": settings["width"]}


def estimate(config: dict, gpu: GPU) -> list[Row]:
    estimator = Estimator(config, gpu)
    unknown = sorted({spec["hub_id"] for spec in config["models"].values() if spec.get("hub_id") not in ARCHITECTURES})
    if unknown:
        raise SystemExit(f"no architecture known for {unknown}: add its config.json shapes to ARCHITECTURES")
    rows = []
    for alias, spec in config["models"].items():
        rows += estimator.rows(alias, spec["hub_id"])
    for alias, spec in config["models"].items():
        rows += estimator.jigsaw_rows(alias, spec["hub_id"])
    return rows + estimator.shared_rows()


def markdown(rows: list[Row], gpu: GPU) -> str:
    """The README table: per model and method, the configured variant's total (and LoRA's)."""
    lines = [f"| model | method | peak GPU memory, GB | GPU-hours ({gpu.name}) | with LoRA: peak GB / GPU-hours |",
             "|---|---|---:|---:|---:|"]
    totals = [row for row in rows if row.component.startswith("total")]
    for row in totals:
        if "LoRA" in row.component:
            continue
        lora = next((other for other in totals if other.model == row.model and other.method == row.method
                     and "LoRA" in other.component), None)
        alt = f"{lora.peak_gb:.0f} / {lora.gpu_hours:.2f}" if lora else "-"
        lines.append(f"| {row.model} | {row.method} | {row.peak_gb:.0f} | {row.gpu_hours:.2f} | {alt} |")
    for row in rows:
        if row.model == "-":
            lines.append(f"| - | {row.method}: {row.component} | {row.peak_gb:.0f} | {row.gpu_hours:.2f} | - |")
    configured = [row for row in totals if "LoRA" not in row.component] + [row for row in rows if row.model == "-"]
    lines.append(f"| all | every job above (one seed) | {max(row.peak_gb for row in configured):.0f} | "
                 f"{sum(row.gpu_hours for row in configured):.1f} | - |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "config" / "paper.yaml"))
    parser.add_argument("--gpu", choices=sorted(GPUS), default="a100")
    parser.add_argument("--out", default=str(REPO / "docs" / "paper_scale_estimates.csv"))
    parser.add_argument("--markdown", action="store_true", help="also print the README table")
    args = parser.parse_args(argv)
    from snakemake.utils import validate

    with open(args.config) as handle:
        config = yaml.safe_load(handle)
    validate(config, str(REPO / "schemas" / "config.schema.yaml"))  # defaults filled as the workflow fills them
    gpu = GPUS[args.gpu]
    rows = estimate(config, gpu)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0].as_dict()))
        writer.writeheader()
        writer.writerows(row.as_dict() for row in rows)
    print(f"{out}: {len(rows)} rows ({gpu.name}, {MFU:.0%} of peak FLOP/s, {BANDWIDTH_EFFICIENCY:.0%} of HBM bandwidth)")
    if args.markdown:
        print(markdown(rows, gpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
