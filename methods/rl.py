"""``rl``: the paper's RL baseline: fine-tuning, then policy-gradient detoxification.

Phase 1 is ``sft`` (the shared loop, ``sft_steps`` steps on the training mixture).
Phase 2 runs RLOO (Ahmadian et al., "Back to Basics: Revisiting REINFORCE-Style
Optimization for Learning from Human Feedback in LLMs", ACL 2024) with trl's
``RLOOTrainer``: each step draws ``prompts_per_step`` prompts from the training
mixture (a row's first sentence, as NADO's prompts), samples ``samples_per_prompt``
continuations from the policy (ancestral: T=1, top_p=1, top_k=0), scores them with
the configured toxicity scorer, and takes a REINFORCE step with a leave-one-out
baseline on the reward

    r(x, y) = 1 - toxicity(y) - kl_beta * sum_t log(pi(y_t | x, y_<t) / pi_ref(y_t | x, y_<t)),

where ``y`` is the continuation only (the prompt is not scored) and ``pi_ref`` is the
post-SFT model (METHOD.md section 4; the paper names the baseline, the details are
ours). The shared ``training:`` options that are not about the SFT data (optimizer,
scheduler, precision, LoRA, gradient checkpointing, FSDP/DeepSpeed, gradient
clipping, weight decay) apply to phase 2 too; its step count, learning rate and
checkpoint interval are its own, below.

State: phase 1's model is ``<state_dir>/sft_model`` (skipped on a rerun once it
exists), its checkpoints ``<state_dir>/sft_state``; phase 2 checkpoints to
``<state_dir>/rl_state`` and resumes from the newest one. The result is a plain
Hugging Face causal-LM folder (LoRA merged) with ``training_log.json`` (reward and KL
per RL step, and phase 1's log).
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from methods._registry import MethodConfig, register_method
from methods.sft import SFT


@dataclasses.dataclass
class RLConfig(MethodConfig):
    sft_steps: int | None = None  # phase-1 fine-tuning steps; None = training.max_steps, sft's budget (ours)
    sft_from: str | None = None  # an `sft` entry of `methods:` whose checkpoint (same mixture, base, seed, training) is phase 1: trained once, not twice (ours)
    rl_steps: int = 100  # phase-2 optimizer steps, one fresh batch of samples each (ours)
    prompts_per_step: int = 8  # training prompts per RL step (ours)
    samples_per_prompt: int = 4  # RLOO's k: continuations per prompt, the leave-one-out group (RLOO paper: k in {2, 4}; we take 4)
    max_new_tokens: int = 32  # continuation length (ours: the evaluation's 32 tokens, Llama 2 ToxiGen protocol)
    kl_beta: float = 0.05  # KL penalty to the post-SFT reference, in the reward (trl RLOOConfig.beta default)
    learning_rate: float = 1.0e-6  # phase-2 learning rate (trl RLOOConfig default)
    temperature: float = 1.0  # sampling temperature; top_p=1, top_k=0: ancestral samples of the policy (trl default)
    prompt_max_words: int = 24  # a prompt is a training row's first sentence, cut to this many words (ours, as NADO's)
    prompt_domains: list = dataclasses.field(default_factory=lambda: ["toxicity", "general"])  # rows prompts come from (ours)
    gradient_accumulation_steps: int = 1  # micro-batches per step (prompts_per_step * samples_per_prompt must divide) (ours)
    warmup_steps: int = 0  # phase-2 learning-rate warmup (ours)
    save_steps: int = 10  # phase-2 checkpoint interval, the resume point (ours)

    def __post_init__(self):
        where = self.where
        for name in ("rl_steps", "prompts_per_step", "max_new_tokens", "prompt_max_words", "gradient_accumulation_steps", "save_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{where}.{name} must be >= 1, got {getattr(self, name)}")
        if self.sft_steps is not None and self.sft_steps < 1:
            raise ValueError(f"{where}.sft_steps must be >= 1 or null (= training.max_steps), got {self.sft_steps}")
        if self.sft_from is not None and not self.sft_from:
            raise ValueError(f"{where}.sft_from must name an `sft` entry of methods: or be null")
        if self.samples_per_prompt < 2:
            raise ValueError(f"{where}.samples_per_prompt must be >= 2: RLOO's baseline is the mean reward of the "
                             f"other samples of the same prompt (got {self.samples_per_prompt})")
        if self.kl_beta < 0 or self.learning_rate <= 0 or self.temperature <= 0 or self.warmup_steps < 0:
            raise ValueError(f"{where}: kl_beta and warmup_steps must be >= 0, learning_rate and temperature > 0")
        if (self.prompts_per_step * self.samples_per_prompt) % self.gradient_accumulation_steps:
            raise ValueError(f"{where}.gradient_accumulation_steps ({self.gradient_accumulation_steps}) must divide "
                             f"prompts_per_step * samples_per_prompt ({self.prompts_per_step * self.samples_per_prompt})")
        unknown = sorted(set(self.prompt_domains) - {"toxicity", "general"})
        if unknown or not self.prompt_domains:
            raise ValueError(f"{where}.prompt_domains must be a non-empty subset of [toxicity, general], got {self.prompt_domains}")


class ToxicityReward:
    """trl reward function: ``1 - toxicity`` of each continuation. trl passes the
    continuation (``completions``) separately from the prompt; only it is scored."""

    __name__ = "one_minus_toxicity"  # trl names its reward logs after the function

    def __init__(self, scorer):
        self.scorer = scorer

    def __call__(self, prompts, completions, **kwargs) -> list[float]:
        return (1.0 - self.scorer.score(list(completions))).tolist()


@register_method("rl")
class RL(SFT):
    config_class = RLConfig

    def make_reward(self, scorer: dict | None):
        """The reward function given to trl (``prompts, completions, **kw -> list[float]``).
        A variant with another reward overrides this hook."""
        from evaluation.toxicity import build_scorer

        return ToxicityReward(build_scorer(scorer))

    def phase1_training(self, config: dict) -> dict:
        """Phase 1's training options from the entry's merged ``training:`` options: what an
        ``sft_from`` entry must have been trained with for its checkpoint to be phase 1."""
        return {**config, "max_steps": self.config.sft_steps or config["max_steps"]}

    def use_phase1(self, model_dir: str, state_dir) -> None:
        """Make ``model_dir`` (the ``sft_from`` entry's trained model) phase 1's model: linked
        where phase 1 would write it, so ``fine_tune`` reuses it as on a rerun."""
        sft_dir = Path(state_dir) / "sft_model"
        sft_dir.parent.mkdir(parents=True, exist_ok=True)
        target = Path(model_dir).resolve()
        if not (target / "training_log.json").is_file():
            raise FileNotFoundError(f"{target}: no trained model (training_log.json) from methods.{self.config.sft_from}")
        if sft_dir.is_symlink() or sft_dir.exists():
            if sft_dir.resolve() == target:
                return
            raise FileExistsError(f"{sft_dir} exists and is not {target}: remove {state_dir} to start this run afresh")
        sft_dir.symlink_to(target, target_is_directory=True)

    def fine_tune(self, base_path, rows, config, out_dir, state_dir, seed, scorer=None, callbacks=None) -> dict:
        """Phase 1 (SFT, skipped when its model exists), then phase 2 (RLOO); ``callbacks``
        go to both phases' Trainers."""
        from methods._trainer import combine_measurements, fine_tune

        state_dir = Path(state_dir)
        sft_dir = state_dir / "sft_model"
        sft_config = dataclasses.replace(config, max_steps=self.config.sft_steps or config.max_steps)
        if sft_dir.is_dir():  # written by rename, so it exists only when complete
            print(f"phase 1 (sft): reusing {sft_dir}", flush=True)
            sft_summary = json.loads((sft_dir / "training_log.json").read_text())
            sft_reused = True
        else:
            print(f"phase 1 (sft): {sft_config.max_steps} steps", flush=True)
            sft_summary = fine_tune(self, base_path, rows, sft_config, sft_dir, state_dir / "sft_state", seed,
                                    callbacks=callbacks, scorer=scorer)
            sft_reused = False
        rl_summary = self._reinforce(sft_dir, rows, config, Path(out_dir), state_dir / "rl_state", seed, scorer,
                                     callbacks, sft_summary)
        # This job's throughput and peak memory: both phases, or phase 2 only when phase 1 was reused.
        measured = combine_measurements([rl_summary] if sft_reused else [sft_summary, rl_summary])
        return {
            "steps": sft_summary["steps"] + rl_summary["rl_steps"],
            "sft_steps": sft_summary["steps"],
            "resumed_from": rl_summary["resumed_from"] or (str(sft_dir) if sft_reused else sft_summary["resumed_from"]),
            "sft_reused": sft_reused,
            "n_train_rows": len(rows),
            **{k: v for k, v in rl_summary.items() if k not in ("resumed_from", "log_history")},
            **measured,
        }

    # ------------------------------------------------------------------ phase 2
    def _reinforce(self, sft_dir: Path, rows, config, out_dir: Path, state_dir: Path, seed, scorer, callbacks, sft_summary):
        from datasets import Dataset
        from transformers import AutoModelForCausalLM, set_seed
        from trl import RLOOTrainer

        from methods._trainer import _wrap_lora, last_checkpoint, throughput_meter
        from modeling.load import load_tokenizer, pick_device, training_dtypes
        from nado.sampling import nado_prompts

        rl = self.config
        set_seed(seed)
        device = pick_device()
        weights_dtype, compute_dtype = training_dtypes(config.precision, device)
        prompts = nado_prompts(rows, rl.rl_steps * rl.prompts_per_step, seed, rl.prompt_max_words, rl.prompt_domains)
        if len(prompts) < rl.prompts_per_step:
            raise ValueError(f"methods.{rl.type}: only {len(prompts)} training rows in domains {rl.prompt_domains} to draw "
                             f"prompts from, fewer than prompts_per_step ({rl.prompts_per_step}): lower prompts_per_step")
        print(f"phase 2 (rl): {rl.rl_steps} RLOO steps x {rl.prompts_per_step} prompts x {rl.samples_per_prompt} samples "
              f"(pool of {len(prompts)} prompts), kl_beta {rl.kl_beta}", flush=True)

        # The reference model is loaded by trl from this same folder: the post-SFT model.
        tokenizer = load_tokenizer(sft_dir, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(str(sft_dir.resolve()), dtype=weights_dtype)
        if config.lora:
            # A PEFT model: trl copies its fresh adapter as the reference ("ref"), i.e. the post-SFT model.
            model = _wrap_lora(model, config.lora)
        meter = throughput_meter()  # tokens here: prompt + completion tokens (trl's num_input_tokens_seen)
        trainer = RLOOTrainer(
            model=model, reward_funcs=self.make_reward(scorer),
            args=self._rloo_args(config, state_dir, seed, weights_dtype, compute_dtype, device),
            train_dataset=Dataset.from_list([{"prompt": p["prompt"]} for p in prompts]),
            processing_class=tokenizer, callbacks=list(callbacks or []) + [meter],
        )
        resume_from = last_checkpoint(state_dir)
        if resume_from:
            print(f"phase 2 (rl): resuming from {resume_from}", flush=True)
        trainer.train(resume_from_checkpoint=resume_from)

        final = trainer.accelerator.unwrap_model(trainer.model)
        if config.lora:
            final = final.merge_and_unload()
        steps = [entry for entry in trainer.state.log_history if "reward" in entry]
        per_step = [{"step": e["step"], "reward": e["reward"], "reward_std": e.get("reward_std"), "kl": e.get("kl"),
                     "loss": e.get("loss"), "completion_length": e.get("completions/mean_length")} for e in steps]
        summary = {
            "rl_steps": trainer.state.global_step,
            "mean_reward_first": steps[0]["reward"] if steps else None,
            "mean_reward_last": steps[-1]["reward"] if steps else None,
            "kl_last": steps[-1].get("kl") if steps else None,
            "resumed_from": resume_from,
            "n_prompts": len(prompts),
            **meter.summary(),
        }
        tmp_dir = out_dir.with_name(out_dir.name + ".tmp")
        shutil.rmtree(tmp_dir, ignore_errors=True)
        final.save_pretrained(tmp_dir)
        tokenizer.padding_side = "left"
        tokenizer.save_pretrained(tmp_dir)
        log = {**summary, "config": dataclasses.asdict(rl), "rl_log": per_step, "sft": sft_summary,
               "log_history": trainer.state.log_history}
        (tmp_dir / "training_log.json").write_text(json.dumps(log, indent=2, default=str) + "\n")
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp_dir.rename(out_dir)  # the final folder appears only when complete
        return summary

    def _rloo_args(self, config, state_dir: Path, seed: int, weights_dtype, compute_dtype, device: str):
        """trl's config. ``compute_dtype`` bf16: autocast (``bf16=True``). Under ``bf16_mixed``
        (fp32 policy) the frozen reference model is loaded in bf16: trl would copy the policy's
        fp32, twice the memory for a model that never updates (trl reads ``model_init_kwargs``
        for the reference only, and warns that they are ignored: they are, for the policy)."""
        import torch
        from trl import RLOOConfig

        from methods._trainer import one_gpu_per_process

        rl = self.config
        bf16_reference = not config.lora and weights_dtype != compute_dtype  # LoRA: trl builds no reference model
        return one_gpu_per_process(RLOOConfig(
            model_init_kwargs={"dtype": "bfloat16"} if bf16_reference else None,
            output_dir=str(state_dir),
            max_steps=rl.rl_steps,
            per_device_train_batch_size=rl.prompts_per_step * rl.samples_per_prompt // rl.gradient_accumulation_steps,
            gradient_accumulation_steps=rl.gradient_accumulation_steps,  # = steps_per_generation: one sampling per step
            num_generations=rl.samples_per_prompt,
            max_completion_length=rl.max_new_tokens,
            temperature=rl.temperature,
            top_p=1.0,
            top_k=0,
            beta=rl.kl_beta,
            num_iterations=1,  # on-policy REINFORCE, as in the RLOO paper (no PPO-style reuse of samples)
            disable_dropout=True,  # policy and reference log-probs must be comparable
            learning_rate=rl.learning_rate,
            warmup_steps=rl.warmup_steps,
            lr_scheduler_type=config.lr_scheduler,
            optim=config.optim,
            weight_decay=config.weight_decay,
            max_grad_norm=config.max_grad_norm,
            activation_checkpointing=config.gradient_checkpointing,  # transformers 5's name for gradient checkpointing
            bf16=compute_dtype == torch.bfloat16,
            use_cpu=device == "cpu",
            save_strategy="steps",
            save_steps=rl.save_steps,
            save_total_limit=config.save_total_limit,
            logging_steps=1,  # reward and KL of every step go to the training log
            seed=seed,
            data_seed=seed,
            report_to="none",
            dataloader_num_workers=0,
            fsdp=config.fsdp or None,
            fsdp_config=config.fsdp_config,
            deepspeed=config.deepspeed,
            disable_tqdm=False,
        ))
