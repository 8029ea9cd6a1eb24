"""`tamiz ingest`: WARC/JSONL/Parquet/text -> extracted text -> Spanish documents (Parquet)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from tamiz.flows.console import console, fail, table


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    inputs: List[Path] = typer.Argument(..., help="WARC (.warc, .warc.gz), JSONL (.jsonl[.gz]), Parquet files, "
                                        "folders of them, .txt(.gz) files (one document per paragraph) or folders "
                                        "of .txt files (one document per file); see --text-unit."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder of the stage: docs/, rejects/, "
                             "quarantine/ and manifest.json are written there."),
    source: Optional[str] = typer.Option(None, help="Source name for every input (default: the name of "
                                         "each input's parent folder, e.g. common_crawl)."),
    extractor: str = typer.Option("resiliparse", help="HTML to text: resiliparse (default, fastest) or trafilatura."),
    language: str = typer.Option("es", help="Keep documents whose top fastText language is this code."),
    threshold: float = typer.Option(None, help="Minimum language probability to keep a document "
                                    "(default: the value measured on the sample, see docs/langid.md)."),
    no_langid: bool = typer.Option(False, "--no-langid", help="Keep every language (no language ID)."),
    text_unit: str = typer.Option("auto", help="How .txt(.gz) files become documents: paragraph (blank lines "
                                  "separate documents), line (one per line), file (one per file), or auto "
                                  "(paragraph for a file named here, file for the files of a folder)."),
    url_filter: Optional[Path] = typer.Option(None, help="YAML/JSON file of URL-filter settings (blocklist: a "
                                              "folder in UT1's layout, categories, domains, urls, block_tlds, "
                                              "only_tlds, words; paths relative to the file): pages whose URL they "
                                              "block are dropped before extraction. See docs/filters.md."),
    dask_address: Optional[str] = typer.Option(None, help="Run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 "
                                               "(default: a local cluster of worker processes)."),
    workers: Optional[int] = typer.Option(None, min=1, help="Worker processes of the local Dask cluster (default: cores)."),
) -> None:
    """Read crawls and curated sources, extract the main text of HTML pages and keep one language.

    Every input file is one task on the Dask cluster; a rerun skips files already done with the same
    settings. Records that cannot be read are counted and written to quarantine/ with the reason
    and byte offset; dropped documents go to rejects/ with their reason. Counts reconcile:
    records = kept + dropped + skipped + quarantined.
    """
    from tamiz.pipeline.ingest import IngestConfig
    from tamiz.pipeline.langid import DEFAULT_THRESHOLD, load_model
    from tamiz.flows.outputs import stage_output
    from tamiz.pipeline.readers import default_source, expand_inputs

    try:
        config = IngestConfig(extractor=extractor, language=language,
                              language_threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
                              language_id=not no_langid, text_unit=text_unit,
                              url_filter=read_url_filter(url_filter) if url_filter is not None else None)
        files = expand_inputs(inputs)
        if not no_langid:
            load_model()
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    pairs = [(str(f), source or default_source(f)) for f in files]

    from tamiz.flows.ingest import ingest_flow
    from tamiz.flows.runtime import StageFailed
    from tamiz.core.lock import FolderLocked

    try:
        with stage_output(out) as local:
            summary = ingest_flow(pairs, str(local), config, dask_address=dask_address, workers=workers)
    except FolderLocked as e:
        fail(str(e))
    except StageFailed as e:
        fail(str(e), code=1)
    print_ingest_summary(summary, local)  # the working folder when --out is a store URL (published there)


def read_url_filter(path: Path):
    """The --url-filter file as a UrlFilterConfig (its paths relative to the file's folder); ValueError names
    the file, the setting, and for a list the list's file and line."""
    from tamiz.core.config import from_mapping
    from tamiz.core.yamlsafe import read_mapping
    from tamiz.pipeline.urlfilter import UrlFilterConfig, resolve_paths

    data = read_mapping(path, "URL-filter file", expected="a mapping of URL-filter settings")
    return from_mapping(UrlFilterConfig, resolve_paths(data, path.parent), "url_filter", file=path)


def print_ingest_summary(summary: dict, out: Path) -> None:
    c = summary["counts"]
    html_pages = c["records"] - sum(c["skipped"].values()) - c["quarantined"]
    rows = [
        ("records read", c["records"]),
        ("documents (HTML pages and text records)", html_pages),
        ("  with text after extraction", html_pages - c["dropped"].get("empty:no_text", 0)),
        ("  kept", c["kept"]),
        ("quarantined (unreadable)", c["quarantined"]),
        ("files with errors", c["file_errors"]),
    ]
    rows += [(f"skipped: {k}", v) for k, v in c["skipped"].items()]
    rows += [(f"dropped: {k}", v) for k, v in c["dropped"].items()]
    table("ingest", ["", "count"], rows)
    top = list(c["languages"].items())[:8]
    table("top languages (all documents with text)", ["language", "documents"], top)
    table("by source", ["source", "records", "kept"], [(s, v["records"], v["kept"]) for s, v in c["by_source"].items()])
    console.print(f"{summary['shards']} input file(s), {summary['resumed']} already done. "
                  f"Output: {out}/docs (kept), {out}/rejects, {out}/quarantine, {out}/manifest.json")
