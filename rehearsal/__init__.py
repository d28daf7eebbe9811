"""A CPU rehearsal of the paper config: tiny stand-ins for what the paper run fetches.

The paper config (config/paper.yaml) reads models and data sets by hub id from the
Hugging Face cache (filled by ``make prefetch`` on a machine with a network). The
rehearsal fills a cache of its own with tiny stand-ins under the same hub ids, so that
the same library calls (``datasets.load_dataset(hub_id, config, split=...)``, lm-eval's
own task YAMLs, ``from_pretrained(hub_id)``) run unchanged with ``HF_HUB_OFFLINE=1``:

* ``fake_hub``: a local stand-in for the hub's HTTP API, serving repositories from a
  folder, so that the cache is filled by the real client code (huggingface_hub,
  datasets), as a prefetch fills it, never written by hand.
* ``hub_cache``: hub data set repositories in the hub's own file layout (parquet per
  split, README.md with ``configs:``), and filling an HF_HOME from them.
* ``lm_eval_data``: rows in the real schema of every data set the paper's lm-eval
  tasks read, found from lm-eval's own task YAMLs.
* ``build_data``: the entry point, ``python -m rehearsal.build_data --hf-home DIR``.
"""
