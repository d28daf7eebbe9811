"""Fitting the auxiliary model on labelled samples (METHOD.md section 2).

The base model is frozen. Its last hidden states (NADO's input) are computed once
per sample when the trainer is built and kept on the CPU, with a copy of the base
model's output layer, which turns them into ``log p`` (for the consistency term) per
batch. Epochs then cost only the auxiliary model, and the base model may change
afterwards (the parallel schedule fine-tunes it while this NADO trains) without
changing what this NADO learns from. Checkpoints after every epoch go to a state
folder; a rerun resumes from the last one.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from nado.math import consistency_positions, nado_objective


def build_examples(tokenizer, rows: list[dict]) -> list[dict]:
    """Token ids of prompt + sampled continuation, the prompt length, the label, and the
    row's index in ``rows`` (rows with an empty continuation are left out)."""
    examples = []
    for index, row in enumerate(rows):
        prompt_ids = tokenizer(row["prompt"])["input_ids"]
        continuation = row["continuation_ids"]
        if not continuation:
            continue
        examples.append({"input_ids": prompt_ids + continuation, "prompt_len": len(prompt_ids),
                         "label": float(row["label"]), "row": index})
    return examples


def collate(examples: list[dict], pad_token_id: int, device) -> dict:
    from methods._trainer import right_pad

    input_ids, attention_mask = right_pad([e["input_ids"] for e in examples], pad_token_id)
    continuation_mask = torch.zeros_like(attention_mask)
    for i, e in enumerate(examples):
        continuation_mask[i, e["prompt_len"]:len(e["input_ids"])] = 1
    labels = torch.tensor([e["label"] for e in examples], dtype=torch.float32)
    return {k: v.to(device) for k, v in dict(input_ids=input_ids, attention_mask=attention_mask,
                                              continuation_mask=continuation_mask, labels=labels).items()}


def base_outputs(base_model, batch):
    """Frozen base model: (last hidden states, log p) for every position."""
    with torch.no_grad():
        out = base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    return out.hidden_states[-1], torch.log_softmax(out.logits.float(), dim=-1)


class BaseOutputCache:
    """The frozen base model's last hidden states per example, and its output layer.

    Only positions 0..L-2 of an example of length L are kept: those that predict one of
    its tokens (the last position's state would predict the token after the sample, and
    no loss reads it). ``log p = log_softmax(head(hidden))``.

    ``known_hidden`` (row index -> [L-1, H]) takes states the sampler computed already
    (``sample_continuations(hidden_out=...)``, the same model), so only the examples
    without them cost a forward pass. Either way one example is run through the model
    and checked: its head must reproduce the logits, so an architecture whose last
    hidden state is not the output layer's input fails loudly instead of training on a
    wrong ``p``, and reused states must equal the recomputed ones.

    Mixed precision: the model's forward may run under autocast (Trainer's ``bf16``:
    accelerate wraps the forward of the model being fine-tuned in bf16 autocast and casts
    its outputs to fp32). The copied head then runs under the autocast its original ran
    under in that forward (``autocast_dtype``, recorded by a hook on the output layer), so
    ``log p`` is the model's own, and both checks allow the rounding of the dtype the model
    computed in (``compute_dtype``): fp32 1e-3 relative, bf16 4 units in the last place
    (3%; its rounding alone is 0.4%), always far below what a wrong head or wrong states give.
    """

    def __init__(self, base_model, examples: list[dict], pad_token_id: int, batch_size: int = 16,
                 known_hidden: dict | None = None):
        import copy

        self.device = next(base_model.parameters()).device
        self.head = copy.deepcopy(base_model.get_output_embeddings()).requires_grad_(False)
        self.autocast_dtype = None  # the autocast of the model's forward: set by the checked forward
        known_hidden = known_hidden or {}
        self.hidden: list[torch.Tensor | None] = []
        for example in examples:
            hidden = known_hidden.get(example.get("row"))
            fits = hidden is not None and hidden.shape[0] == len(example["input_ids"]) - 1
            self.hidden.append(hidden.cpu() if fits else None)
        missing = [i for i, hidden in enumerate(self.hidden) if hidden is None]
        for start in range(0, len(missing), batch_size):
            chunk = missing[start:start + batch_size]
            for i, hidden in zip(chunk, self._forward(base_model, [examples[i] for i in chunk], pad_token_id,
                                                      check=start == 0)):
                self.hidden[i] = hidden
        if examples and not missing:  # every state was reused: check them against a forward pass
            (fresh,) = self._forward(base_model, examples[:1], pad_token_id, check=True)
            if not _close(self.hidden[0], fresh, self.compute_dtype):
                raise RuntimeError("the sampler's hidden states differ from the model's forward pass "
                                   f"(max abs diff {(self.hidden[0].float() - fresh.float()).abs().max().item():.3g}, "
                                   f"computed in {self.compute_dtype})")

    @classmethod
    def restored(cls, head, hidden: list[torch.Tensor], device, autocast_dtype=None) -> "BaseOutputCache":
        """A cache rebuilt from its parts (a checkpoint's): ``head`` a copy of the output layer."""
        cache = cls.__new__(cls)
        cache.head, cache.hidden, cache.autocast_dtype = head.requires_grad_(False), hidden, autocast_dtype
        return cache.to(device)

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype the model computed its outputs in: its autocast's, else its weights'."""
        return self.autocast_dtype or self.head.weight.dtype

    def _forward(self, base_model, examples: list[dict], pad_token_id: int, check: bool) -> list[torch.Tensor]:
        batch = collate(examples, pad_token_id, self.device)

        def record_autocast(module, args, output):
            device_type = output.device.type
            enabled = torch.is_autocast_enabled(device_type)
            self.autocast_dtype = torch.get_autocast_dtype(device_type) if enabled else None

        hook = base_model.get_output_embeddings().register_forward_hook(record_autocast) if check else None
        try:
            with torch.no_grad():
                out = base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                 output_hidden_states=True)
        finally:
            if hook is not None:
                hook.remove()
        hidden = out.hidden_states[-1]
        if check:
            self._check(hidden, out.logits, batch["attention_mask"])
        return [row[: len(example["input_ids"]) - 1].cpu() for row, example in zip(hidden, examples)]

    def _check(self, hidden, logits, mask):
        mine = self.logits(hidden)[mask.bool()]
        if not _close(mine, logits[mask.bool()], self.compute_dtype):
            raise RuntimeError("the base model's last hidden state is not its output layer's input "
                               "(hidden_states[-1] -> get_output_embeddings() does not reproduce its logits, "
                               f"computed in {self.compute_dtype})")

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The copied output layer at ``hidden``, computed as the model computed it (its
        forward's autocast, or its weights' dtype); fp32 [..., V]."""
        with torch.no_grad():
            if self.autocast_dtype is None:
                return self.head(hidden.to(self.head.weight.dtype)).float()
            with torch.autocast(torch.device(self.device).type, dtype=self.autocast_dtype):
                return self.head(hidden).float()

    def to(self, device) -> "BaseOutputCache":
        """Serve batches on ``device`` (e.g. a second GPU that trains the NADO)."""
        self.device = device
        self.head = self.head.to(device)
        return self

    def hidden_batch(self, indices: list[int], width: int) -> torch.Tensor:
        """Hidden states [B, width, H] of examples ``indices``, right-padded with zeros."""
        rows = [self.hidden[i] for i in indices]
        hidden = rows[0].new_zeros((len(rows), width, rows[0].shape[-1]))
        for b, row in enumerate(rows):
            hidden[b, : len(row)] = row
        return hidden.to(self.device)

    def log_p(self, hidden: torch.Tensor) -> torch.Tensor:
        """The base model's ``log p`` [..., V] at the given hidden states."""
        return torch.log_softmax(self.logits(hidden), dim=-1)


def _close(mine: torch.Tensor, theirs: torch.Tensor, dtype: torch.dtype) -> bool:
    """``mine`` equals ``theirs`` up to the rounding of a computation in ``dtype``: relative
    tolerance (also on the scale of ``theirs``, for elements near 0) 1e-3 in fp32, 4 units in
    the last place in lower precision (bf16 0.031, fp16 0.0039)."""
    tolerance = max(1e-3, 4 * torch.finfo(dtype).eps)
    theirs = theirs.float()
    return torch.allclose(mine.float(), theirs, rtol=tolerance, atol=tolerance * theirs.abs().max().item())


class NADOTrainer:
    """Steps an auxiliary model through epochs of shuffled batches.

    Usable as a whole (``fit``) or one step at a time (``step``), so that a fine-tuning
    loop can interleave NADO training with its own steps (the parallel schedule).
    """

    def __init__(self, nado, base_model, examples: list[dict], settings, seed: int, pad_token_id: int, cache=None):
        if not examples:
            raise ValueError("no NADO training examples (every sample was empty)")
        self.nado, self.examples, self.settings = nado, examples, settings
        self.pad_token_id, self.seed = pad_token_id, seed
        self.device = next(nado.parameters()).device
        self.cache = cache or BaseOutputCache(base_model, examples, pad_token_id, settings.batch_size)
        self.optimizer = torch.optim.AdamW(nado.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
        self.steps_per_epoch = -(-len(examples) // settings.batch_size)
        self.total_steps = settings.epochs * self.steps_per_epoch
        self.step_index = 0
        self.history: list[dict] = []
        self.seconds = 0.0  # wall time spent in step() by this process

    def _batch_indices(self, step: int) -> list[int]:
        epoch, offset = divmod(step, self.steps_per_epoch)
        order = torch.randperm(len(self.examples), generator=torch.Generator().manual_seed(self.seed * 7919 + epoch)).tolist()
        return order[offset * self.settings.batch_size:(offset + 1) * self.settings.batch_size]

    @property
    def done(self) -> bool:
        return self.step_index >= self.total_steps

    def step(self) -> dict:
        start = time.perf_counter()
        self.nado.train()
        indices = self._batch_indices(self.step_index)
        batch = collate([self.examples[i] for i in indices], self.pad_token_id, self.device)
        losses = self.losses(batch, self.cache.hidden_batch(indices, batch["input_ids"].shape[1]))
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(self.nado.parameters(), self.settings.max_grad_norm)
        self.optimizer.step()
        self.step_index += 1
        record = {"step": self.step_index, **{k: float(v.detach()) for k, v in losses.items()}}
        self.history.append(record)
        self.seconds += time.perf_counter() - start
        return record

    def losses(self, batch: dict, hidden: torch.Tensor) -> dict[str, torch.Tensor]:
        """``nado_losses`` of the batch, with vocabulary-wide work only where it is read.

        The R of each taken token needs one row of the NADO's head per position
        (``token_logits``); the full ``c_t`` and the base model's ``log p_t`` are needed
        only at the consistency positions. Equal to ``nado_losses`` on the dense
        ``c`` and ``log p`` (tests/test_nado_model.py)."""
        ids, mask = batch["input_ids"], batch["continuation_mask"]
        states, _ = self.nado.states(hidden, attention_mask=batch["attention_mask"])
        r_logit = F.pad(self.nado.token_logits(states[:, :-1], ids[:, 1:]).float(), (1, 0))
        pairs = consistency_positions(mask)
        return nado_objective(r_logit, mask, batch["labels"], self.nado.head(states[pairs]).float(),
                              self.cache.log_p(hidden[pairs]), self.settings.consistency_weight,
                              self.settings.consistency_kl)

    def fit(self, state_dir: str | os.PathLike | None = None, progress: bool = True) -> list[dict]:
        from tqdm.auto import tqdm

        if state_dir:
            self.load_state(state_dir)
        with tqdm(total=self.total_steps, initial=self.step_index, desc="training NADO", disable=not progress, mininterval=5) as bar:
            while not self.done:
                record = self.step()
                bar.update(1)
                bar.set_postfix(bce=f"{record['bce']:.4f}", consistency=f"{record['consistency']:.4f}")
                if state_dir and self.step_index % self.steps_per_epoch == 0:
                    self.save_state(state_dir)
        self.nado.eval()
        return self.history

    def save_state(self, state_dir) -> None:
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / "trainer_state.pt.tmp"
        torch.save({"nado": self.nado.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "step_index": self.step_index, "history": self.history}, tmp)
        tmp.replace(state_dir / "trainer_state.pt")

    def load_state(self, state_dir) -> bool:
        file = Path(state_dir) / "trainer_state.pt"
        if not file.exists():
            return False
        state = torch.load(file, map_location=self.device, weights_only=False)
        self.nado.load_state_dict(state["nado"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step_index, self.history = state["step_index"], state["history"]
        print(f"resuming NADO training at step {self.step_index}/{self.total_steps}", flush=True)
        return True


def write_history(history: list[dict], file) -> None:
    Path(file).write_text("\n".join(json.dumps(record) for record in history) + "\n")
