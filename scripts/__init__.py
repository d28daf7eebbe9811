"""Thin scripts run by the workflow's rules (``script:``): read snakemake's inputs,
call library code, write outputs."""
