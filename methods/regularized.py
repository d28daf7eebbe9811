"""``regularized``: the paper's KL-regularized fine-tuning (METHOD.md section 3).

Meng et al. (Findings of EMNLP 2024) fine-tune on the training corpus with

    L(theta) = LM_loss(theta) + lambda * mean_t KL(q_t || p_theta,t),
    q_t = softmax(stopgrad(log p_theta,t) + logsigmoid(c_t)),

where ``c_t`` comes from a NADO auxiliary model (nado/): q is the closest
distribution to the current model that satisfies the constraint. Training runs in
K iterations; each samples from the LM, labels the samples, trains a NADO and
fine-tunes (``iterations`` x ``max_steps / iterations`` steps, so the fine-tuning
budget equals ``sft``'s):

- ``sequential``: NADO_i is trained on samples of LLM_{i-1}, then LLM_i is fine-tuned
  with NADO_i.
- ``parallel`` (the paper's default): LLM_i is fine-tuned with NADO_{i-1} while NADO_i
  trains on samples of LLM_{i-1}; only iteration 1 waits for its NADO. On one device
  the NADO's steps are interleaved with the fine-tuning steps; on a second GPU of the
  job (``parallel_device: cuda:1``: the train job then asks for two) the NADO trains
  there in a background thread while the LM fine-tunes. NADO_K would never be used, so
  it is not trained.

Choices of ours (the paper does not give them): lambda = ``kl_weight`` (default 1.0),
K = 3, NADO reads the current model's (detached) last hidden states, and the KL is
averaged over every position that predicts a token.

``regularized_adaptive`` (the paper's "w/ adaptive"): the weight depends on the
example's domain, ``kl_weight`` on the toxicity-related part and
``kl_weight_general`` (default 0) on the general part. The paper only says "a
domain-specific regularizer on related parts of the training data"; this per-domain
weight is our reading of it.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from pathlib import Path

from methods._registry import MethodConfig, register_method
from methods.sft import SFT
from nado.settings import NADOSettings

SCHEDULES = ("parallel", "sequential")


@dataclasses.dataclass
class RegularizedConfig(MethodConfig):
    kl_weight: float = 1.0  # lambda, on every example (ours: 1.0)
    kl_weight_general: float | None = None  # weight on general-domain rows; None = kl_weight
    iterations: int = 3  # K: sample -> label -> NADO -> fine-tune rounds (ours: 3)
    schedule: str = "parallel"  # parallel (the paper's) | sequential
    parallel_device: str | None = "auto"  # parallel schedule: device that trains the next NADO in a
    # background thread while the LM fine-tunes. "cuda:1": the job's second GPU (a one-process train job
    # then asks for 2); "auto": the job's second GPU if it was given one, else like null: NADO steps
    # interleaved with the fine-tuning steps on the same device
    nado: dict = dataclasses.field(default_factory=dict)  # NADOSettings options (nado/settings.py)

    def __post_init__(self):
        where = self.where
        self.settings = NADOSettings.from_dict(self.nado, where=f"{where}.nado")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"{where}.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.iterations < 1:
            raise ValueError(f"{where}.iterations must be >= 1, got {self.iterations}")
        if self.kl_weight < 0 or (self.kl_weight_general or 0) < 0:
            raise ValueError(f"{where}: KL weights must be >= 0")


def _cuda_index(device) -> int | None:
    """N of a ``"cuda:N"`` device string (``parallel_device``), else None."""
    match = re.fullmatch(r"cuda:(\d+)", str(device))
    return int(match.group(1)) if match else None


@register_method("regularized")
class Regularized(SFT):
    config_class = RegularizedConfig

    def __init__(self, config):
        super().__init__(config)
        self.active_nado = None  # the NADO whose c_t enters the KL term
        self.iteration_records: list[dict] = []
        self.iteration_seconds: list[dict] = []  # where the NADO side's time went, per iteration

    def check_training(self, training, where: str | None = None) -> None:
        """Each of the K iterations needs an optimizer step of its own: with more iterations
        than ``max_steps`` the iteration boundaries would repeat."""
        if self.config.iterations > training.max_steps:
            raise ValueError(
                f"{where or self.config.where}: iterations ({self.config.iterations}) is larger than "
                f"max_steps ({training.max_steps}): each iteration needs a fine-tuning step of its own; lower "
                f"iterations or raise max_steps (training.max_steps, or the entry's own training: {{max_steps: N}})")

    def example_weights(self, domain):
        """The KL weight of each example in a batch (``domain``: 0 general, 1 toxicity)."""
        general = self.config.kl_weight if self.config.kl_weight_general is None else self.config.kl_weight_general
        return domain.float() * self.config.kl_weight + (1 - domain.float()) * general

    def compute_loss(self, model, batch):
        """``LM_loss + sum_(b,t) w_b KL_bt / n``: n counts every position that predicts a trained token.

        The KL (and the NADO's vocabulary-sized head) is evaluated only where it counts:
        positions that predict a trained token, in rows whose weight is not zero (the
        adaptive regularizer's general rows cost nothing). The logged ``kl`` is the mean
        KL over those positions; a batch with none logs no ``kl``.
        """
        import torch

        from nado.math import guided_kl

        guided = self.active_nado is not None
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"],
                    output_hidden_states=guided)
        logs = {"lm_loss": out.loss.detach()}
        if not guided:
            return out.loss, logs
        predicts = torch.zeros_like(batch["labels"], dtype=torch.bool)
        predicts[:, :-1] = batch["labels"][:, 1:] != -100  # positions whose next token is trained on
        weights = self.example_weights(batch["domain"]).to(out.logits.device)
        covered = predicts & (weights > 0)[:, None]
        if not covered.any():
            return out.loss, logs
        rows = covered.any(dim=1)
        with torch.no_grad():
            c, _ = self.active_nado(out.hidden_states[-1][rows].detach(), attention_mask=batch["attention_mask"][rows],
                                    positions=covered[rows])
        kl = guided_kl(out.logits[covered], c)  # [N], the covered positions in row-major order
        position_weights = weights[:, None].expand_as(covered)[covered]
        regularizer = (position_weights * kl).sum() / predicts.sum()
        logs["kl"] = kl.detach().mean()
        return out.loss + regularizer, logs

    def training_callbacks(self, context) -> list:
        return [_IterationSchedule(self, context)]

    def training_gpus(self, num_processes: int) -> int:
        """A one-process job whose parallel schedule trains the NADO on the job's ``cuda:N``
        asks for N + 1 GPUs; ``auto`` asks for none beyond the model's."""
        index = _cuda_index(self.config.parallel_device)
        if num_processes == 1 and self.config.schedule == "parallel" and index is not None:
            return max(1, index + 1)
        return num_processes

    def training_summary(self) -> dict:
        return {"iterations": self.iteration_records, "schedule": self.config.schedule,
                "iteration_seconds": self.iteration_seconds}


@dataclasses.dataclass
class RegularizedAdaptiveConfig(RegularizedConfig):
    kl_weight_general: float | None = 0.0  # the general part is not regularized (ours: 0)


@register_method("regularized_adaptive")
class RegularizedAdaptive(Regularized):
    """The adaptive regularizer: per-domain KL weights (``example_weights``)."""

    config_class = RegularizedAdaptiveConfig


def _make_schedule_class():
    """The callback class; built on first use so that importing this module needs no transformers."""
    from transformers import TrainerCallback

    class IterationSchedule(TrainerCallback):
        """Runs the sample -> label -> NADO part of each iteration between optimizer steps.

        Its state (the NADO in use, and one being trained in parallel) is saved with
        every Trainer checkpoint, so a resumed run continues the same schedule.
        """

        def __init__(self, method: Regularized, context):
            self.method, self.context = method, context
            self.settings = method.config.settings
            total, k = context.config.max_steps, method.config.iterations
            self.boundaries = [round(i * total / k) for i in range(k + 1)]
            self.pending = None  # NADOTrainer of the next NADO (parallel schedule)
            self.pending_iteration = None
            self.steps_per_update = 1
            self.worker = None  # background thread training `pending` on `nado_device`
            self.nado_device = self._pick_nado_device(method.config.parallel_device)
            self.scorer = None  # the oracle that labels samples, built on first use

        @staticmethod
        def _pick_nado_device(requested):
            """The device of a NADO trained in a background thread; None: interleaved steps.

            A job sees only the GPUs it was given (modeling/gpus.py), so ``auto`` takes a
            second GPU only when the job asked for one; a process of a multi-GPU launch owns
            one GPU (``cuda:LOCAL_RANK``), never a second."""
            from modeling.gpus import process_gpus

            if requested == "auto":
                return "cuda:1" if process_gpus() > 1 else None
            index = _cuda_index(requested)
            if index is not None and index >= process_gpus():
                raise ValueError(
                    f"parallel_device {requested!r} needs {index + 1} GPUs of this training process's "
                    f"own; it has {process_gpus()}. A one-process train job asks for them (Regularized.training_gpus) "
                    f"unless a profile sets the train rule's gpu resource; with training.num_processes > 1 each "
                    f"process owns one GPU: use auto or null")
            return requested

        # ---------------------------------------------------------------- events
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            if state.global_step > 0 and self._restore(Path(args.output_dir) / f"checkpoint-{state.global_step}"):
                return
            self.method.active_nado = self._train_fully(model, iteration=1, step=state.global_step)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            step = state.global_step
            if self.pending is not None and self.worker is None:
                for _ in range(self.steps_per_update):
                    if not self.pending.done:
                        self.pending.step()
            if step in self.boundaries[1:-1]:
                iteration = self.boundaries.index(step) + 1  # the iteration that starts now
                if self.method.config.schedule == "sequential":
                    self.method.active_nado = self._train_fully(model, iteration, step)
                    return
                if self.pending is not None:
                    self._finish_pending()
                    self.method.active_nado = self.pending.nado.to(next(model.parameters()).device).eval()
                    self._record(self.pending_iteration, step, self.pending)
                    self.pending = None
                if iteration < self.method.config.iterations:
                    self.pending = self._start(model, iteration, step, device=self.nado_device)
                    self.pending_iteration = iteration
                    steps = self.boundaries[iteration] - self.boundaries[iteration - 1]
                    self.steps_per_update = math.ceil(self.pending.total_steps / max(1, steps))
                    self._launch_worker()

        def on_save(self, args, state, control, **kwargs):
            self._finish_pending(wait_only=True)  # a consistent snapshot of a NADO training in a thread
            self._save(Path(args.output_dir) / f"checkpoint-{state.global_step}" / "regularized")
            self._launch_worker()

        def _launch_worker(self):
            import threading

            if self.nado_device is None or self.pending is None or self.pending.done or self.worker is not None:
                return

            def run(trainer=self.pending):
                while not trainer.done and not getattr(trainer, "pause", False):
                    trainer.step()

            self.pending.pause = False
            self.worker = threading.Thread(target=run, name="nado-parallel", daemon=True)
            self.worker.start()

        def _finish_pending(self, wait_only: bool = False):
            """Stop the background thread (``wait_only``: pause it) or finish the steps left."""
            if self.worker is not None:
                if wait_only:
                    self.pending.pause = True
                self.worker.join()
                self.worker = None
            if not wait_only and self.pending is not None:
                while not self.pending.done:
                    self.pending.step()

        # ---------------------------------------------------------------- NADO work
        def _start(self, model, iteration: int, step: int, device=None):
            """Sample the current model, label, and set up a NADO trainer (cache built now).

            ``device``: where the NADO trains (default: the model's)."""
            import torch

            from evaluation.toxicity import build_scorer
            from nado.model import build_nado
            from nado.sampling import label_samples, nado_prompts, sample_continuations
            from nado.train import BaseOutputCache, NADOTrainer, build_examples
            from corpora.jsonl import read_jsonl

            ctx, settings = self.context, self.settings
            seed = ctx.seed * 1000 + iteration
            clock = [time.perf_counter()]

            def lap():
                clock.append(time.perf_counter())
                return round(clock[-1] - clock[-2], 2)

            folder = ctx.state_dir / f"nado_iter{iteration}"
            folder.mkdir(parents=True, exist_ok=True)
            samples = folder / "samples.unlabelled.jsonl"
            was_training = model.training
            model.eval()
            hidden = {}  # the sampler's hidden states, reused by the cache (none for samples of an earlier run)
            if not samples.exists():
                prompts = nado_prompts(ctx.rows, settings.n_prompts, seed, settings.prompt_max_words, settings.prompt_domains)
                print(f"iteration {iteration} (step {step}): sampling {len(prompts)} x {settings.samples_per_prompt}", flush=True)
                sample_continuations(model, ctx.tokenizer, prompts, settings, seed, samples, progress=False, hidden_out=hidden)
            seconds = {"sampling_s": lap()}
            if self.scorer is None:
                self.scorer = build_scorer(ctx.scorer)
            rows = label_samples(read_jsonl(samples), self.scorer, settings.label_threshold)
            seconds["labelling_s"] = lap()
            model_device = next(model.parameters()).device
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                nado = build_nado(model.config, settings).to(device or model_device)
            examples = build_examples(ctx.tokenizer, rows)
            cache = BaseOutputCache(model, examples, ctx.tokenizer.pad_token_id, settings.batch_size, known_hidden=hidden)
            trainer = NADOTrainer(nado, model, examples, settings, seed, ctx.tokenizer.pad_token_id,
                                  cache=cache.to(device or model_device))
            trainer.mean_label = sum(row["label"] for row in rows) / len(rows)
            trainer.setup_seconds = {**seconds, "cache_s": lap()}
            model.train(was_training)
            return trainer

        def _train_fully(self, model, iteration: int, step: int):
            trainer = self._start(model, iteration, step)
            trainer.fit(progress=False)
            self._record(iteration, step, trainer)
            return trainer.nado.eval()

        def _record(self, iteration, step, trainer):
            record = {"nado_iteration": iteration, "active_from_step": step, "mean_label": trainer.mean_label,
                      "nado_steps": trainer.step_index, **{f"nado_{k}": v for k, v in trainer.history[-1].items() if k != "step"}}
            # wall time of this process on the NADO side (a resumed run counts only its own part)
            seconds = {"nado_iteration": iteration, **getattr(trainer, "setup_seconds", {}),
                       "nado_training_s": round(trainer.seconds, 2)}
            self.method.iteration_records.append(record)
            self.method.iteration_seconds.append(seconds)
            print(json.dumps({**record, **seconds}), flush=True)

        # ---------------------------------------------------------------- checkpoints
        def _save(self, folder: Path):
            import torch

            from nado.model import save_nado

            folder.mkdir(parents=True, exist_ok=True)
            if self.method.active_nado is not None:
                save_nado(self.method.active_nado, folder / "active")
            if self.pending is not None:
                save_nado(self.pending.nado, folder / "pending")
                torch.save({
                    "iteration": self.pending_iteration, "steps_per_update": self.steps_per_update,
                    "examples": self.pending.examples, "hidden": self.pending.cache.hidden,
                    "head": self.pending.cache.head.state_dict(), "autocast_dtype": self.pending.cache.autocast_dtype,
                    "optimizer": self.pending.optimizer.state_dict(),
                    "step_index": self.pending.step_index, "history": self.pending.history,
                    "mean_label": self.pending.mean_label,
                }, folder / "pending_state.pt")
            (folder / "records.json").write_text(json.dumps(self.method.iteration_records, indent=2))

        def _restore(self, checkpoint: Path) -> bool:
            import copy

            import torch

            from nado.model import load_nado
            from nado.train import BaseOutputCache, NADOTrainer

            folder = checkpoint / "regularized"
            if not (folder / "records.json").exists():
                return False
            device = next(self.context.model.parameters()).device
            self.method.iteration_records = json.loads((folder / "records.json").read_text())
            if (folder / "active").exists():
                self.method.active_nado = load_nado(folder / "active", device=device)
            if (folder / "pending_state.pt").exists():
                state = torch.load(folder / "pending_state.pt", map_location="cpu", weights_only=False)
                head = copy.deepcopy(self.context.model.get_output_embeddings())
                head.load_state_dict(state["head"])
                cache = BaseOutputCache.restored(head, state["hidden"], self.nado_device or device,
                                                 autocast_dtype=state.get("autocast_dtype"))
                nado = load_nado(folder / "pending", device=self.nado_device or device).train()
                trainer = NADOTrainer(nado, None, state["examples"], self.settings, self.context.seed * 1000 + state["iteration"],
                                      self.context.tokenizer.pad_token_id, cache=cache)
                trainer.optimizer.load_state_dict(state["optimizer"])
                trainer.step_index, trainer.history, trainer.mean_label = state["step_index"], state["history"], state["mean_label"]
                self.pending, self.pending_iteration = trainer, state["iteration"]
                self.steps_per_update = state["steps_per_update"]
                self._launch_worker()
            print(f"restored the regularization schedule from {folder}", flush=True)
            return True

    return IterationSchedule


def _IterationSchedule(method, context):  # noqa: N802 - stands in for the lazily built class
    return _make_schedule_class()(method, context)
