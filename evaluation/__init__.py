"""Evaluation of models and checkpoints: utility benchmarks (MMLU 5-shot and the
commonsense 0-shot average through lm-evaluation-harness), toxicity rates and win
rates. Nothing here imports torch, transformers or lm_eval at package import time,
because the Snakefile imports this package while it parses the workflow.
"""
