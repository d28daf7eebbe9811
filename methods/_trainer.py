"""The one training loop every fine-tuning method shares.

Built on ``transformers.Trainer`` (accelerate underneath): full fine-tuning or LoRA
(peft), fp32 on CPU and bf16 on GPU, gradient accumulation, a progress bar, periodic
checkpoints in a *state folder* and resume from the newest one after an interruption,
and multi-GPU through an accelerate/FSDP/DeepSpeed launch. A method changes the
objective by overriding ``compute_loss(model, batch) -> (loss, logs)``; extra logs
(e.g. the KL term of the regularized method) are averaged into Trainer's log lines.

The final model is saved as a plain Hugging Face folder (LoRA merged), which
``lm_eval --model hf`` and the rest of the workflow load directly.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

DOMAINS = {"general": 0, "toxicity": 1}  # domain ids carried in every batch (adaptive regularizer)


@dataclasses.dataclass
class TrainingConfig:
    """Hyperparameters of a fine-tuning run (``training:`` in the config)."""

    max_steps: int = 60  # optimizer steps
    learning_rate: float = 5e-5
    optim: str = "adamw_torch"  # any transformers optimizer name (adamw_torch, sgd, adafactor, ...)
    batch_size: int = 8  # sequences per device per micro-batch
    gradient_accumulation_steps: int = 1
    max_length: int = 64  # tokens per training sequence (truncated)
    lr_scheduler: str = "constant_with_warmup"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    save_steps: int = 20  # checkpoint every N steps into the state folder (resume point)
    save_total_limit: int = 2
    logging_steps: int = 5
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16
    gradient_checkpointing: bool = False
    lora: dict | None = None  # e.g. {r: 16, alpha: 32, dropout: 0.05, target_modules: [q_proj, v_proj]}
    fsdp: str = ""  # Trainer's fsdp option, e.g. "full_shard auto_wrap" (multi-GPU launches)
    deepspeed: str | None = None  # path to a DeepSpeed JSON config

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainingConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"training: unknown option(s) {unknown}; known options: {sorted(known)}")
        return cls(**data)


def encode_rows(tokenizer, rows: list[dict], max_length: int) -> list[dict]:
    """Tokenise training texts (EOS appended) and keep each row's domain id."""
    encoded = []
    for row in rows:
        ids = tokenizer(row["text"], add_special_tokens=False)["input_ids"][: max_length - 1]
        ids = ids + [tokenizer.eos_token_id]
        encoded.append({"input_ids": ids, "domain": DOMAINS[row.get("domain", "general")]})
    return encoded


def right_pad(sequences: list[list[int]], pad_token_id: int):
    """Token-id lists -> (input_ids, attention_mask) [B, longest], padded on the right."""
    import torch

    width = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, ids in enumerate(sequences):
        input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[i, : len(ids)] = 1
    return input_ids, attention_mask


class CausalCollator:
    """Right-pads a batch; labels are the inputs with padding set to -100."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        input_ids, attention_mask = right_pad([f["input_ids"] for f in features], self.pad_token_id)
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        domain = torch.tensor([f["domain"] for f in features], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels, "domain": domain}


def _method_trainer_class():
    from transformers import Trainer

    class MethodTrainer(Trainer):
        """Trainer whose loss is the method's ``compute_loss`` hook."""

        def __init__(self, *args, method, **kwargs):
            super().__init__(*args, **kwargs)
            self.method = method
            self.loss_is_scaled_for_ga = False  # our losses are batch means: Trainer divides by GA steps
            self._pending_logs: dict[str, list[float]] = {}

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss, logs = self.method.compute_loss(model, inputs)
            for key, value in logs.items():
                self._pending_logs.setdefault(key, []).append(float(value))
            return loss

        def log(self, logs, start_time=None):
            for key, values in self._pending_logs.items():
                logs[key] = sum(values) / len(values)
            self._pending_logs = {}
            super().log(logs, start_time)

    return MethodTrainer


@dataclasses.dataclass
class TrainContext:
    """What a method's training hooks may use besides the batch (see ``Method.training_callbacks``)."""

    model: Any  # the model being trained (peft-wrapped under LoRA)
    tokenizer: Any
    device: str
    seed: int
    rows: list[dict]  # the training rows after ``prepare_data``
    config: TrainingConfig
    state_dir: Path  # Trainer's checkpoints: checkpoint-N/ folders (resume points)
    scorer: dict | None  # the toxicity scorer's config (for methods that label samples)


def last_checkpoint(state_dir: str | os.PathLike) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    state_dir = Path(state_dir)
    return get_last_checkpoint(str(state_dir)) if state_dir.is_dir() else None


def fine_tune(
    method,
    base_path: str,
    rows: list[dict],
    config: TrainingConfig,
    out_dir: str | os.PathLike,
    state_dir: str | os.PathLike,
    seed: int,
    callbacks: list | None = None,
    scorer: dict | None = None,
) -> dict:
    """Fine-tune ``base_path`` on ``rows`` with ``method.compute_loss``; save to ``out_dir``.

    Checkpoints go to ``state_dir`` (kept outside the workflow's declared outputs so a
    failed job's progress survives); a rerun resumes from the newest one. Returns a
    summary (steps, resumed-from, final logs).
    """
    from transformers import AutoModelForCausalLM, set_seed

    from modeling.load import load_tokenizer, pick_dtype, pick_device

    set_seed(seed)
    device = pick_device()
    dtype = pick_dtype(config.precision, device)
    tokenizer = load_tokenizer(base_path, padding_side="right")
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if config.lora:
        model = _wrap_lora(model, config.lora)
    context = TrainContext(model=model, tokenizer=tokenizer, device=device, seed=seed, rows=rows, config=config,
                           state_dir=Path(state_dir), scorer=scorer)
    callbacks = list(callbacks or []) + method.training_callbacks(context)

    train_set = encode_rows(tokenizer, rows, config.max_length)
    args = training_arguments(config, state_dir, seed, dtype, device)
    trainer = _method_trainer_class()(
        model=model, args=args, train_dataset=train_set,
        data_collator=CausalCollator(tokenizer.pad_token_id), method=method,
        callbacks=callbacks,
    )
    resume_from = last_checkpoint(state_dir)
    if resume_from:
        print(f"resuming from {resume_from}", flush=True)
    trainer.train(resume_from_checkpoint=resume_from)

    final = trainer.model
    if config.lora:
        final = final.merge_and_unload()
    out_dir = Path(out_dir)
    tmp_dir = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    final.save_pretrained(tmp_dir)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(tmp_dir)
    summary = {
        "steps": trainer.state.global_step,
        **method.training_summary(),
        "resumed_from": resume_from,
        "n_train_rows": len(rows),
        "log_history": trainer.state.log_history,
    }
    (tmp_dir / "training_log.json").write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp_dir.rename(out_dir)  # the final folder appears only when complete
    return summary


def training_arguments(config: TrainingConfig, state_dir: str | os.PathLike, seed: int, dtype, device: str):
    """``transformers.TrainingArguments`` of a run, shared by every loop built on Trainer
    (``fine_tune`` here, ``sft_cls``'s classifier): checkpoints and resume points in
    ``state_dir``, bf16 when ``dtype`` is bfloat16."""
    import torch
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(state_dir),
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        optim=config.optim,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        bf16=dtype == torch.bfloat16,
        use_cpu=device == "cpu",
        seed=seed,
        data_seed=seed,
        report_to="none",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        fsdp=config.fsdp,
        deepspeed=config.deepspeed,
        disable_tqdm=False,
    )


def _wrap_lora(model, lora: dict, task_type: str = "CAUSAL_LM"):
    from peft import LoraConfig, get_peft_model

    options = dict(lora)
    peft_config = LoraConfig(
        r=options.pop("r", 16),
        lora_alpha=options.pop("alpha", 32),
        lora_dropout=options.pop("dropout", 0.05),
        target_modules=options.pop("target_modules", None),
        task_type=task_type,  # peft: CAUSAL_LM, or SEQ_CLS (also trains the classifier head)
    )
    if options:
        raise ValueError(f"training.lora: unknown option(s) {sorted(options)}; known: r, alpha, dropout, target_modules")
    return get_peft_model(model, peft_config)
