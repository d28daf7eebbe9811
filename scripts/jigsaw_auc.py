from corpora.jsonl import read_jsonl, write_json
from scripts._common import start_job

start_job(snakemake)
from evaluation.classification import (
    bootstrap_auc_ci,
    classifier_probabilities,
    label_probabilities,
    load_classifier,
    roc_auc,
)
from modeling import read_manifest
from modeling.load import load_causal_lm, load_tokenizer

params = snakemake.params
manifest = read_manifest(snakemake.input.manifest)
rows = read_jsonl(snakemake.input.test)
comments, labels = [row["comment"] for row in rows], [row["label"] for row in rows]
classifier_path = manifest.extra.get("classifier_path")
if classifier_path:  # a classification head (sft_cls): its softmax probability of class 1
    model, tokenizer = load_classifier(classifier_path)
    scores = classifier_probabilities(model, tokenizer, comments, max_length=params.max_length, batch_size=params.batch_size)
    scoring = "classifier softmax P(class 1)"
else:  # an LM: the label word's probability after the prompt template
    model, tokenizer = load_causal_lm(manifest.path), load_tokenizer(manifest.path)
    scores = label_probabilities(model, tokenizer, comments, template=params.template, label_words=params.label_words,
                                 max_length=params.max_length, batch_size=params.batch_size)
    scoring = f"P({params.label_words[1]!r}) / (P({params.label_words[1]!r}) + P({params.label_words[0]!r})) after the prompt"
seed = int(snakemake.wildcards.seed)
low, high = bootstrap_auc_ci(labels, scores, n_resamples=params.resamples, seed=seed)
metrics = {
    "roc_auc": roc_auc(labels, scores),
    "roc_auc_ci_low": low,
    "roc_auc_ci_high": high,
    "interval": f"95% percentile bootstrap over test comments, stratified by label ({params.resamples} resamples)",
    "n_test": len(rows),
    "n_toxic": int(sum(labels)),
    "scoring": scoring,
    "max_length": params.max_length,
    "seed": seed,
}
print(metrics)
write_json(metrics, snakemake.output[0])
