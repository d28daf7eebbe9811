"""The one training loop every fine-tuning method shares.

Built on ``transformers.Trainer`` (accelerate underneath): full fine-tuning or LoRA
(peft), fp32 on CPU and fp32 weights under bf16 autocast on GPU (``training.precision``,
``modeling.load.training_dtypes``), gradient accumulation, a progress bar, periodic
checkpoints in a *state folder* and resume from the newest one after an interruption,
and multi-GPU through an accelerate/FSDP/DeepSpeed launch. A method changes the
objective by overriding ``compute_loss(model, batch) -> (loss, logs)`` (``batch``: ``input_ids``,
``attention_mask``, ``labels``, ``domain`` and every numeric field of the rows, ``row_fields``); extra logs
(e.g. the KL term of the regularized method) are averaged into Trainer's log lines.

The final model is saved as a plain Hugging Face folder (LoRA merged), which
``lm_eval --model hf`` and the rest of the workflow load directly.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
import time
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
    group_by_length: bool = False  # batches of rows of similar length (less padding; transformers' LengthGroupedSampler)
    lr_scheduler: str = "constant_with_warmup"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    save_steps: int = 20  # checkpoint every N steps into the state folder (resume point)
    save_total_limit: int = 2
    logging_steps: int = 5
    precision: str = "auto"  # auto (bf16_mixed on GPU, fp32 on CPU) | fp32 | bf16 (pure) | bf16_mixed (fp32 weights, bf16 autocast)
    gradient_checkpointing: bool = False
    lora: dict | None = None  # e.g. {r: 16, alpha: 32, dropout: 0.05, target_modules: [q_proj, v_proj]}
    # Multi-GPU (a launch through `accelerate launch` or torchrun; config/accelerate/, README "Paper scale"):
    fsdp: bool | str = False  # true: FSDP (transformers' own strings such as "full_shard" still work)
    fsdp_config: dict | str | None = None  # FSDP options, or a JSON file: config/accelerate/fsdp_config.json
    deepspeed: str | dict | None = None  # a DeepSpeed JSON config: config/accelerate/deepspeed_zero3.json
    num_processes: int = 1  # >1: the train job runs one process per GPU through `accelerate launch` (scripts/train.py)
    accelerate_config: str | None = None  # its launch config, e.g. config/accelerate/fsdp.yaml; None: plain --multi_gpu

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "training") -> "TrainingConfig":
        """``where``: the config key the values come from, named in errors (``methods.<entry>.training``
        for an entry's overrides merged over the ``training:`` block)."""
        from methods._registry import check_option_types

        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown option(s) {unknown}; known options: {sorted(known)}")
        check_option_types(cls, data, where)
        return cls(**data)


RESERVED_BATCH_KEYS = ("input_ids", "attention_mask", "labels", "domain")  # what the collator itself builds


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, str)  # bool counts (0/1)


def row_fields(rows: list[dict]) -> list[str]:
    """The numeric fields of training rows that reach ``compute_loss`` as batch entries.

    Every field of a row whose value is a number (or a bool) in some row, e.g. the mixture's
    ``toxicity`` (the scorer's P(toxic)) and ToxiGen's ``label``, or one a method adds in
    ``prepare_data`` (a weight, a reward): ``batch[name]`` is a float32 tensor [B], one
    value per batch row, in the batch's order; a row without the field gives NaN there.
    """
    names = sorted({key for row in rows for key, value in row.items() if _is_number(value)})
    clash = [name for name in names if name in RESERVED_BATCH_KEYS]
    if clash:
        raise ValueError(f"training rows have numeric field(s) {clash}, names the batch already uses "
                         f"({', '.join(RESERVED_BATCH_KEYS)}): rename them in prepare_data")
    return names


def encode_rows(tokenizer, rows: list[dict], max_length: int) -> list[dict]:
    """Tokenise training texts as the model sees text everywhere else, and keep each row's domain id.

    A text starts with what the tokenizer puts before any text (Llama's BOS, which every
    prompt in generation, NADO sampling and lm-eval starts with; Falcon's and SmolLM2's
    tokenizers add nothing) and ends with EOS only if all of it fits in ``max_length``
    tokens. A longer text is cut to ``max_length`` tokens without EOS: an EOS after a cut
    would teach the model to end texts mid-sentence.
    """
    from modeling.load import special_token_ids

    prefix, _ = special_token_ids(tokenizer)  # EOS is ours to add, whatever the tokenizer appends
    fields = row_fields(rows)
    encoded = []
    for row in rows:
        ids = prefix + tokenizer(row["text"], add_special_tokens=False)["input_ids"]
        ids = ids + [tokenizer.eos_token_id] if len(ids) < max_length else ids[:max_length]
        values = {name: float(row[name]) if _is_number(row.get(name)) else float("nan") for name in fields}
        encoded.append({"input_ids": ids, "domain": DOMAINS[row.get("domain", "general")], "fields": values})
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
    """Right-pads a batch; labels are the inputs with padding set to -100. Each row's numeric
    fields (``row_fields``) come along as ``batch[name]``, float32 [B]."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        input_ids, attention_mask = right_pad([f["input_ids"] for f in features], self.pad_token_id)
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        domain = torch.tensor([f["domain"] for f in features], dtype=torch.long)
        fields = {name: torch.tensor([f["fields"][name] for f in features], dtype=torch.float32)
                  for name in features[0].get("fields", {})}
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels, "domain": domain, **fields}


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


# Written into checkpoint-N/ by the last on_save callback of ``fine_tune``, after every other
# callback has saved its part (e.g. the regularized method's schedule state): the folder is whole.
CHECKPOINT_COMPLETE = "checkpoint_complete"


def last_checkpoint(state_dir: str | os.PathLike, complete_marker: str = "trainer_state.json") -> str | None:
    """The newest ``checkpoint-N`` folder of ``state_dir`` that holds ``complete_marker``, or None.

    A job killed while it saves leaves a torn folder (no trainer state, a truncated weights
    file); resuming from it would fail on every rerun ("Can't find a valid checkpoint"), so
    only folders with the file written last count: Trainer writes ``trainer_state.json``
    last, ``fine_tune`` adds ``CHECKPOINT_COMPLETE`` after its callbacks' own state.
    """
    state_dir = Path(state_dir)
    if not state_dir.is_dir():
        return None
    complete = [(int(match.group(1)), path) for path in state_dir.iterdir()
                if (match := re.fullmatch(r"checkpoint-(\d+)", path.name)) and (path / complete_marker).is_file()]
    return str(max(complete)[1]) if complete else None


def _mark_complete_checkpoints():
    """The ``TrainerCallback`` that writes ``CHECKPOINT_COMPLETE``; it must be the last one."""
    from transformers import TrainerCallback

    class MarkCheckpointComplete(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            (Path(args.output_dir) / f"checkpoint-{state.global_step}" / CHECKPOINT_COMPLETE).touch()

    return MarkCheckpointComplete()


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
    summary (steps, resumed-from, tokens per second and peak memory, final logs).
    """
    from transformers import AutoModelForCausalLM, set_seed

    from modeling.load import load_tokenizer, pick_device, training_dtypes

    method.check_training(config)
    set_seed(seed)
    device = pick_device()
    weights_dtype, compute_dtype = training_dtypes(config.precision, device)
    tokenizer = load_tokenizer(base_path, padding_side="right")
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=weights_dtype)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    lora_modules = None
    if config.lora:
        model = _wrap_lora(model, config.lora)
        lora_modules = _lora_modules(model)  # before the final save merges the adapters away
    context = TrainContext(model=model, tokenizer=tokenizer, device=device, seed=seed, rows=rows, config=config,
                           state_dir=Path(state_dir), scorer=scorer)
    meter = throughput_meter()
    callbacks = list(callbacks or []) + method.training_callbacks(context) + [meter, _mark_complete_checkpoints()]

    train_set = encode_rows(tokenizer, rows, config.max_length)
    args = training_arguments(config, state_dir, seed, compute_dtype, device)
    trainer = _method_trainer_class()(
        model=model, args=args, train_dataset=train_set,
        data_collator=CausalCollator(tokenizer.pad_token_id), method=method,
        callbacks=callbacks,
    )
    resume_from = last_checkpoint(state_dir, complete_marker=CHECKPOINT_COMPLETE)
    for torn in Path(state_dir).glob("checkpoint-*"):
        if not (torn / CHECKPOINT_COMPLETE).is_file():  # a save cut short: stale files must not mix into its re-save
            print(f"removing {torn}: its save did not finish", flush=True)
            shutil.rmtree(torn, ignore_errors=True)  # every process of a multi-GPU launch gets here
    if resume_from:
        print(f"resuming from {resume_from}", flush=True)
    trainer.train(resume_from_checkpoint=resume_from)

    out_dir = Path(out_dir)
    tmp_dir = out_dir.with_name(out_dir.name + ".tmp")
    main_process = trainer.args.should_save  # False on the other processes of a multi-GPU launch
    if main_process:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    save_final_model(trainer, config, base_path, tmp_dir)
    tokenizer.padding_side = "left"
    summary = {
        "steps": trainer.state.global_step,
        **method.training_summary(),
        "resumed_from": resume_from,
        "n_train_rows": len(rows),
        "world_size": trainer.args.world_size,  # processes that trained (training.num_processes)
        "precision": config.precision,
        "lora_modules": lora_modules,  # the modules LoRA adapted
        **meter.summary(),
        "log_history": trainer.state.log_history,
    }
    if main_process:
        tokenizer.save_pretrained(tmp_dir)
        (tmp_dir / "training_log.json").write_text(json.dumps(summary, indent=2) + "\n")
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp_dir.rename(out_dir)  # the final folder appears only when complete
    trainer.accelerator.wait_for_everyone()
    return summary


def save_final_model(trainer, config: TrainingConfig, base_path: str, folder: Path) -> None:
    """The trained model as a plain Hugging Face folder, LoRA merged.

    One process: ``save_pretrained`` of the (merged) model. Sharded runs (FSDP, DeepSpeed
    ZeRO-3) hold a shard per process, so every process takes part in ``Trainer.save_model``,
    which gathers the full weights (FSDP ``FULL_STATE_DICT``; DeepSpeed
    ``stage3_gather_16bit_weights_on_model_save``) and writes on the main process only; a LoRA
    run saves its adapter that way and the main process merges it into a fresh copy of the base.
    """
    if not (trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled):
        final = trainer.model.merge_and_unload() if config.lora else trainer.model
        final.save_pretrained(folder)
        return
    if not config.lora:
        trainer.save_model(str(folder))
        return
    adapter = folder.with_name(folder.name + ".adapter")
    trainer.save_model(str(adapter))
    if trainer.args.should_save:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        from modeling.load import pick_device, training_dtypes

        weights_dtype, _ = training_dtypes(config.precision, pick_device())  # the dtype the base was trained in
        base = AutoModelForCausalLM.from_pretrained(base_path, dtype=weights_dtype)
        PeftModel.from_pretrained(base, str(adapter)).merge_and_unload().save_pretrained(folder)
        shutil.rmtree(adapter, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()


def throughput_meter():
    """A ``TrainerCallback`` that measures one ``trainer.train()`` call; ``.summary()`` after it:

    - ``train_tokens``: input tokens trained on in this call (Trainer's ``num_input_tokens_seen``:
      non-padding tokens with ``training_arguments``; prompt plus completion tokens under trl's
      RLOO), summed over processes;
    - ``train_wall_s``: ``on_train_begin`` to ``on_train_end`` (no model loading or saving; a
      method's work between steps, e.g. the regularized method's NADO updates, counts);
    - ``tokens_per_s``: the two divided;
    - ``peak_gpu_mb``: ``torch.cuda.max_memory_allocated`` of this process's device, reset at
      ``on_train_begin``; None off CUDA;
    - ``peak_rss_mb``: the process's peak resident memory so far (it cannot be reset).

    A factory, so that importing this module (the workflow does) never imports transformers.
    """
    from transformers import TrainerCallback

    class ThroughputMeter(TrainerCallback):
        def __init__(self):
            self.measured = {}

        def on_train_begin(self, args, state, control, **kwargs):
            import torch

            self.cuda_device = args.device if args.device.type == "cuda" else None
            if self.cuda_device is not None:
                torch.cuda.synchronize(self.cuda_device)
                torch.cuda.reset_peak_memory_stats(self.cuda_device)
            self.tokens_at_start = state.num_input_tokens_seen
            self.started = time.perf_counter()

        def on_train_end(self, args, state, control, **kwargs):
            import torch

            if self.cuda_device is not None:
                torch.cuda.synchronize(self.cuda_device)
            wall_s = time.perf_counter() - self.started
            tokens = int(state.num_input_tokens_seen - self.tokens_at_start)
            peak_gpu = torch.cuda.max_memory_allocated(self.cuda_device) if self.cuda_device is not None else None
            self.measured = {
                "train_tokens": tokens,
                "train_wall_s": round(wall_s, 3),
                "tokens_per_s": round(tokens / wall_s, 1) if tokens and wall_s > 0 else None,
                "peak_gpu_mb": round(peak_gpu / 2**20, 1) if peak_gpu is not None else None,
                "peak_rss_mb": round(_peak_rss_bytes() / 2**20, 1),
            }

        def summary(self) -> dict:
            return dict(self.measured)

    return ThroughputMeter()


def combine_measurements(summaries: list[dict]) -> dict:
    """``throughput_meter`` figures of one job made of several ``train()`` calls (rl's two
    phases): tokens and wall time add up, peaks are the largest."""
    def total(key):
        values = [s[key] for s in summaries if s.get(key) is not None]
        return sum(values) if values else None

    def peak(key):
        values = [s[key] for s in summaries if s.get(key) is not None]
        return max(values) if values else None

    tokens, wall_s = total("train_tokens"), total("train_wall_s")
    return {
        "train_tokens": tokens,
        "train_wall_s": wall_s,
        "tokens_per_s": round(tokens / wall_s, 1) if tokens and wall_s else None,
        "peak_gpu_mb": peak("peak_gpu_mb"),
        "peak_rss_mb": peak("peak_rss_mb"),
    }


def _peak_rss_bytes() -> int:
    import resource  # POSIX only: imported here, not while the workflow parses

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports kilobytes, macOS bytes


def training_arguments(config: TrainingConfig, state_dir: str | os.PathLike, seed: int, dtype, device: str):
    """``transformers.TrainingArguments`` of a run, shared by every loop built on Trainer
    (``fine_tune`` here, ``sft_cls``'s classifier): checkpoints and resume points in
    ``state_dir``; ``dtype`` is the compute dtype (``training_dtypes``' second): bfloat16
    turns on Trainer's ``bf16`` (bf16 autocast, whatever dtype the weights are in).

    One process trains on one GPU. Not distributed, Trainer counts every GPU the process
    sees (``n_gpu = torch.cuda.device_count()``) and wraps the model in ``nn.DataParallel``
    when there are several (the loss becomes a vector); a job may see a second GPU that
    is not for the model (the regularized method's NADO on ``cuda:1``), so ``n_gpu`` is
    set to 1, as Trainer itself does for a model-parallel model. Several GPUs are used
    through ``training.num_processes`` (one process each)."""
    import torch
    from transformers import TrainingArguments

    args = TrainingArguments(
        output_dir=str(state_dir),
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        optim=config.optim,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
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
        include_num_input_tokens_seen="non_padding",  # trained tokens, for tokens_per_s (throughput_meter)
        dataloader_num_workers=0,
        fsdp=config.fsdp or None,
        fsdp_config=config.fsdp_config,
        deepspeed=config.deepspeed,
        disable_tqdm=False,
    )
    return one_gpu_per_process(args)


def one_gpu_per_process(args):
    """``args`` (``TrainingArguments`` or a subclass, e.g. trl's ``RLOOConfig``) with Trainer's GPU
    count set to 1: see ``training_arguments``. Reading ``n_gpu`` resolves the device first."""
    if args.n_gpu > 1:
        args._n_gpu = 1  # what Trainer itself does for a model-parallel model
    return args


def _lora_modules(model) -> list[str]:
    """Names (last component) of the modules a peft model adapts, e.g. ["q_proj", "v_proj"]
    on Llama, ["query_key_value"] on Falcon."""
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules() if hasattr(module, "lora_A")})


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
