from corpora.jsonl import read_jsonl
from scripts._common import start_job

start_job(snakemake)
from evaluation.winrate import control_table, plot_winrate, win_rate_table, with_judge_controls

params = snakemake.params
judgements = [row for file in snakemake.input.judgements for row in read_jsonl(file)]
table = win_rate_table(judgements, params.methods, judge=params.judge, n_resamples=params.resamples)
controls = control_table(read_jsonl(snakemake.input.controls), decision=params.decision,
                         n_resamples=params.resamples, judge=params.judge)
table = with_judge_controls(table, controls)
table.to_csv(snakemake.output.table, index=False)
controls.to_csv(snakemake.output.controls, index=False)
print(plot_winrate(table, snakemake.output.plot, methods=params.methods, controls=controls))
print(controls.to_string())
print(table.to_string())
