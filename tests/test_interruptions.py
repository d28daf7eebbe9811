"""Jobs of the CI config killed mid-way resume when the workflow is rerun (issue 6).

Each test runs the real rule through ``snakemake`` in its own folder (``--directory``),
SIGKILLs snakemake's whole process group (the job's Python included) once the job has
left a resume point, and reruns the workflow as a user would: the locks removed (what
``--unlock`` does), then the same command (the default profile has ``rerun-incomplete``).
The rerun must start from that resume point, run nothing else, and end with exactly what
an uninterrupted run with the same seed writes. The library-level resumes are tested in
test_methods.py, test_regularized.py and test_generate.py; here the rules, scripts and
Snakemake's bookkeeping take part too.

The kill points are conditions on the files, polled every few milliseconds, never sleeps.
What the kill leaves depends on where it lands (a checkpoint may be half saved), so the
expected resume point is read from the files after the kill.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from methods._trainer import CHECKPOINT_COMPLETE, last_checkpoint

REPO = Path(__file__).resolve().parents[1]
MODEL = "tiny-random"
MAX_STEPS, SAVE_STEPS = 8, 2
GENERATION_BATCH = 2  # 24 continuations (config/ci.yaml): 12 batches instead of 2
# Long enough to be killed mid-way, short enough to keep this file near two minutes on
# 2 cores. Layered over config/ci.yaml (a second --configfile is merged into the first).
OVERRIDES = f"""\
training: {{max_steps: {MAX_STEPS}, save_steps: {SAVE_STEPS}, logging_steps: 1}}
evaluation:
  toxicity: {{batch_size: {GENERATION_BATCH}}}
"""
PREREQUISITES = [f"resources/models/{MODEL}/manifest.json", "results/data/train_mixture.scored.jsonl",
                 "results/data/toxicity_prompts.jsonl"]


def checkpoint_dir(method):
    return f"results/checkpoints/{MODEL}/{method}/seed0"


GENERATIONS = f"results/generations/{MODEL}/base/seed0/toxicity.jsonl"
TRAINED = {method: f"{checkpoint_dir(method)}/manifest.json" for method in ("sft", "regularized")}


class Workflow:
    """``snakemake`` on config/ci.yaml + OVERRIDES in one folder, in its own process group."""

    def __init__(self, workdir: Path, overrides: Path, cores: int = 1):
        self.workdir, self.overrides, self.cores = workdir, overrides, cores
        self.runs = 0

    def command(self, *args):
        # One thread per job (the same in every run, so the numbers can match bit for bit):
        # the uninterrupted runs go on beside the killed ones on 2 cores.
        return [sys.executable, "-m", "snakemake", "--cores", str(self.cores), "--set-threads", "train=1",
                "generate_toxicity=1", "--configfile", "config/ci.yaml", str(self.overrides),
                "--directory", str(self.workdir), *args]

    def start(self, *targets) -> subprocess.Popen:
        self.runs += 1
        self.log = self.workdir.with_name(f"{self.workdir.name}.snakemake{self.runs}.log")
        with open(self.log, "w") as sink:
            return subprocess.Popen(self.command(*targets), cwd=REPO, stdout=sink, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def run(self, *targets) -> str:
        process = self.start(*targets)
        process.wait()
        output = self.log.read_text()
        assert process.returncode == 0, f"snakemake {' '.join(targets)} failed:\n{output[-4000:]}"
        return output

    def unlock(self):
        """What `snakemake --unlock` does (without a second start): the SIGKILL left the locks behind."""
        locks = list((self.workdir / ".snakemake" / "locks").glob("*.lock"))
        assert locks, "snakemake's locks should survive a SIGKILL"
        for lock in locks:
            lock.unlink()

    def kill_when(self, process: subprocess.Popen, ready, what: str, timeout_s: float = 3600):
        """SIGKILL the whole process group as soon as ``ready()``; skip if the job ended first.
        ``timeout_s`` only catches a hung job: on a busy machine a job gets little CPU."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            if process.poll() is not None:
                output = self.log.read_text()
                assert process.returncode == 0, f"snakemake failed before {what}:\n{output[-4000:]}"
                pytest.skip(f"the job finished before {what}; nothing was interrupted")
            if time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                pytest.fail(f"no {what} after {timeout_s} s:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.002)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        _wait_until_gone(process.pid)


def _wait_until_gone(process_group: int, timeout_s: float = 30):
    """Until no live process is left in the group (zombies are dead: they write nothing)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
            except (OSError, ValueError, IndexError):
                continue
            if int(group) == process_group and state != "Z":
                alive.append(stat.parent.name)
        if not alive:
            return
        time.sleep(0.01)
    pytest.fail(f"processes {alive} of the killed group {process_group} still run")


def executed_rules(snakemake_output: str) -> set[str]:
    return {line.split()[1].rstrip(":") for line in snakemake_output.splitlines()
            if line.startswith(("rule ", "localrule "))}


@pytest.fixture(scope="session")
def overrides(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "interruptions.yaml"
    path.write_text(OVERRIDES)
    return path


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, overrides):
    """A folder with the stand-in data, scored mixture, prompts and tiny model: made once, then copied."""
    workdir = tmp_path_factory.mktemp("prepared") / "work"
    workdir.mkdir()
    Workflow(workdir, overrides, cores=2).run(*PREREQUISITES)
    return workdir


def copy_of(prepared: Path, tmp_path_factory, name: str) -> Path:
    workdir = tmp_path_factory.mktemp(name) / "work"
    shutil.copytree(prepared, workdir, symlinks=True)  # copy2 keeps the mtimes Snakemake compares
    for lock in (workdir / ".snakemake" / "locks").glob("*"):
        lock.unlink()
    return workdir


@pytest.fixture(scope="module")
def straight(prepared, overrides, tmp_path_factory):
    """Uninterrupted runs of every job killed below, started at once in the background;
    ``straight(target)`` waits for one of them and returns the folder."""
    workflow = Workflow(copy_of(prepared, tmp_path_factory, "straight"), overrides)
    process = workflow.start(*TRAINED.values(), GENERATIONS)

    def finished(target: str) -> Path:
        while not (workflow.workdir / target).exists() and process.poll() is None:
            time.sleep(0.1)
        assert (workflow.workdir / target).exists(), f"the uninterrupted run failed:\n{workflow.log.read_text()[-4000:]}"
        return workflow.workdir

    yield finished
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _weights(model_dir: Path):
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


def _losses(training_log: dict) -> dict[int, float]:
    entries = [entry for entry in training_log["log_history"] if "loss" in entry]
    steps = [entry["step"] for entry in entries]
    assert steps == list(range(1, MAX_STEPS + 1)), f"logged steps {steps}: a step was skipped or done twice"
    return {entry["step"]: entry["loss"] for entry in entries}


def test_a_checkpoint_torn_by_a_kill_is_not_a_resume_point(tmp_path):
    for step, files in [(2, ["model.safetensors", "trainer_state.json", CHECKPOINT_COMPLETE]),
                        (4, ["model.safetensors", "trainer_state.json"]),  # killed in a callback's on_save
                        (6, ["model.safetensors"]), (8, [])]:  # killed while Trainer saved
        (tmp_path / f"checkpoint-{step}").mkdir()
        for name in files:
            (tmp_path / f"checkpoint-{step}" / name).touch()
    assert last_checkpoint(tmp_path, complete_marker=CHECKPOINT_COMPLETE) == str(tmp_path / "checkpoint-2")
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")  # loops whose last file is Trainer's
    assert last_checkpoint(tmp_path / "missing") is None


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sft", "regularized"])
def test_killed_training_job_resumes_from_its_last_complete_checkpoint(method, prepared, overrides, straight,
                                                                       tmp_path_factory):
    import torch

    workflow = Workflow(copy_of(prepared, tmp_path_factory, f"killed-{method}"), overrides)
    run = workflow.workdir / checkpoint_dir(method)
    state = run / "state"
    process = workflow.start(TRAINED[method])
    # Checkpoint 4's folder appears when its save starts; checkpoint 2 is complete by then.
    workflow.kill_when(process, lambda: (state / "checkpoint-4").is_dir(), "checkpoint-4")

    assert not (run / "manifest.json").exists() and not (run / "model").exists()  # nothing looks finished
    complete = sorted(int(path.name.split("-")[1]) for path in state.glob("checkpoint-*")
                      if (path / CHECKPOINT_COMPLETE).is_file())
    assert complete and 2 <= complete[-1] < MAX_STEPS, f"complete checkpoints after the kill: {complete}"
    resume_step = complete[-1]
    # Where the kill lands decides whether checkpoint-4 was saved whole. Make the harder case
    # certain: a newer checkpoint cut off while its weights were being written.
    newest = max(int(path.name.split("-")[1]) for path in state.glob("checkpoint-*"))
    torn = state / f"checkpoint-{newest + SAVE_STEPS}"
    torn.mkdir()
    shutil.copy(state / f"checkpoint-{resume_step}" / "config.json", torn)
    (torn / "model.safetensors").write_bytes((state / f"checkpoint-{resume_step}" / "model.safetensors").read_bytes()[:4096])

    workflow.unlock()
    output = workflow.run(TRAINED[method])
    assert executed_rules(output) == {"train"}, "the rerun recomputed finished jobs"

    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["extra"]["steps"] == MAX_STEPS
    assert manifest["extra"]["resumed_from"].endswith(f"state/checkpoint-{resume_step}"), manifest["extra"]
    job_log = (workflow.workdir / f"logs/train/{MODEL}/{method}/seed0.log").read_text()
    assert f"resuming from {manifest['extra']['resumed_from']}" in job_log
    assert f"removing {checkpoint_dir(method)}/state/{torn.name}" in job_log
    assert all((path / CHECKPOINT_COMPLETE).is_file() for path in state.glob("checkpoint-*"))

    reference = straight(TRAINED[method]) / checkpoint_dir(method)
    resumed_log = json.loads((run / "model" / "training_log.json").read_text())
    straight_log = json.loads((reference / "model" / "training_log.json").read_text())
    assert _losses(resumed_log) == pytest.approx(_losses(straight_log), rel=1e-6)
    if method == "regularized":  # the NADO schedule went on where it was, not from iteration 1
        assert resumed_log["iterations"] == [pytest.approx(record, rel=1e-6) for record in straight_log["iterations"]]
    resumed, uninterrupted = _weights(run / "model"), _weights(reference / "model")
    assert resumed.keys() == uninterrupted.keys()
    for key in uninterrupted:
        assert torch.equal(resumed[key], uninterrupted[key]), f"{key} differs from the uninterrupted run's"


@pytest.mark.slow
def test_killed_generation_job_resumes_from_its_last_batch(prepared, overrides, straight, tmp_path_factory):
    workflow = Workflow(copy_of(prepared, tmp_path_factory, "killed-generation"), overrides)
    out = workflow.workdir / GENERATIONS
    partial = out.with_name(out.name + ".partial")
    process = workflow.start(GENERATIONS)
    batch_written = lambda: partial.exists() and partial.read_bytes().count(b"\n") >= GENERATION_BATCH
    workflow.kill_when(process, batch_written, "a finished batch")

    assert not out.exists()  # the partial file is not mistaken for the output
    lines = partial.read_text().splitlines(keepends=True)
    whole = [line for line in lines if line.endswith("\n")]  # the kill may cut the last line
    kept = len(whole) // GENERATION_BATCH * GENERATION_BATCH  # and a batch: only whole batches count
    # Tag the finished rows: if the rerun recomputed them, the tags would be gone.
    partial.write_text("".join(json.dumps({**json.loads(line), "before_kill": True}) + "\n" for line in whole)
                       + "".join(lines[len(whole):]))

    workflow.unlock()
    output = workflow.run(GENERATIONS)
    assert executed_rules(output) == {"generate_toxicity"}
    assert not partial.exists()

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row.pop("before_kill", False) for row in rows] == [True] * kept + [False] * (len(rows) - kept)
    reference = [json.loads(line) for line in (straight(GENERATIONS) / GENERATIONS).read_text().splitlines()]
    assert GENERATION_BATCH <= kept < len(reference)
    assert rows == reference
