"""Each job on its own GPUs: device ids claimed from a lock-based pool as a job starts.

Snakemake's ``--resources gpu=N`` only counts GPUs; it never says which device a job
gets (Snakemake issue #281), so every job would run on the first visible GPU. Here a
job that asks for ``gpu=k`` claims k free device ids before torch initialises CUDA and
sets ``CUDA_VISIBLE_DEVICES`` to them; a job that asks for none sees none. A claim is
an ``flock`` on one file per device id, held on a descriptor that stays open for the
life of the job's process: the kernel releases it when the process ends, however it
ends (a crash, Ctrl-C, SIGKILL, a node's OOM killer).

The pool of device ids comes from, in order:

- ``ACFT_GPUS``: ids as ``CUDA_VISIBLE_DEVICES`` takes them (``0,1,2,3``, GPU or MIG
  UUIDs); ``off`` leaves every job's environment as it is;
- ``CUDA_VISIBLE_DEVICES`` inherited from the shell that started Snakemake: jobs
  share out those ids;
- ``nvidia-smi --query-gpu=index``; no nvidia-smi, no GPU, or a GPU in MIG mode (whose
  devices are MIG UUIDs, not indices): no pool, and jobs run as they would without
  this module.

Under SLURM (``SLURM_JOB_ID`` set) nothing is changed: the scheduler has already
given each job its own GPUs in ``CUDA_VISIBLE_DEVICES``.

Lock files live in ``ACFT_GPU_LOCK_DIR`` (default ``/tmp/acft-gpu-locks-<uid>``: one
per machine and user, so two Snakemake runs of one user on one machine never share a
GPU either). A job that finds too few free ids waits ``ACFT_GPU_WAIT_S`` seconds
(default 3600), its log naming the jobs that hold them, then fails.

Nothing here imports torch: the workflow imports this module while it parses.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

POOL_ENV = "ACFT_GPUS"
LOCK_DIR_ENV = "ACFT_GPU_LOCK_DIR"
WAIT_ENV = "ACFT_GPU_WAIT_S"
DEFAULT_WAIT_S = 3600.0  # a job queued behind a short one gets its GPU; one behind a 7B training run fails, saying why

_held: list[int] = []  # descriptors of this process's lock files: closing them releases its GPUs


def device_pool(environ=None) -> tuple[list[str], str] | None:
    """The device ids jobs share out, and where they came from; None: leave jobs alone
    (under SLURM, or ``ACFT_GPUS=off``). An empty list: no GPU here."""
    environ = os.environ if environ is None else environ
    if environ.get("SLURM_JOB_ID"):
        return None
    explicit = environ.get(POOL_ENV)
    if explicit is not None:
        if explicit.strip().lower() == "off":
            return None
        return _parse_ids(explicit), POOL_ENV
    if "CUDA_VISIBLE_DEVICES" in environ:
        return _parse_ids(environ["CUDA_VISIBLE_DEVICES"]), "CUDA_VISIBLE_DEVICES"
    return _nvidia_smi_ids(), "nvidia-smi"


def _parse_ids(value: str) -> list[str]:
    """Ids of a ``CUDA_VISIBLE_DEVICES``-style list; like CUDA, stop at a negative one (``-1``: none)."""
    ids = []
    for item in value.split(","):
        item = item.strip()
        if not item or item.startswith("-"):
            break
        ids.append(item)
    return ids


def _nvidia_smi_ids() -> list[str]:
    """GPU indices, or [] with no GPU, no driver, or MIG on (its devices are not GPU indices)."""
    if shutil.which("nvidia-smi") is None:
        return []
    for query in ("index,mig.mode.current", "index"):  # an older driver may not know the MIG field
        try:
            done = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                                  capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return []
        if done.returncode == 0:
            rows = [[field.strip() for field in line.split(",")] for line in done.stdout.splitlines() if line.strip()]
            if any(row[1:] == ["Enabled"] for row in rows):
                return []
            return [row[0] for row in rows if row[0].isdigit()]
    return []


def lock_dir(environ=None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get(LOCK_DIR_ENV) or f"/tmp/acft-gpu-locks-{os.getuid()}")


def claim(count: int, holder: str = "", wait_s: float | None = None, poll_s: float = 1.0,
          environ=None, log=print) -> list[str] | None:
    """Claim ``count`` free GPUs of the pool for this process and set ``CUDA_VISIBLE_DEVICES`` to them.

    Call it before anything initialises CUDA. Returns the ids claimed ([] for a job that
    asks for none: it is given none), or None when the environment is left as it is
    (SLURM, ``ACFT_GPUS=off``, or no GPU here). ``holder`` names the job in the lock
    files, so a job that waits can say who holds what. The claim lasts until the process
    ends or ``release()``. Raises ValueError if the pool has fewer than ``count`` ids,
    TimeoutError if they do not come free within ``wait_s`` (default ``ACFT_GPU_WAIT_S``).
    """
    environ = os.environ if environ is None else environ
    found = device_pool(environ)
    torch = sys.modules.get("torch")
    if found is not None and torch is not None and torch.cuda.is_initialized():
        log("GPUs: CUDA is already initialised in this process, too late to choose its devices: nothing claimed "
            "(claim before anything touches CUDA: start_job first)", flush=True)
        return None
    if found is None:
        if environ.get("SLURM_JOB_ID"):
            log(f"GPUs: SLURM job {environ['SLURM_JOB_ID']}: the scheduler's assignment stands "
                f"(CUDA_VISIBLE_DEVICES={environ.get('CUDA_VISIBLE_DEVICES', '<unset>')})", flush=True)
        return None
    pool, source = found
    if not pool:
        if count:
            log(f"GPUs: this job asks for gpu={count}, but {source} lists none to share out "
                f"(no GPU, or MIG: list its devices in {POOL_ENV}); CUDA_VISIBLE_DEVICES is left as it is", flush=True)
        return None
    release()
    if count <= 0:
        environ["CUDA_VISIBLE_DEVICES"] = ""
        log("GPUs: this job asks for none (no gpu resource): CUDA_VISIBLE_DEVICES is empty", flush=True)
        return []
    if count > len(pool):
        raise ValueError(
            f"this job asks for gpu={count}, but this machine has {len(pool)} GPU(s) ({','.join(pool)}, from {source}): "
            f"lower the job's gpu resource (training.num_processes, or regularized's parallel_device) or run it on a "
            f"machine with {count}; and keep `--resources gpu=N` at most {len(pool)}")
    if wait_s is None:
        wait_s = float(environ.get(WAIT_ENV) or DEFAULT_WAIT_S)
    folder = lock_dir(environ)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    waiting = False
    while True:
        claimed, holders = _try_claim(folder, pool, count, holder)
        if claimed is not None:
            break
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"no {count} free GPU(s) among {','.join(pool)} (from {source}) after {wait_s:g} s; {holders}. "
                f"More GPU jobs run at once than there are GPUs: pass `--resources gpu=N` with N at most "
                f"{len(pool)}, wait for the other run, or end a leftover process named above; "
                f"{WAIT_ENV}=seconds waits longer (lock files: {folder})")
        if not waiting:
            log(f"GPUs: waiting for {count} free of {','.join(pool)}; {holders}", flush=True)
            waiting = True
        time.sleep(poll_s)
    environ["CUDA_VISIBLE_DEVICES"] = ",".join(claimed)
    log(f"GPUs: this job runs on {','.join(claimed)} of {','.join(pool)} (from {source}); "
        f"CUDA_VISIBLE_DEVICES={environ['CUDA_VISIBLE_DEVICES']}", flush=True)
    return claimed


def release() -> None:
    """Give back this process's GPUs now (a process's end does the same)."""
    while _held:
        os.close(_held.pop())


def _lock_file(folder: Path, device: str) -> Path:
    return folder / (re.sub(r"[^A-Za-z0-9._-]", "_", device) + ".lock")


def _try_claim(folder: Path, pool: list[str], count: int, holder: str) -> tuple[list[str] | None, str]:
    """``count`` ids locked for good, or None (nothing kept) and who holds the others.

    One claimant tries at a time (the ``.claim`` lock), so two jobs that each need two
    GPUs cannot take one each and both wait."""
    import fcntl

    mutex = os.open(folder / ".claim", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(mutex, fcntl.LOCK_EX)
        taken: list[tuple[str, int]] = []
        busy: list[str] = []
        for device in pool:
            fd = os.open(_lock_file(folder, device), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                busy.append(f"GPU {device} held by {os.pread(fd, 4096, 0).decode(errors='replace').strip() or 'a job'}")
                os.close(fd)
                continue
            taken.append((device, fd))
            if len(taken) == count:
                break
        if len(taken) < count:
            for _, fd in taken:
                os.close(fd)
            return None, "; ".join(busy)
        note = f"pid {os.getpid()}{' (' + holder + ')' if holder else ''}\n".encode()
        for _, fd in taken:
            os.ftruncate(fd, 0)
            os.pwrite(fd, note, 0)
        _held.extend(fd for _, fd in taken)
        return [device for device, _ in taken], ""
    finally:
        os.close(mutex)


def process_gpus(environ=None) -> int:
    """How many GPUs this process may use for itself: every GPU it sees (after ``claim``,
    those its job was given), but one per process of a multi-process launch, where each
    process owns ``cuda:LOCAL_RANK`` of the job's GPUs."""
    import torch

    environ = os.environ if environ is None else environ
    seen = torch.cuda.device_count()
    return min(seen, 1) if int(environ.get("WORLD_SIZE", "1")) > 1 else seen
