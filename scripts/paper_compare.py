from scripts._common import start_job

start_job(snakemake)
import pandas as pd

from evaluation.compare import compare, read_paper
from evaluation.plots import plot_paper_comparison

frame = compare(snakemake.params.table, pd.read_csv(snakemake.input.ours), read_paper(snakemake.input.paper),
                snakemake.params.models)
frame.to_csv(snakemake.output.table, index=False)
plot_paper_comparison(frame, snakemake.output.plot)
print(frame.to_string())
