"""The workflow profiles: what they set names rules that exist, and measured jobs keep their cores."""
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RULES = {
    match.group(1)
    for path in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
    for match in re.finditer(r"^\s*(?:local)?rule (\w+):", path.read_text(), flags=re.M)
}
# Jobs whose wall time or tokens/s is a reported cost (cost.csv, cost_training.csv, claim 6,
# the NADO decoding-speed table): on the 2-core default machine they must run alone.
TIMED_RULES = {"train", "pretrain_base", "nado_samples", "train_nado", "jigsaw_train", "nado_decoding_speed"}


def test_rules_are_found():
    assert {"train", "benchmark", "generate_toxicity", "jigsaw_auc"} <= RULES


def test_default_profile_sets_threads_of_existing_evaluation_rules_only():
    profile = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    threads = profile["set-threads"]
    assert set(threads) <= RULES, sorted(set(threads) - RULES)
    assert not set(threads) & TIMED_RULES
    assert all(value == 1 for value in threads.values())
    assert TIMED_RULES <= RULES
