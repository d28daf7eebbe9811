from scripts._common import start_job

start_job(snakemake)
import pandas as pd

from evaluation.jigsaw import plot_jigsaw

plot_jigsaw(pd.read_csv(snakemake.input[0]), snakemake.output[0])
