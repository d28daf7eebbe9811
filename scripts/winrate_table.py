from corpora.jsonl import read_jsonl
from scripts._common import start_job

start_job(snakemake)
from evaluation.winrate import plot_winrate, win_rate_table

judgements = [row for file in snakemake.input for row in read_jsonl(file)]
table = win_rate_table(judgements, snakemake.params.methods, judge=snakemake.params.judge,
                       n_resamples=snakemake.params.resamples)
table.to_csv(snakemake.output.table, index=False)
plot_winrate(table, snakemake.output.plot, methods=snakemake.params.methods)
print(table.to_string())
