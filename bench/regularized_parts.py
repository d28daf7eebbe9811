"""Where regularized training's time goes, part by part, against an ``sft`` step.

A whole training job's wall time on a shared machine moves by +-10% between runs, as
much as the regularizer's overhead itself. This benchmark times the parts in one
process, interleaved and repeated (median of ``--repeats``), on the same batches:

- ``sft_step``: one fine-tuning step (forward, backward, AdamW) on a mixture batch;
- ``regularized_step``: the same step with the KL term of a NADO (all rows covered);
- ``nado_step``: one step of NADO training on labelled samples;
- ``sampling``: one iteration's samples (``n_prompts`` x ``samples_per_prompt``), with
  the hidden states the NADO cache reuses;

and models a job from them: ``sft = max_steps x sft_step``, the parallel schedule
``= max_steps x regularized_step + (K - 1) x sampling + (K - 1) x nado_steps x nado_step``
(the parallel schedule trains NADO_1 .. NADO_{K-1}). Labelling, checkpoints and
start-up are left out (the same few seconds either way, or shared with sft).

    python -m bench.regularized_parts --model resources/models/smollm2-135m/hf \
        --mixture results/data/train_mixture.jsonl --out results/tables/regularized_parts.csv

Options default to the embedded config (config/config.yaml: training and
methods.regularized). Run it on a quiet machine; ``--profile PART`` prints the torch
profiler's table for one part instead.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from bench import model_name, write_csv
PARTS = ("sft_step", "regularized_step", "nado_step", "sampling")


def _args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a Hugging Face model folder")
    parser.add_argument("--mixture", required=True, help="the training mixture (JSONL with text and domain)")
    parser.add_argument("--out", help="CSV file to write")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--max-steps", type=int, default=60)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--nado", default='{"n_prompts": 48, "samples_per_prompt": 2, "max_new_tokens": 16, '
                        '"prompt_domains": ["toxicity"], "epochs": 2, "sample_batch_size": 96}',
                        help="NADO settings (JSON), as in the config's nado: entry")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", choices=PARTS, help="print the torch profiler table of one part and exit")
    return parser.parse_args(argv)


class Parts:
    """The four parts, each a zero-argument callable on fixed inputs."""

    def __init__(self, args):
        from methods._trainer import CausalCollator, encode_rows
        from methods.regularized import Regularized, RegularizedConfig
        from modeling.load import load_causal_lm, load_tokenizer
        from nado.model import build_nado
        from nado.sampling import nado_prompts
        from nado.settings import NADOSettings

        self.settings = NADOSettings.from_dict(json.loads(args.nado))
        self.tokenizer = load_tokenizer(args.model)
        self.model = load_causal_lm(args.model, device="cpu")
        self.model.train()
        rows = [json.loads(line) for line in Path(args.mixture).read_text().splitlines() if line.strip()]
        encoded = encode_rows(self.tokenizer, rows, args.max_length)
        generator = torch.Generator().manual_seed(0)
        self.batches = [CausalCollator(self.tokenizer.pad_token_id)(
            [encoded[i] for i in torch.randperm(len(encoded), generator=generator)[: args.batch_size].tolist()])
            for _ in range(4)]
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-7)  # a real update, too small to drift
        self.method = Regularized(RegularizedConfig(type="regularized", nado=json.loads(args.nado)))
        torch.manual_seed(0)
        nado = build_nado(self.model.config, self.settings)
        torch.nn.init.normal_(nado.head.weight, std=0.02)  # a trained NADO's head is not zero; cost is the same
        self.nado = nado.eval()
        self.prompts = nado_prompts(rows, self.settings.n_prompts, 1, self.settings.prompt_max_words,
                                    self.settings.prompt_domains)
        self.calls = {}
        self.nado_trainer = None

    def _train_step(self, nado):
        key = "regularized" if nado is not None else "sft"
        self.calls[key] = self.calls.get(key, -1) + 1
        batch = self.batches[self.calls[key] % len(self.batches)]  # both kinds of step see the same batches
        self.method.active_nado = nado
        loss, _ = self.method.compute_loss(self.model, batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def sft_step(self):
        self._train_step(None)

    def regularized_step(self):
        self._train_step(self.nado)

    def sampling(self, hidden=None):
        import tempfile

        from nado.sampling import sample_continuations

        self.model.eval()
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "samples.jsonl"
            sample_continuations(self.model, self.tokenizer, self.prompts, self.settings, 0, out,
                                 progress=False, hidden_out=hidden if hidden is not None else {})
            rows = [json.loads(line) for line in out.read_text().splitlines()]
        self.model.train()
        return rows

    def nado_step(self):
        if self.nado_trainer is None or self.nado_trainer.done:
            self.nado_trainer = self._nado_trainer()
        self.nado_trainer.step()

    def _nado_trainer(self):
        from nado.model import build_nado
        from nado.train import BaseOutputCache, NADOTrainer, build_examples

        hidden = {}
        rows = self.sampling(hidden)
        for index, row in enumerate(rows):
            row["label"] = float(index % 2)  # labels do not change the cost
        examples = build_examples(self.tokenizer, rows)
        self.model.eval()
        cache = BaseOutputCache(self.model, examples, self.tokenizer.pad_token_id, self.settings.batch_size,
                                known_hidden=hidden)
        self.model.train()
        torch.manual_seed(0)
        return NADOTrainer(build_nado(self.model.config, self.settings), None, examples, self.settings, 0,
                           self.tokenizer.pad_token_id, cache=cache)


def main(argv=None):
    args = _args(argv)
    parts = Parts(args)
    for part in PARTS:  # warm-up, and the NADO trainer's samples
        getattr(parts, part)()
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            getattr(parts, args.profile)()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
        return
    times = {part: [] for part in PARTS}
    for repeat in range(args.repeats):
        for part in PARTS:
            start = time.perf_counter()
            getattr(parts, part)()
            times[part].append(time.perf_counter() - start)
        print(f"repeat {repeat + 1}/{args.repeats}: " + ", ".join(f"{p} {t[-1]:.2f}s" for p, t in times.items()), flush=True)
    median = {part: statistics.median(values) for part, values in times.items()}
    nado_steps = parts.nado_trainer.total_steps
    k = args.iterations
    sft = args.max_steps * median["sft_step"]
    regularized = args.max_steps * median["regularized_step"] + (k - 1) * (median["sampling"] + nado_steps * median["nado_step"])
    row = {
        "model": model_name(args.model),
        "threads": torch.get_num_threads(), "machine": platform.machine(), "repeats": args.repeats,
        **{f"{part}_s": round(value, 4) for part, value in median.items()},
        "kl_overhead_per_step_s": round(median["regularized_step"] - median["sft_step"], 4),
        # paired within a repeat (same batch, seconds apart): robust to the machine's drift
        "regularized_over_sft_step": round(statistics.median(
            r / s for r, s in zip(times["regularized_step"], times["sft_step"])), 4),
        "nado_steps_per_iteration": nado_steps,
        "model_sft_s": round(sft, 4), "model_parallel_s": round(regularized, 4),
        "model_parallel_over_sft": round(regularized / sft, 4),
    }
    print(row)
    if args.out:
        write_csv([row], args.out)


if __name__ == "__main__":
    main()
