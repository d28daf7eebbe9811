from scripts._common import start_job

start_job(snakemake)
import pandas as pd

from evaluation.plots import plot_main

plot_main(pd.read_csv(snakemake.input[0]), snakemake.output[0])
