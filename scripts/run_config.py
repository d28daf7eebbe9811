from pathlib import Path

import yaml

from scripts._common import start_job

start_job(snakemake)
out = Path(snakemake.output[0])
tmp = out.with_name(out.name + ".tmp")
tmp.write_text("# The effective config of this run (schema defaults filled in), written by the run_config rule.\n"
               + yaml.safe_dump(dict(snakemake.params.config), sort_keys=False, allow_unicode=True))
tmp.replace(out)
