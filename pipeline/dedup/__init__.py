"""Exact and MinHash-LSH near-duplicate removal, within and across sources and across crawls.

config.py (DedupConfig, LSH parameters) -> normalize.py -> minhash.py (datasketch-compatible
signatures) -> exact.py / lsh.py -> stages.py (the stages over files) -> unionfind.py ->
report.py; run.py runs every stage in one process, flows/dedup.py on a Dask cluster.
See docs/dedup.md.
"""

from tamiz.pipeline.dedup.config import DedupConfig, optimal_param, s_curve

__all__ = ["DedupConfig", "optimal_param", "s_curve"]
