import urllib.request
from pathlib import Path

from scripts._common import start_job

start_job(snakemake)
out = Path(snakemake.output[0])
tmp = out.with_name(out.name + ".tmp")
try:
    with urllib.request.urlopen(snakemake.params.url, timeout=60) as response:
        tmp.write_bytes(response.read())
except OSError as err:
    raise SystemExit(
        f"could not download {snakemake.params.url} ({err}). On a machine with a network, "
        f"download it and copy it to {out}, then rerun."
    ) from None
tmp.replace(out)
print(f"{out}: {out.stat().st_size} bytes")
