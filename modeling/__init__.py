"""Model handling: turn a config entry into a Hugging Face model folder, and load it.

Every model the workflow uses is described by a small JSON *manifest* (see
`manifest.py`). The `prepare_model` rule writes one per base model; training rules
write one per checkpoint. Consumers (evaluation, training) only ever read manifests,
so a base model, a fine-tuned checkpoint and a base model plus a NADO auxiliary model
all flow through the same code.

Nothing here imports torch at module import time: the Snakefile imports this package
while it parses the workflow.
"""
from modeling.manifest import ModelManifest, read_manifest, write_manifest

__all__ = ["ModelManifest", "read_manifest", "write_manifest"]
