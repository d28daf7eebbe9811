from scripts._common import start_job

start_job(snakemake)
from evaluation.tables import main_table, read_run_metrics, read_run_samples

runs = read_run_metrics(snakemake.input.toxicity + snakemake.input.benchmarks + list(getattr(snakemake.input, "fluency", [])))
# Several seeds: the toxicity interval is a bootstrap over prompts of all seeds' samples
# pooled, which needs the scored generations (input `scored`); without them it falls
# back to a t-interval across seeds. One seed needs nothing beyond toxicity.json.
scored = list(getattr(snakemake.input, "scored", []))
several_seeds = runs.groupby(["model", "method"])["seed"].nunique().gt(1).any()
samples = read_run_samples(scored) if scored and several_seeds else None
by_seed, table = main_table(
    runs, methods=snakemake.params.methods, models=snakemake.params.models, samples=samples,
    n_resamples=int(getattr(snakemake.params, "resamples", 1000)),
)
by_seed.to_csv(snakemake.output.by_seed, index=False)
table.to_csv(snakemake.output.table, index=False)
print(table.to_string())
