"""GPU placement on one machine (modeling/gpus.py), with fake device lists: each job
claims GPUs of its own from a lock-based pool, released when its process ends (also
under SIGKILL); SLURM's assignment is left alone; a one-process training job never
runs DataParallel, and regularized's ``parallel_device: auto`` takes a second GPU only
when the job was given one."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from modeling import gpus

ROOT = Path(__file__).resolve().parents[1]

# A job as the workflow starts one: its own process, which claims and then holds its GPUs
# until told to go (a line on stdin) or killed.
CLAIMANT = textwrap.dedent("""
    import json, os, sys, time
    from modeling.gpus import claim
    count, hold_s = int(sys.argv[1]), float(sys.argv[2])
    ids = claim(count, holder="claimant", poll_s=0.02, log=lambda *a, **k: print(*a, file=sys.stderr, **k))
    print(json.dumps({"ids": ids, "visible": os.environ.get("CUDA_VISIBLE_DEVICES"), "at": time.time()}), flush=True)
    if hold_s < 0:
        sys.stdin.readline()
    else:
        time.sleep(hold_s)
    print(json.dumps({"released_at": time.time()}), flush=True)
""")


def _unset(monkeypatch, name: str) -> None:
    """Remove ``name`` from the environment for one test; whatever the test sets it to is undone
    (``delenv`` alone records nothing when the variable is absent, and a claim's
    CUDA_VISIBLE_DEVICES would outlive the test: on a GPU machine, hiding the GPUs from the rest)."""
    monkeypatch.setenv(name, "")
    monkeypatch.delenv(name)


@pytest.fixture
def pool(tmp_path, monkeypatch):
    """A fake machine with GPUs 0-3 and its own lock folder, for this process and its children."""
    monkeypatch.setenv("ACFT_GPUS", "0,1,2,3")
    monkeypatch.setenv("ACFT_GPU_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setenv("ACFT_GPU_WAIT_S", "30")
    for name in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES"):
        _unset(monkeypatch, name)
    yield ["0", "1", "2", "3"]
    gpus.release()


def _start(count: int, hold_s: float = -1) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-c", CLAIMANT, str(count), str(hold_s)], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _lines(process: subprocess.Popen) -> tuple[list[dict], str]:
    """What a claimant printed to stdout after its first line, and its log (stderr)."""
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return [json.loads(line) for line in out.splitlines()], err


def test_concurrent_claimants_get_disjoint_gpus(pool):
    asks = [2, 1, 1]
    jobs = [_start(count) for count in asks]
    claims = [json.loads(job.stdout.readline()) for job in jobs]  # all three hold their GPUs now
    for job in jobs:
        job.stdin.write("\n")
        job.stdin.flush()
        assert "GPUs: this job runs on" in _lines(job)[1]
    given = [claim["ids"] for claim in claims]
    assert [len(ids) for ids in given] == asks
    assert len({gpu for ids in given for gpu in ids}) == sum(asks)  # no GPU twice
    assert set().union(*given) <= set(pool)
    assert [claim["visible"] for claim in claims] == [",".join(ids) for ids in given]  # what CUDA will see


def test_more_jobs_than_gpus_queue_and_never_share(pool):
    """Six one-GPU jobs at once on four GPUs: two wait, and a GPU has one job at a time."""
    jobs = [_start(1, hold_s=0.4) for _ in range(6)]
    spans: dict[str, list[tuple[float, float]]] = {}
    for job in jobs:
        (claim, done), _ = _lines(job)
        spans.setdefault(claim["ids"][0], []).append((claim["at"], done["released_at"]))
    assert sum(len(s) for s in spans.values()) == 6
    for gpu, intervals in spans.items():
        intervals.sort()
        for (_, end), (start, _) in zip(intervals, intervals[1:]):
            assert start >= end, f"GPU {gpu} was held by two jobs at once"
    assert max(len(s) for s in spans.values()) >= 2  # some job waited for a GPU a finished one released


def test_a_killed_job_releases_its_gpus(pool):
    holder = _start(4)  # takes every GPU
    assert json.loads(holder.stdout.readline())["ids"] == pool
    waiter = _start(2)
    time.sleep(0.5)
    assert waiter.poll() is None  # waiting: nothing is free
    killed_at = time.time()
    holder.send_signal(signal.SIGKILL)  # no cleanup runs: the kernel drops its locks
    holder.wait(timeout=10)
    claim = json.loads(waiter.stdout.readline())
    assert len(claim["ids"]) == 2 and set(claim["ids"]) <= set(pool)
    assert claim["at"] >= killed_at  # it got them only once the holder was gone
    waiter.stdin.write("\n")
    waiter.stdin.flush()
    assert f"held by pid {holder.pid} (claimant)" in _lines(waiter)[1]  # its log said whom it waited for
    for stream in (holder.stdin, holder.stdout, holder.stderr):
        stream.close()


def test_a_job_that_waits_too_long_says_who_holds_the_gpus(pool, tmp_path):
    import fcntl

    other = {}
    for gpu in pool:  # another job holds every GPU
        lock = tmp_path / "locks" / f"{gpu}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        other[gpu] = os.open(lock, os.O_RDWR | os.O_CREAT)
        fcntl.flock(other[gpu], fcntl.LOCK_EX)
        os.write(other[gpu], b"pid 4242 (train, log logs/train/x.log)")
    logged = []
    try:
        with pytest.raises(TimeoutError, match=r"pid 4242 \(train.*--resources gpu=N` with N at most 4"):
            gpus.claim(1, wait_s=0.2, poll_s=0.05, log=lambda *a, **k: logged.append(" ".join(a)))
    finally:
        for fd in other.values():
            os.close(fd)
    assert any("waiting for 1 free" in line and "pid 4242" in line for line in logged)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_asking_for_more_gpus_than_the_machine_has_is_a_clear_error(pool):
    with pytest.raises(ValueError, match=r"asks for gpu=5, but this machine has 4 GPU\(s\) \(0,1,2,3, from ACFT_GPUS\)"):
        gpus.claim(5)


def test_under_slurm_the_schedulers_assignment_stands():
    environ = {"SLURM_JOB_ID": "123", "CUDA_VISIBLE_DEVICES": "3", "ACFT_GPUS": "0,1,2,3"}
    assert gpus.claim(1, environ=environ, log=lambda *a, **k: None) is None
    assert gpus.claim(0, environ=environ, log=lambda *a, **k: None) is None
    assert environ["CUDA_VISIBLE_DEVICES"] == "3"


def test_without_gpus_nothing_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    monkeypatch.setenv("ACFT_GPU_LOCK_DIR", str(tmp_path / "locks"))
    for environ in ({}, {"ACFT_GPUS": ""}, {"ACFT_GPUS": "off", "CUDA_VISIBLE_DEVICES": "0"}):
        before = dict(environ)
        assert gpus.claim(1, environ=environ, log=lambda *a, **k: None) is None
        assert environ == before
    assert gpus.claim(1, environ={"CUDA_VISIBLE_DEVICES": "-1"}, log=lambda *a, **k: None) is None
    assert not (tmp_path / "locks").exists()


def _fake_nvidia_smi(folder: Path, mig: str) -> None:
    """An nvidia-smi that lists two GPUs, their MIG mode ``mig``."""
    fake = folder / "nvidia-smi"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f"#!/bin/sh\ncase \"$1\" in *mig*) printf '0, {mig}\\n1, {mig}\\n';; *) printf '0\\n1\\n';; esac\n")
    fake.chmod(0o755)


def test_pool_from_nvidia_smi_or_an_inherited_cuda_visible_devices(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    _fake_nvidia_smi(tmp_path / "bin", mig="[N/A]")
    assert gpus.device_pool({}) == (["0", "1"], "nvidia-smi")
    _fake_nvidia_smi(tmp_path / "bin", mig="Enabled")  # MIG devices are not GPU indices: left alone
    assert gpus.device_pool({}) == ([], "nvidia-smi")
    assert gpus.device_pool({"CUDA_VISIBLE_DEVICES": "2,3"}) == (["2", "3"], "CUDA_VISIBLE_DEVICES")
    environ = {"CUDA_VISIBLE_DEVICES": "2,3", "ACFT_GPU_LOCK_DIR": str(tmp_path / "locks")}
    try:
        assert gpus.claim(1, environ=environ, log=lambda *a, **k: None) == ["2"]  # within the inherited ids
        assert environ["CUDA_VISIBLE_DEVICES"] == "2" and (tmp_path / "locks" / "2.lock").is_file()
    finally:
        gpus.release()


def test_a_job_that_asks_for_no_gpu_sees_none(pool):
    assert gpus.claim(0, log=lambda *a, **k: None) == []
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""


def test_start_job_claims_the_rules_gpus(pool, tmp_path, monkeypatch):
    from scripts._common import start_job

    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(variable, os.environ.get(variable, "1"))  # start_job sets them; restored after
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    log = tmp_path / "logs" / "train.log"
    job = SimpleNamespace(log=[str(log)], threads=1, rule="train", resources={"gpu": 2, "mem_mb": 8000})
    start_job(job)
    sys.stdout.flush()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert "GPUs: this job runs on 0,1 of 0,1,2,3" in log.read_text()
    assert "pid" in (tmp_path / "locks" / "0.lock").read_text() and "train" in (tmp_path / "locks" / "0.lock").read_text()


# --- what a job does with the GPUs it was given ---------------------------------------------------


@pytest.fixture
def cuda_sees_the_claim(monkeypatch):
    """torch.cuda.device_count() as CUDA would answer it in a job: the GPUs in CUDA_VISIBLE_DEVICES."""
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(gpus._parse_ids(os.environ.get("CUDA_VISIBLE_DEVICES", ""))))
    _unset(monkeypatch, "WORLD_SIZE")


def test_a_one_process_training_job_never_runs_data_parallel(tmp_path, monkeypatch):
    import torch

    from methods._trainer import TrainingConfig, training_arguments

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)  # the job sees two GPUs (e.g. one for its NADO)
    args = training_arguments(TrainingConfig(max_steps=1), tmp_path / "state", 0, torch.float32, "cuda")
    assert args.n_gpu == 1  # Trainer wraps the model in nn.DataParallel when n_gpu > 1
    assert args.parallel_mode.name == "NOT_PARALLEL"


def test_rl_phase_two_never_runs_data_parallel_either(tmp_path, monkeypatch):
    import torch

    import methods
    from methods._trainer import TrainingConfig

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    rl = methods.build_method("rl", {"prompts_per_step": 2, "samples_per_prompt": 2, "gradient_accumulation_steps": 1})
    args = rl._rloo_args(TrainingConfig(max_steps=1), tmp_path / "state", 0, torch.float32, torch.float32, "cuda")
    assert args.n_gpu == 1


@pytest.mark.parametrize("asked, expected", [(1, None), (2, "cuda:1")])
def test_auto_uses_a_second_gpu_only_when_the_job_was_given_one(pool, cuda_sees_the_claim, asked, expected):
    from methods.regularized import _make_schedule_class

    pick = _make_schedule_class()._pick_nado_device
    assert gpus.claim(asked, log=lambda *a, **k: None) == pool[:asked]  # a job on a 4-GPU machine
    assert pick("auto") == expected
    assert pick(None) is None and pick("cpu") == "cpu"


def test_parallel_device_in_a_multi_process_launch(pool, cuda_sees_the_claim, monkeypatch):
    from methods.regularized import _make_schedule_class

    pick = _make_schedule_class()._pick_nado_device
    gpus.claim(2, log=lambda *a, **k: None)  # training.num_processes: 2: one GPU per process
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert pick("auto") is None  # cuda:1 is the other process's GPU
    with pytest.raises(ValueError, match="parallel_device 'cuda:1' needs 2 GPUs"):
        pick("cuda:1")


def test_the_train_job_asks_for_the_gpus_its_method_uses():
    import methods

    def asks(name, entry, num_processes=1):
        return methods.build_method(name, entry).training_gpus(num_processes)

    assert asks("sft", {}) == 1 and asks("sft", {}, num_processes=4) == 4
    assert asks("regularized", {}) == 1  # parallel_device: auto asks for nothing extra
    assert asks("regularized", {"parallel_device": "cuda:1"}) == 2
    assert asks("regularized", {"parallel_device": "cuda:1", "schedule": "sequential"}) == 1  # no parallel NADO
    assert asks("regularized", {"parallel_device": "cuda:1"}, num_processes=2) == 2
    assert asks("regularized_adaptive", {"parallel_device": None}) == 1
