# Our tables beside the paper's reported numbers, and the notebook that shows every
# table and plot. Reads only results/tables/*.csv and the paper's numbers: never trains.
#   results/tables/paper_comparison_{main,winrate,jigsaw}.csv   ours vs the paper, ranks, Kendall tau
#   results/plots/paper_comparison_{main,winrate,jigsaw}.png
#   results/paper_tables.ipynb                                  paper_tables.ipynb, executed
# The win-rate and Jigsaw comparisons exist only when their tables are enabled.

# Shipped with the repository (results/paper/ is committed), so found next to this
# file rather than in the working directory, which differs under --directory.
_REPO = os.path.dirname(str(workflow.current_basedir))
PAPER_REPORTED = os.path.relpath(os.path.join(_REPO, "results", "paper", "paper_reported.csv"))
PAPER_NOTEBOOK = os.path.relpath(os.path.join(_REPO, "paper_tables.ipynb"))

PAPER_TABLES = ["main"]
if (config.get("evaluation", {}).get("winrate") or {}).get("judge"):
    PAPER_TABLES.append("winrate")
if (config.get("jigsaw") or {}).get("enabled"):
    PAPER_TABLES.append("jigsaw")
PAPER_MODELS = (config.get("paper_comparison") or {}).get("models") or {}

# For `rule tables`: every comparison of an enabled table, and the executed notebook.
PAPER_OUTPUTS = (
    expand("results/tables/paper_comparison_{table}.csv", table=PAPER_TABLES)
    + expand("results/plots/paper_comparison_{table}.png", table=PAPER_TABLES)
    + ["results/paper_tables.ipynb"]
)


rule compare_main:
    input:
        ours="results/tables/main.csv",
        paper=PAPER_REPORTED,
    output:
        table=report(
            "results/tables/paper_comparison_main.csv",
            caption="../report/paper_comparison_table.rst",
            category="Paper comparison",
            subcategory="Main table",
        ),
        plot=report(
            "results/plots/paper_comparison_main.png",
            caption="../report/paper_comparison_plot.rst",
            category="Paper comparison",
            subcategory="Main table",
        ),
    params:
        table="main",
        models=PAPER_MODELS,
    log:
        "logs/compare_main.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/paper_compare.py"


rule compare_winrate:
    input:
        ours="results/tables/winrate.csv",
        paper=PAPER_REPORTED,
    output:
        table=report(
            "results/tables/paper_comparison_winrate.csv",
            caption="../report/paper_comparison_table.rst",
            category="Paper comparison",
            subcategory="Win rate",
        ),
        plot=report(
            "results/plots/paper_comparison_winrate.png",
            caption="../report/paper_comparison_plot.rst",
            category="Paper comparison",
            subcategory="Win rate",
        ),
    params:
        table="winrate",
        models=PAPER_MODELS,
    log:
        "logs/compare_winrate.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/paper_compare.py"


rule compare_jigsaw:
    input:
        ours="results/tables/jigsaw.csv",
        paper=PAPER_REPORTED,
    output:
        table=report(
            "results/tables/paper_comparison_jigsaw.csv",
            caption="../report/paper_comparison_table.rst",
            category="Paper comparison",
            subcategory="Jigsaw",
        ),
        plot=report(
            "results/plots/paper_comparison_jigsaw.png",
            caption="../report/paper_comparison_plot.rst",
            category="Paper comparison",
            subcategory="Jigsaw",
        ),
    params:
        table="jigsaw",
        models=PAPER_MODELS,
    log:
        "logs/compare_jigsaw.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/paper_compare.py"


# The notebook reads CSVs only; executing it here keeps its committed copy in step
# with the tables (papermill, kernel "python3": ipykernel in the environment).
rule paper_notebook:
    input:
        notebook=PAPER_NOTEBOOK,
        paper=PAPER_REPORTED,
        tables=["results/tables/main.csv", "results/tables/main_by_seed.csv", "results/tables/cost.csv", "results/tables/cost_training.csv",
                "results/tables/paired.csv", "results/tables/claims.csv"]
        + expand("results/tables/{table}.csv", table=[table for table in PAPER_TABLES if table != "main"])
        + [file for file in WINRATE_OUTPUTS if file.endswith("winrate_controls.csv")]
        + expand("results/tables/paper_comparison_{table}.csv", table=PAPER_TABLES),
    output:
        "results/paper_tables.ipynb",
    log:
        "logs/paper_notebook.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/paper_notebook.py"
