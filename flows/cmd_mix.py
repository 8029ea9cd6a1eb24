"""`tamiz mix` (the GPT-3-style table of a corpus), `tamiz shard` (tokenize, pack, mix into Arrow
shards) and `tamiz verify` (check a shard folder against its manifest)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List, Optional

import typer

from tamiz.flows.console import console, err_console, fail, table


def register(app: typer.Typer) -> None:
    app.command("mix")(mix)
    app.command("shard")(shard)
    app.command("verify")(verify)


def mix(
    config: Path = typer.Argument(..., help="The dataset table (YAML): sources with inputs, kinds and weights."),
    inputs: Optional[List[Path]] = typer.Argument(None, help="Documents to count instead of the table's inputs, "
                                                  "e.g. the docs/ of a later stage (each document's own source "
                                                  "names its row). Default: every source's inputs in the table."),
    tokens: Optional[int] = typer.Option(None, "--tokens", "-n", help="Training budget in tokens (default: the "
                                         "table's shards.tokens, else the corpus size)."),
    tokenizer: Optional[Path] = typer.Option(None, help="tokenizer.json to count tokens exactly (default: estimate "
                                             "from UTF-8 bytes at 3.6 bytes per token)."),
    dask_address: Optional[str] = typer.Option(None, help="Run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786."),
    workers: Optional[int] = typer.Option(None, min=1, help="Worker processes of the local Dask cluster (default: cores)."),
) -> None:
    """Print the GPT-3-style table of a corpus: tokens per source, weight, and the epochs that weight
    implies for a training budget of --tokens N (weight x N / source tokens).

    A weight is the share of TRAINING TOKENS a source gets (weights are normalized to sum 1); a
    source with more than 4 epochs is repeated a lot and gets a warning. Counting the table's raw
    inputs measures text after HTML extraction but before language ID, filters and dedup: pass a
    later stage's docs/ folder as INPUTS for the tokens that will really be trained on.
    """
    from tamiz.pipeline.mix import mix_table
    from tamiz.shards.tokenize import BYTES_PER_TOKEN_ESTIMATE, tokenizer_info
    from tamiz.pipeline.table import load_table

    try:
        tab = load_table(config)
        if tokens is not None and tokens < 1:
            raise ValueError(f"--tokens: {tokens} is not a positive number of tokens")
        if tokenizer is not None:
            tokenizer_info(tokenizer)
        pairs = _inputs(tab, inputs)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))

    from tamiz.flows.mix import mix_flow
    from tamiz.flows.runtime import StageFailed

    rehydrate = {n: c.as_dict()["buckets"] for n, c in tab.rehydrate_configs().items()}
    try:
        counts = mix_flow(pairs, str(tokenizer) if tokenizer else None, dask_address=dask_address, workers=workers,
                          rehydrate=rehydrate or None)
    except StageFailed as e:
        fail(str(e), code=1)
    try:
        _check_sources(tab, counts)
        n_tokens = {s.name: counts.get(s.name, {}).get("tokens", 0) for s in tab.sources}
        n_rehydrated = [counts.get(s.name, {}).get("rehydrated_tokens", n_tokens[s.name]) for s in tab.sources]
        budget = tokens or tab.shards.tokens or sum(n_rehydrated)
        rows, warnings = mix_table([(s.name, s.kind, counts.get(s.name, {}).get("documents", 0), n_tokens[s.name])
                                    for s in tab.sources], [s.weight for s in tab.sources], budget, n_rehydrated)
    except ValueError as e:
        fail(f"{config}: {e}")
    how = "counted with " + str(tokenizer) if tokenizer else f"estimated at {BYTES_PER_TOKEN_ESTIMATE} bytes/token"
    title = f"{tab.name or config}: mix for {budget:,} training tokens (tokens {how})"
    total = ("total", sum(r.documents for r in rows), sum(r.tokens for r in rows))
    if not rehydrate:
        table(title, ["source", "documents", "tokens", "weight", "tokens in mix", "epochs"],
              [(r.name, r.documents, r.tokens, f"{r.weight:.1%}", round(r.mix_tokens), f"{r.epochs:.2f}") for r in rows]
              + [(*total, "100.0%", budget, "")])
    else:  # docs/data-format.md, "Rehydration": epochs over the stream with copies, and over the unique text
        table(title, ["source", "documents", "tokens", "rehydrated", "weight", "tokens in mix", "epochs",
                      "epochs of unique text"],
              [(r.name, r.documents, r.tokens, r.rehydrated_tokens, f"{r.weight:.1%}", round(r.mix_tokens),
                f"{r.epochs:.2f}", f"{r.unique_epochs:.2f}") for r in rows]
              + [(*total, sum(r.rehydrated_tokens for r in rows), "100.0%", budget, "", "")])
        console.print("rehydrated: tokens once each document is repeated by its duplicate-cluster size "
                      f"({', '.join(rehydrate)}; every counted document, the future validation split too)."
                      + ("" if inputs else " The raw inputs have no cluster sizes yet (dedup records them): pass "
                         "dedup's docs/ as INPUTS to see rehydration's effect."))
    for w in warnings:
        err_console.print(f"[bold yellow]warning:[/] {w}", highlight=False)
    if not inputs:
        console.print("Counted on the table's raw inputs (after HTML extraction; before language ID, filters and "
                      "dedup). Pass a stage's docs/ folder to count the documents that will be trained on.")


def shard(
    inputs: Optional[List[Path]] = typer.Argument(None, help="Documents: Parquet shards of an earlier stage (a stage "
                                                  "folder means its docs/), or anything `tamiz ingest` reads. Each "
                                                  "document's source comes from the document (else its folder name). "
                                                  "Default with --table: every source's inputs in the table."),
    tokenizer: Path = typer.Option(..., help="tokenizer.json (HF tokenizers) with an <|endoftext|> token; copied "
                                   "into the output folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: train-*.arrow, validation-*.arrow, "
                             "tokenizer.json, manifest.json (and _tokenized/ for reruns)."),
    table_path: Optional[Path] = typer.Option(None, "--table", help="Dataset table (YAML) with the weights and the "
                                              "shards: settings (default: no reweighting, every source once)."),
    seq_len: Optional[int] = typer.Option(None, help="Tokens per training sequence; rows hold seq_len + 1 (default: "
                                          "the table's, else 1024)."),
    seed: Optional[int] = typer.Option(None, help="Seed of the mix: which rows repeat and in which order (default: "
                                       "the table's, else 0)."),
    validation_fraction: Optional[float] = typer.Option(None, help="Share of documents held out for validation, by "
                                                        "a hash of the document id (default: the table's, else 0.005)."),
    row_start: Optional[str] = typer.Option(None, help="any: rows are consecutive windows of the token stream; "
                                            "document: each row starts at a document, padded with <pad>."),
    tokens: Optional[int] = typer.Option(None, "--tokens", "-n", help="Training tokens the train split holds "
                                         "(default: the table's shards.tokens, else the corpus size)."),
    dask_address: Optional[str] = typer.Option(None, help="Run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786."),
    workers: Optional[int] = typer.Option(None, min=1, help="Worker processes of the local Dask cluster (default: cores)."),
) -> None:
    """Tokenize documents, pack them into rows of seq_len + 1 tokens and mix sources by the table's
    weights into Arrow shards that `datasets` loads and `tamiz.train.loader.PackedLoader` reads.

    Each input file is one task on the Dask cluster (a rerun skips files already tokenized with the
    same tokenizer); documents are split into train and validation BY DOCUMENT, so no validation text
    is in training. Then one task packs every source in input order, repeats or subsamples it to its
    share of --tokens (whole passes plus a seeded partial pass) and interleaves the sources so that
    every prefix of the train split matches the weights within one row per source. The manifest holds
    tokens and rows per source, checksums, the tokenizer's sha256, seq_len and the seed.
    """
    from tamiz.shards.tokenize import tokenizer_info
    from tamiz.pipeline.table import ShardConfig, load_table

    try:
        tab = load_table(table_path) if table_path else None
        base = tab.shards if tab else ShardConfig()
        overrides = {k: v for k, v in dict(seq_len=seq_len, seed=seed, validation_fraction=validation_fraction,
                                           row_start=row_start, tokens=tokens).items() if v is not None}
        try:
            config = dataclasses.replace(base, **overrides)
        except ValueError as e:  # name the option, not the field
            field, _, rest = str(e).partition(": ")
            raise ValueError(f"--{field.replace('_', '-')}: {rest}" if field in overrides else str(e)) from None
        tinfo = tokenizer_info(tokenizer)
        if config.row_start == "document" and tinfo.pad_id is None:
            raise ValueError(f"--row-start document: {tokenizer} has no <pad> token to pad rows with")
        if not inputs and tab is None:
            raise ValueError("INPUTS: give document files or folders, or --table to read every source's inputs")
        pairs = _inputs(tab, inputs)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))

    from tamiz.flows.mix import ShardsRefused, shard_flow
    from tamiz.flows.runtime import StageFailed
    from tamiz.core.lock import FolderLocked

    try:  # shard_flow holds the output-folder lock while it runs
        from tamiz.flows.outputs import stage_output

        with stage_output(out) as local:
            manifest = shard_flow(pairs, str(local), str(tokenizer), config, str(table_path) if table_path else None,
                                dask_address=dask_address, workers=workers)
    except FolderLocked as e:
        fail(str(e))
    except (StageFailed, ShardsRefused) as e:
        fail(str(e), code=1)
    print_shard_summary(manifest, local)  # the working folder when --out is a store URL (published there)


def verify(folder: Path = typer.Argument(..., help="A `tamiz shard` output folder.")) -> None:
    """Check a shard folder against its manifest: every listed file present with its size, sha256, schema and
    row count; the tokenizer copy unchanged; no unlisted train-/validation- file. Exit code 1 names every bad file.

    A read-only check that needs no Prefect server or cluster, so it runs directly (no flow).
    """
    from tamiz.shards.verify import ShardError, verify_shards

    try:
        summary = verify_shards(folder)
    except FileNotFoundError as e:
        fail(str(e))
    except (ShardError, ValueError) as e:
        fail(str(e), code=1)
    table(f"{folder}: OK", ["split", "rows"], list(summary["splits"].items()))
    console.print(f"{summary['files']} file(s), {summary['rows']:,} rows, {summary['tokens']:,} tokens: all match "
                  "the manifest.")


def _inputs(tab, inputs: Optional[List[Path]]) -> list[tuple[str, Optional[str]]]:
    """(path, source or None), sorted: the given inputs (a stage folder means its docs/) keep their documents'
    sources; the table's inputs are named by their row."""
    from tamiz.pipeline.inputs import input_files

    if inputs:
        return [(str(p), None) for p in sorted(dict.fromkeys(f.path for f in input_files(inputs)))]
    return [(str(p), s.name) for s in tab.sources for p in tab.resolve_inputs(s.name)]


def _check_sources(tab, counts: dict) -> None:
    for name in counts:
        if name not in tab.names:
            raise ValueError(f"documents of source {name!r} are not in the table (sources: {', '.join(tab.names)})")


def _print_rehydration(m: dict) -> None:
    """Each rehydrated source's buckets: training documents and tokens before and after (the manifest's
    `rehydration`), and a warning for documents that had no cluster size (not deduplicated)."""
    for s in m["sources"]:
        r = s.get("rehydration")
        if not r:
            continue
        table(f"{s['name']}: rehydration by duplicate-cluster size (training documents; epochs of unique text "
              f"{s['epochs_unique']:.2f})", ["cluster size", "copies", "documents", "tokens", "documents with copies",
                                             "tokens with copies"],
              [(b["sizes"], f"{b['copies']:g}", b["documents"], b["tokens"], b["rehydrated_documents"],
                b["rehydrated_tokens"]) for b in r["buckets"]]
              + [("total", "", s["documents"]["train"], s["tokens"]["train"], s["documents"]["train_rehydrated"],
                  s["tokens"]["train_rehydrated"])])
        if r["without_cluster_size"]:
            err_console.print(f"[bold yellow]warning:[/] {s['name']}: {r['without_cluster_size']:,} training "
                              "document(s) carry no dup_cluster_size (not deduplicated by tamiz dedup) and count "
                              "as clusters of 1", highlight=False)


def print_shard_summary(m: dict, out: Path) -> None:
    from tamiz.pipeline.mix import MAX_EPOCHS

    rows = [(s["name"], f"{s['weight']:.1%}", s["tokens"]["train"], s["rows"]["unique"], s["rows"]["train"],
             f"{s['epochs']:.2f}") for s in m["sources"]]
    table(f"shards: rows of {m['row_tokens']} tokens (seq_len {m['seq_len']}, {m['dtype']}, row start: {m['row_start']})",
          ["source", "weight", "train tokens", "unique rows", "rows in mix", "epochs"], rows)
    for s in m["sources"]:
        if s["epochs"] > MAX_EPOCHS:
            err_console.print(f"[bold yellow]warning:[/] {s['name']} is repeated {s['epochs']:.1f} times (more than "
                              f"{MAX_EPOCHS:g} epochs)", highlight=False)
    _print_rehydration(m)
    train, val = m["splits"]["train"], m["splits"]["validation"]
    val_docs = sum(s["documents"]["validation"] for s in m["sources"])
    console.print(f"train: {train['rows']:,} rows in {len(train['files'])} file(s), budget {m['budget_tokens']:,} "
                  f"tokens; validation: {val['rows']:,} rows from {val_docs:,} held-out documents in "
                  f"{len(val['files'])} file(s). "
                  f"{'Already built (nothing changed). ' if m.get('resumed') else ''}"
                  f"{len(m['inputs'])} input file(s), {m.get('tokenized_resumed', 0)} already tokenized. "
                  f"Output: {out}/manifest.json (check with `tamiz verify {out}`)")
