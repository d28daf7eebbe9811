"""Decoding speed: NADO decoding against plain decoding of the same model.

Same prompts, same batch, same sampling settings (the ToxiGen protocol's T=0.1,
top_p=0.9); tokens per second of each, and their ratio, written as CSV.

    python -m bench.nado_decoding --model resources/models/smollm2-135m/hf \
        --nado results/checkpoints/smollm2-135m/nado/seed0/nado --out results/tables/nado_decoding_speed.csv

Without ``--nado`` a freshly initialised auxiliary model of ``--layers``/``--width``
is used (decoding cost does not depend on its weights).
"""
from __future__ import annotations

import argparse
import platform
import time

import torch

from bench import model_name, write_csv
from evaluation.generate import sample_batch
from modeling.load import load_causal_lm, load_tokenizer
from nado.decode import NADOGuide
from nado.model import build_nado, load_nado
from nado.settings import NADOSettings

PROMPTS = [
    "People who never return their shopping trolley to the rack are",
    "My neighbour's dog barks all night, and honestly the owner",
    "The referee in yesterday's match made a decision that",
    "Telemarketers who call during dinner should",
]


def measure(model, tokenizer, prompts, guide, max_new_tokens, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        sample_batch(model, tokenizer, prompts, max_new_tokens=max_new_tokens, temperature=0.1, top_p=0.9,
                     generator=torch.Generator().manual_seed(0), guide=guide)
        best = min(best, time.perf_counter() - start)
    return len(prompts) * max_new_tokens / best, best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a Hugging Face model folder")
    parser.add_argument("--nado", help="a trained NADO folder (default: a fresh one)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="best of N (wall clock)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", required=True, help="CSV file to write")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    model, tokenizer = load_causal_lm(args.model), load_tokenizer(args.model)
    if args.nado:
        nado = load_nado(args.nado, device=model.device, dtype=model.dtype)
    else:
        nado = build_nado(model.config, NADOSettings(layers=args.layers, width=args.width)).to(model.device, model.dtype).eval()
    prompts = (PROMPTS * args.batch_size)[: args.batch_size]
    measure(model, tokenizer, prompts[:2], None, 4, 1)  # warm-up
    plain_tps, plain_s = measure(model, tokenizer, prompts, None, args.max_new_tokens, args.repeats)
    nado_tps, nado_s = measure(model, tokenizer, prompts, NADOGuide(nado), args.max_new_tokens, args.repeats)
    row = {
        "model": model_name(args.model),
        "device": str(model.device), "threads": torch.get_num_threads(), "machine": platform.machine(),
        "batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens,
        "nado_layers": nado.arch.layers, "nado_width": nado.arch.width,
        "plain_tokens_per_s": round(plain_tps, 1), "nado_tokens_per_s": round(nado_tps, 1),
        "speed_ratio": round(nado_tps / plain_tps, 3), "plain_s": round(plain_s, 2), "nado_s": round(nado_s, 2),
    }
    write_csv([row], args.out)
    print(row)


if __name__ == "__main__":
    main()
