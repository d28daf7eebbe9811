"""scripts/estimate_paper_cost.py: arithmetic checked against hand-computed values."""
import csv
from pathlib import Path

import yaml
from snakemake.utils import validate

from scripts.estimate_paper_cost import (
    ARCHITECTURES, GB, GPUS, MFU, estimate, lora_param_count, main, nado_param_count, param_count,
)

REPO = Path(__file__).resolve().parent.parent
LLAMA = ARCHITECTURES["huggyllama/llama-7b"]


def paper_rows():
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    validate(config, str(REPO / "schemas" / "config.schema.yaml"))
    return estimate(config, GPUS["a100"])


def test_parameter_counts_equal_the_published_totals():
    assert param_count(LLAMA) == 6_738_415_616  # huggyllama/llama-7b
    assert param_count(ARCHITECTURES["tiiuae/falcon-7b"]) == 6_921_720_704
    assert param_count(ARCHITECTURES["facebook/opt-30b"]) == 29_974_540_288
    assert param_count(ARCHITECTURES["tomh/toxigen_roberta"]) == 355_361_794  # RoBERTa-large + 2-class head
    assert lora_param_count(LLAMA, 16, ("q_proj", "v_proj")) == 32 * 2 * 16 * (4096 + 4096)
    # nado/model.py at the paper config's 8 layers x 1024 over Llama-7B's 4096-wide states, 32,000-token head
    assert nado_param_count(LLAMA, 8, 1024) == (4096 * 1024 + 1024) + (1024 + 8 * (4 * 1024**2 + 6 * 1024**2 + 2 * 1024) + 1024) + (1024 * 32000 + 32000)


def test_llama_7b_in_bf16_and_full_fine_tuning_in_bf16_mixed():
    rows = {(row.model, row.method, row.component): row for row in paper_rows()}
    generate = rows["llama-7b", "base", "generate_toxicity"]
    assert generate.weights_gb == 6_738_415_616 * 2 / GB  # evaluation in bf16: 13.48 GB
    assert generate.optimizer_gb == 0
    train = rows["llama-7b", "sft", "train (full fine-tuning)"]  # config/paper.yaml: precision bf16_mixed
    assert train.weights_gb == 6_738_415_616 * 4 / GB  # fp32 master weights
    assert train.optimizer_gb == 6_738_415_616 * (4 + 2 * 4) / GB  # fp32 gradients + two fp32 AdamW states
    # 1000 steps x 8 sequences x 4 accumulated x 256 tokens, 8 P FLOPs per token (checkpointing), bf16 on an A100 at 40%
    assert train.gpu_hours == 8 * 6_738_415_616 * 1000 * 8 * 4 * 256 / (312e12 * MFU) / 3600
    # the LoRA alternative in bf16 (the sensible choice for LoRA): bf16 base, fp32 adapters
    lora = rows["llama-7b", "sft", "train (LoRA r=16 q_proj+v_proj)"]
    adapters = 32 * 2 * 16 * (4096 + 4096)
    assert (lora.weights_gb, lora.optimizer_gb) == ((6_738_415_616 * 2 + adapters * 4) / GB, adapters * (4 + 8) / GB)
    # rl's phase 2: the policy as sft's plus a bf16 reference model; none under LoRA
    assert rows["llama-7b", "rl", "train phase 2: RLOO (full fine-tuning)"].weights_gb == 6_738_415_616 * (4 + 2) / GB
    assert rows["llama-7b", "rl", "train phase 2: RLOO (LoRA r=16 q_proj+v_proj)"].weights_gb == lora.weights_gb


def test_pure_bf16_holds_8_bytes_per_parameter():
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    config["training"]["precision"] = "bf16"
    validate(config, str(REPO / "schemas" / "config.schema.yaml"))
    rows = {(row.model, row.method, row.component): row for row in estimate(config, GPUS["a100"])}
    train = rows["llama-7b", "sft", "train (full fine-tuning)"]
    assert (train.weights_gb, train.optimizer_gb) == (6_738_415_616 * 2 / GB, 6_738_415_616 * (2 + 2 * 2) / GB)
    assert train.gpu_hours == 8 * 6_738_415_616 * 1000 * 8 * 4 * 256 / (312e12 * MFU) / 3600  # same bf16 matmuls


def test_every_row_is_arithmetic_and_the_csv_has_the_documented_columns(tmp_path):
    out = tmp_path / "estimates.csv"
    assert main(["--out", str(out)]) == 0
    with open(out) as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["model", "method", "component", "params_b", "weights_gb", "optimizer_gb",
                                 "activations_gb", "peak_gb", "gpu_hours", "source"]
    assert {row["source"] for row in rows} == {"arithmetic"}
    methods = {row["method"] for row in rows if row["model"] == "llama-7b"}
    assert {"base", "sft", "filtering", "rl", "nado", "regularized", "regularized_adaptive"} <= methods
    assert (REPO / "docs" / "paper_scale_estimates.csv").read_text() == out.read_text(), (
        "docs/paper_scale_estimates.csv is stale: rerun .venv/bin/python scripts/estimate_paper_cost.py")
