from pathlib import Path

from scripts._common import start_job

start_job(snakemake)
from corpora.jigsaw import download_kaggle_jigsaw

try:
    written = download_kaggle_jigsaw(Path(snakemake.output[0]).parent)
except RuntimeError as err:
    raise SystemExit(str(err)) from None
for path in written:
    print(f"{path}: {path.stat().st_size} bytes")
