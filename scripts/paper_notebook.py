import os

from scripts._common import start_job

start_job(snakemake)
import papermill

# Relative paths keep the executed copy free of machine-specific folders; the kernel
# runs in the workflow's working directory, where results/ lives.
papermill.execute_notebook(
    snakemake.input.notebook,
    snakemake.output[0],
    parameters={"results_dir": os.path.dirname(os.path.dirname(snakemake.input.tables[0])), "paper_file": snakemake.input.paper},
    kernel_name="python3",
    cwd=os.getcwd(),
    log_output=True,
    progress_bar=False,
)
