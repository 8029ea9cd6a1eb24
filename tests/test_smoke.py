from pathlib import Path

import pyarrow.parquet as pq


def test_ingested_sample_has_three_sources(ingested_sample: Path):
    sources = set()
    for f in (ingested_sample / "docs").glob("*.parquet"):
        sources |= set(pq.read_table(f, columns=["source"]).column("source").to_pylist())
    assert sources == {"common_crawl", "books", "reference"}
