"""Corpora for the suite: offline stand-ins (`corpora.embedded`) and the loaders that
read them or the paper's real data sets into canonical records (`corpora.loaders`).

Importing this package is cheap (no torch, no `datasets`): the workflow imports it
while parsing.
"""

from corpora.embedded import DEFAULT_PARAMS, build_all
from corpora.loaders import LOADERS, DataError, load, mix_domains

__all__ = ["DEFAULT_PARAMS", "build_all", "LOADERS", "DataError", "load", "mix_domains"]
