"""CPU allocator settings: time of vocabulary-wide tensor work with glibc's defaults
and with freed memory kept in the heap (the workflow's setting, rules/common.smk).

Each setting runs in a fresh interpreter (glibc reads ``MALLOC_*`` at start-up) the
same loop: ``log_softmax`` and ``exp`` of a [positions, vocab] float tensor, the
shape of the regularizer's and the NADO's per-step work, and reports seconds and
minor page faults per iteration, as CSV.

    python -m bench.cpu_allocator --out results/tables/cpu_allocator.csv
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from bench import write_csv

SETTINGS = {
    "glibc default": {},
    "heap kept (workflow)": {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**32)},
}

LOOP = """
import json, resource, sys, time
import torch
positions, vocab, iterations = map(int, sys.argv[1:4])
x = torch.randn(positions, vocab)
torch.log_softmax(x, -1).exp()  # warm-up
faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
for _ in range(iterations):
    y = torch.log_softmax(x, -1).exp()
    del y
print(json.dumps({"seconds": (time.perf_counter() - start) / iterations,
                  "page_faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / iterations}))
"""


def measure(env: dict, positions: int, vocab: int, iterations: int) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", LOOP, str(positions), str(vocab), str(iterations)],
                         env={**clean, **env}, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--positions", type=int, default=240)
    parser.add_argument("--vocab", type=int, default=49152, help="SmolLM2's vocabulary (Llama's: 32000)")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = []
    for name, env in SETTINGS.items():
        result = measure(env, args.positions, args.vocab, args.iterations)
        rows.append({"setting": name, "positions": args.positions, "vocab": args.vocab,
                     "ms_per_iteration": round(1000 * result["seconds"], 2),
                     "page_faults_per_iteration": round(result["page_faults"]),
                     "threads": os.cpu_count(), "machine": platform.processor() or platform.machine()})
        print(rows[-1], flush=True)
    write_csv(rows, args.out)


if __name__ == "__main__":
    main()
