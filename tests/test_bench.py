"""bench/regularized_parts.py: the parts it times, and the job model it writes."""
import csv
import json

import pytest


def test_regularized_parts_writes_the_job_model(tiny_model_dir, tmp_path):
    from bench import regularized_parts

    mixture = tmp_path / "mixture.jsonl"
    rows = [{"text": f"Statement number {i} about people. And more after it.", "domain": "toxicity" if i % 2 else "general"}
            for i in range(24)]
    mixture.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    nado = {"n_prompts": 4, "samples_per_prompt": 2, "max_new_tokens": 4, "prompt_domains": ["toxicity"],
            "epochs": 1, "batch_size": 4, "layers": 1, "width": 32, "heads": 2}
    out = tmp_path / "parts.csv"
    regularized_parts.main(["--model", str(tiny_model_dir), "--mixture", str(mixture), "--out", str(out),
                            "--batch-size", "2", "--max-length", "16", "--max-steps", "6", "--iterations", "3",
                            "--nado", json.dumps(nado), "--repeats", "2"])
    (row,) = csv.DictReader(out.open())
    value = {key: float(row[key]) for key in row if key.endswith("_s") or key.startswith("model_")}
    assert int(row["nado_steps_per_iteration"]) == 2  # 8 samples, batches of 4, one epoch
    assert value["model_sft_s"] == pytest.approx(6 * value["sft_step_s"], abs=1e-3)
    expected = 6 * value["regularized_step_s"] + 2 * (value["sampling_s"] + 2 * value["nado_step_s"])
    assert value["model_parallel_s"] == pytest.approx(expected, abs=1e-3)
    assert value["model_parallel_over_sft"] == pytest.approx(value["model_parallel_s"] / value["model_sft_s"], rel=0.02)
    assert float(row["regularized_over_sft_step"]) > 0
