import shutil
import subprocess
import tempfile
from pathlib import Path

from scripts._common import start_job

start_job(snakemake)
from corpora.jigsaw import KAGGLE_COMPETITION, extract_kaggle_archive

out_dir = Path(snakemake.output[0]).parent
instructions = (
    f"Download the Kaggle competition data (it needs a Kaggle account that accepted the competition's rules): "
    f"`kaggle competitions download -c {KAGGLE_COMPETITION}`, then unzip train.csv, test.csv and "
    f"test_labels.csv into {out_dir}/ and rerun."
)
if shutil.which("kaggle") is None:
    raise SystemExit(f"the `kaggle` command is not installed (pip install kaggle). {instructions}")
with tempfile.TemporaryDirectory() as tmp:
    done = subprocess.run(["kaggle", "competitions", "download", "-c", KAGGLE_COMPETITION, "-p", tmp])
    archives = sorted(Path(tmp).glob("*.zip"))
    if done.returncode != 0 or not archives:
        raise SystemExit(f"`kaggle competitions download` failed (exit {done.returncode}). {instructions}")
    for path in extract_kaggle_archive(archives[0], out_dir):
        print(f"{path}: {path.stat().st_size} bytes")
