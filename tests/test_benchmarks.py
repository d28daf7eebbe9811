"""evaluation.benchmarks: embedded task YAMLs, run_suite against independent scoring.

Expected accuracies are computed here without lm-eval (a plain forward of the tiny
model, log_softmax, gather) and must equal lm-eval's exactly.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.benchmarks import (
    EMBEDDED_COMMONSENSE_TAG,
    EMBEDDED_MMLU_TASK,
    run_suite,
    summarize,
    write_embedded_tasks,
    write_results,
)

MMLU_DEV = [
    {"question": "What is 2 + 2?", "subject": "math", "choices": ["3", "4", "5", "6"], "answer": 1},
    {"question": "Which planet is red?", "subject": "astronomy", "choices": ["Mars", "Venus", "Earth", "Moon"], "answer": 0},
    {"question": "H2O is", "subject": "chemistry", "choices": ["salt", "air", "water", "gold"], "answer": 2},
    {"question": "The heart pumps", "subject": "anatomy", "choices": ["air", "bile", "food", "blood"], "answer": 3},
    {"question": "A triangle has how many sides?", "subject": "math", "choices": ["2", "3", "4", "5"], "answer": 1},
    {"question": "Never used as a shot", "subject": "math", "choices": ["a", "b", "c", "d"], "answer": 0},
]
MMLU_TEST = [
    {"question": "  What is 3 + 4? ", "subject": "math", "choices": ["7", "8", "9", "1"], "answer": 0},
    {"question": "The Sun is a", "subject": "astronomy", "choices": ["planet", "comet", "star", "moon"], "answer": 2},
    {"question": "Salt is made of sodium and", "subject": "chemistry", "choices": ["iron", "chlorine", "gold", "neon"], "answer": 1},
    {"question": "Bones are made mostly of", "subject": "anatomy", "choices": ["glass", "wood", "steel", "calcium"], "answer": 3},
]
COMMONSENSE = {
    "physical": [
        {"question": "How do you open a jar?", "choices": ["Twist the lid.", "Sing to it."], "answer": 0},
        {"question": "How do you dry wet hands?", "choices": ["Use a towel.", "Pour water on them, then wait a long while."], "answer": 0},
        {"question": "To cut paper you use", "choices": ["a spoon", "scissors"], "answer": 1},
    ],
    "science": [
        {"question": "Plants make food by", "choices": ["photosynthesis", "digestion", "sleeping", "melting"], "answer": 0},
        {"question": "Water freezes at", "choices": ["100 C", "50 C", "0 C", "20 C"], "answer": 2},
        {"question": "The closest star to Earth is", "choices": ["Sirius", "the Sun", "Vega", "Polaris"], "answer": 1},
    ],
    "everyday": [
        {"question": "Where do you keep milk cold?", "choices": ["oven", "fridge", "drawer", "garden"], "answer": 1},
        {"question": "What do you wear on your feet?", "choices": ["hat", "gloves", "shoes", "scarf"], "answer": 2},
        {"question": "You eat soup with a", "choices": ["fork", "knife", "comb", "spoon"], "answer": 3},
    ],
}
MMLU_PROMPT_HEAD = "The following are multiple choice questions (with answers).\n\n"


def _write_jsonl(file: Path, rows: list[dict]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.fixture(scope="module")
def embedded_tasks(tmp_path_factory):
    """(data_dir, task_dir, task names) for the fixture data above."""
    root = tmp_path_factory.mktemp("benchmarks")
    _write_jsonl(root / "data" / "mmlu" / "dev.jsonl", MMLU_DEV)
    _write_jsonl(root / "data" / "mmlu" / "test.jsonl", MMLU_TEST)
    for name, rows in COMMONSENSE.items():
        _write_jsonl(root / "data" / "commonsense" / f"{name}.jsonl", rows)
    names = write_embedded_tasks(root / "data", root / "tasks")
    return root / "data", root / "tasks", names


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from modeling.load import load_causal_lm, load_tokenizer

    return load_causal_lm(tiny_model_dir, device="cpu", precision="fp32"), load_tokenizer(tiny_model_dir)


def _loglikelihood(model, tokenizer, context: str, continuation: str) -> float:
    """Summed log p(continuation | context), split at the context's tokens as lm-eval does."""
    import torch

    whole = tokenizer(context + continuation)["input_ids"]
    context_len = len(tokenizer(context)["input_ids"])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([whole])).logits[0, :-1].float(), dim=-1)
    targets = torch.tensor(whole[context_len:])
    return float(logprobs[context_len - 1:].gather(1, targets[:, None]).sum())


def _mmlu_text(row: dict) -> str:
    letters = "".join(f"\n{letter}. {choice}" for letter, choice in zip("ABCD", row["choices"]))
    return f"{row['question'].strip()}{letters}\nAnswer:"


def _argmax(scores: list[float]) -> int:
    return max(range(len(scores)), key=scores.__getitem__)


def test_module_imports_no_torch_or_lm_eval():
    code = "import sys, evaluation.benchmarks; print(sorted({'torch', 'lm_eval', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "[]"


def test_written_yaml_matches_lm_eval_mmlu_template(embedded_tasks):
    import yaml
    from importlib.util import find_spec

    data_dir, task_dir, names = embedded_tasks
    assert names == [EMBEDDED_MMLU_TASK, "embedded_commonsense_physical",
                     "embedded_commonsense_science", "embedded_commonsense_everyday"]
    assert sorted(p.stem for p in task_dir.glob("*.yaml")) == sorted(names)

    ours = yaml.safe_load((task_dir / "embedded_mmlu.yaml").read_text())
    template = Path(find_spec("lm_eval").submodule_search_locations[0]) / "tasks/mmlu/default/_default_template_yaml"
    theirs = yaml.safe_load(template.read_text())
    for key in ("doc_to_text", "doc_to_choice", "doc_to_target", "output_type", "fewshot_split", "fewshot_config"):
        assert ours[key] == theirs[key], key
    assert ours["description"] == MMLU_PROMPT_HEAD
    for split in ("dev", "test"):  # absolute: lm-eval resolves relative ones against the cwd
        assert ours["dataset_kwargs"]["data_files"][split] == str((data_dir / "mmlu" / f"{split}.jsonl").resolve())

    physical = yaml.safe_load((task_dir / "embedded_commonsense_physical.yaml").read_text())
    assert physical["doc_to_text"] == "Question: {{question}}\nAnswer:"
    assert [m["metric"] for m in physical["metric_list"]] == ["acc", "acc_norm"]
    assert all(m["higher_is_better"] for m in physical["metric_list"])


def test_commonsense_accuracy_equals_independent_scoring(embedded_tasks, tiny, tiny_model_dir, tmp_path):
    _, task_dir, _ = embedded_tasks
    model, tokenizer = tiny
    summary = run_suite(tiny_model_dir, [EMBEDDED_COMMONSENSE_TAG], num_fewshot=0, include_path=task_dir,
                        batch_size=4, device="cpu", log_samples=True)

    expected_acc, expected_norm = {}, {}
    for name, rows in COMMONSENSE.items():
        task = f"embedded_commonsense_{name}"
        samples = sorted(summary["raw"]["samples"][task], key=lambda s: s["doc_id"])
        hits, norm_hits = 0, 0
        for row, sample in zip(rows, samples, strict=True):
            context = f"Question: {row['question']}\nAnswer:"
            scores = [_loglikelihood(model, tokenizer, context, " " + choice) for choice in row["choices"]]
            # lm-eval's own per-choice log-likelihoods agree (batched with padding: float noise only)
            assert [resp[0][0] for resp in sample["resps"]] == pytest.approx(scores, abs=1e-4)
            assert [arg[0] for arg in sample["arguments"]] == [context] * len(row["choices"])
            hits += _argmax(scores) == row["answer"]
            # acc_norm divides by the choice's length in characters (lm-eval's definition)
            norm_hits += _argmax([s / len(c) for s, c in zip(scores, row["choices"])]) == row["answer"]
        expected_acc[task], expected_norm[task] = hits / len(rows), norm_hits / len(rows)

    assert set(summary["tasks"]) == set(expected_acc)  # the tag expands to its tasks
    for task, entry in summary["tasks"].items():
        assert entry == {"metric": "acc", "value": expected_acc[task], "stderr": entry["stderr"], "n": 3}
    assert summary["mean"] == pytest.approx(sum(expected_acc.values()) / 3, abs=1e-12)
    assert summary["mean_pct"] == pytest.approx(100 * summary["mean"])
    assert summary["num_fewshot"] == 0 and summary["lm_eval_version"] == "0.4.13"

    normed = summarize(summary["raw"], list(expected_norm), metric="acc_norm")
    assert {t: e["value"] for t, e in normed["tasks"].items()} == expected_norm
    write_results(summary, tmp_path / "summary.json", tmp_path / "raw.json")  # strict JSON both
    written = json.loads((tmp_path / "summary.json").read_text())
    assert "raw" not in written and written["tasks"] == summary["tasks"]
    assert json.loads((tmp_path / "raw.json").read_text())["results"] == summary["raw"]["results"]


def test_mmlu_five_shot_prompt_accuracy_and_one_forward_per_question(embedded_tasks, tiny, tiny_model_dir):
    """Also covers passing an lm-eval LM object instead of a folder."""
    from evaluation.benchmarks import build_lm

    _, task_dir, _ = embedded_tasks
    model, tokenizer = tiny
    lm = build_lm(tiny_model_dir, batch_size=16, device="cpu", precision="fp32")
    forward_rows = []
    hook = lm.model.register_forward_hook(
        lambda module, args, kwargs, out: forward_rows.append((args[0] if args else kwargs["input_ids"]).shape[0]),
        with_kwargs=True,
    )
    try:
        summary = run_suite(lm, [EMBEDDED_MMLU_TASK], num_fewshot=5, limit=3, include_path=task_dir,
                            log_samples=True)
    finally:
        hook.remove()

    entry = summary["tasks"][EMBEDDED_MMLU_TASK]
    assert entry["n"] == 3 and summary["limit"] == 3
    assert entry["value"] in {k / 3 for k in range(4)}
    # four single-token choices share one context: lm-eval's Collator runs it once
    assert forward_rows == [3]

    shots = "".join(_mmlu_text(row) + " " + "ABCD"[row["answer"]] + "\n\n" for row in MMLU_DEV[:5])
    samples = sorted(summary["raw"]["samples"][EMBEDDED_MMLU_TASK], key=lambda s: s["doc_id"])
    hits = 0
    for row, sample in zip(MMLU_TEST[:3], samples, strict=True):
        context = MMLU_PROMPT_HEAD + shots + _mmlu_text(row)
        assert [arg[0] for arg in sample["arguments"]] == [context] * 4
        scores = [_loglikelihood(model, tokenizer, context, " " + letter) for letter in "ABCD"]
        assert [resp[0][0] for resp in sample["resps"]] == pytest.approx(scores, abs=1e-4)
        hits += _argmax(scores) == row["answer"]
    assert entry["value"] == hits / 3


def test_unknown_task_names_the_task_and_the_fix(embedded_tasks):
    _, task_dir, _ = embedded_tasks
    with pytest.raises(ValueError, match=r"'embedded_mmlu_typo'.*write_embedded_tasks"):
        run_suite("unused", ["embedded_mmlu_typo"], num_fewshot=0, include_path=task_dir)


def test_missing_inputs_are_named(tmp_path, embedded_tasks):
    data_dir, task_dir, _ = embedded_tasks
    with pytest.raises(FileNotFoundError, match=r"commonsense/physical\.jsonl"):
        _write_jsonl(tmp_path / "data" / "mmlu" / "dev.jsonl", MMLU_DEV)
        _write_jsonl(tmp_path / "data" / "mmlu" / "test.jsonl", MMLU_TEST)
        write_embedded_tasks(tmp_path / "data", tmp_path / "tasks")
    with pytest.raises(FileNotFoundError, match="write_embedded_tasks"):
        run_suite("unused", [EMBEDDED_MMLU_TASK], num_fewshot=5, include_path=tmp_path / "no-tasks")
    with pytest.raises(FileNotFoundError, match="config.json"):
        run_suite(tmp_path / "no-model", [EMBEDDED_MMLU_TASK], num_fewshot=5, include_path=task_dir)


def test_summary_of_a_group_uses_its_aggregate():
    """The paper's `mmlu` is a group: one entry, lm-eval's aggregate, documents summed."""
    results = {
        "results": {
            "mmlu": {"acc,none": 0.4, "acc_stderr,none": 0.01},
            "mmlu_stem": {"acc,none": 0.3, "acc_stderr,none": "N/A"},
            "mmlu_anatomy": {"acc,none": 0.3, "sample_len": 135},
            "mmlu_virology": {"acc,none": 0.5, "sample_len": 166},
        },
        "group_subtasks": {"mmlu": ["mmlu_stem", "mmlu_virology"], "mmlu_stem": ["mmlu_anatomy"]},
    }
    summary = summarize(results, ["mmlu"])
    assert summary["tasks"] == {"mmlu": {"metric": "acc", "value": 0.4, "stderr": 0.01, "n": 301}}
    assert summary["mean_pct"] == pytest.approx(40.0)
    assert summarize(results, ["mmlu_stem"])["tasks"]["mmlu_stem"]["stderr"] is None
    with pytest.raises(ValueError, match="acc_norm"):
        summarize(results, ["mmlu"], metric="acc_norm")


def test_rewritten_task_files_are_reindexed(tmp_path, embedded_tasks):
    from evaluation.benchmarks import get_task_manager

    data_dir, _, _ = embedded_tasks
    write_embedded_tasks(data_dir, tmp_path / "tasks")
    first = get_task_manager([EMBEDDED_MMLU_TASK], tmp_path / "tasks")
    assert get_task_manager([EMBEDDED_MMLU_TASK], tmp_path / "tasks") is first
    write_embedded_tasks(data_dir, tmp_path / "tasks", commonsense_subtasks=("physical",))
    assert get_task_manager([EMBEDDED_MMLU_TASK], tmp_path / "tasks") is not first
    assert sorted(p.stem for p in (tmp_path / "tasks").glob("*.yaml")) == [
        "embedded_commonsense_physical", EMBEDDED_MMLU_TASK]
