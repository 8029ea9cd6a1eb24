"""`tamiz filter`, `tamiz quality train|score`, `tamiz perplexity train`: quality filtering of documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from tamiz.flows.console import console, fail, table

quality_app = typer.Typer(help="Train and apply the fastText quality classifier (GPT-3 / DCLM style).",
                          no_args_is_help=True, add_completion=False, rich_markup_mode=None)
perplexity_app = typer.Typer(help="Train tamiz's character n-gram model for perplexity sampling (cc_net / BERTIN).",
                             no_args_is_help=True, add_completion=False, rich_markup_mode=None)

_INPUTS_HELP = ("tamiz Parquet shards (e.g. the docs/ folder of `tamiz ingest`), JSONL files, or folders of them. "
                "Each document keeps its source; files without one get their parent folder's name.")


def register(app: typer.Typer) -> None:
    app.command("filter")(filter_cmd)
    app.add_typer(quality_app, name="quality")
    app.add_typer(perplexity_app, name="perplexity")


def filter_cmd(
    inputs: List[Path] = typer.Argument(..., help=_INPUTS_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: docs/ (kept), rejects/ (with the reason), "
                             "quarantine/, funnel.json, funnel.png and manifest.json."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML/JSON file with threshold overrides: "
                                          "sections 'default' and 'sources' (per source name), and optional "
                                          "'quality' and 'perplexity' settings. See docs/filters.md."),
    no_heuristics: bool = typer.Option(False, "--no-heuristics", help="Skip the Gopher/C4/FineWeb rules (and the "
                                       "per-source PII redaction that ends their chain)."),
    quality_model: Optional[Path] = typer.Option(None, help="A classifier from `tamiz quality train`: score every "
                                                 "document and keep by --quality-rule."),
    quality_rule: Optional[str] = typer.Option(None, help="pareto (GPT-3, default), threshold, top_percent (DCLM) "
                                               "or none (score only)."),
    perplexity_model: Optional[Path] = typer.Option(None, help="A model from `tamiz perplexity train` (.npz) or a "
                                                    "KenLM .arpa/.bin (needs the kenlm package): store perplexities."),
    perplexity_sampling: Optional[str] = typer.Option(None, help="none (default), gaussian or stepwise (BERTIN), "
                                                      "buckets (cc_net head/middle/tail)."),
    source: Optional[str] = typer.Option(None, help="Source name for documents that have none."),
    evaluation_set: Optional[List[Path]] = typer.Option(None, "--evaluation-set", "-e", help="Decontaminate "
                                                        "against this evaluation set (repeat): .jsonl (field "
                                                        "'text'), or .txt (one item a paragraph). Documents sharing "
                                                        "a 13-word n-gram with it are dropped; n-gram size, fields "
                                                        "and tagging instead of dropping: 'decontamination' in "
                                                        "--config."),
    dask_address: Optional[str] = typer.Option(None, help="Run on an existing Dask cluster (default: a local one)."),
    workers: Optional[int] = typer.Option(None, min=1, help="Worker processes of the local Dask cluster."),
    calibrate: bool = typer.Option(False, "--calibrate", help="Filter nothing: measure a sample of each source "
                                   "and propose the heuristic thresholds from the distributions (FineWeb-2's way). "
                                   "Writes calibration.json (pass it back with --config), calibration.md, "
                                   "distributions.json and histograms/ into --out."),
    sample: Optional[int] = typer.Option(None, min=1, help="With --calibrate: documents sampled per source "
                                         "(default 2000)."),
    method: Optional[str] = typer.Option(None, help="With --calibrate: quantile (default), tail, meanstd or "
                                         "median_ratio. See docs/filters.md, 'Calibrating thresholds'."),
    reference: Optional[List[str]] = typer.Option(None, help="With --calibrate (repeat): a source the current "
                                                  "thresholds suit, e.g. common_crawl (default: all sources)."),
) -> None:
    """Filter documents for quality: heuristic rules, a quality classifier and perplexity sampling.

    The heuristic chain (Gopher quality, Gopher repetition, C4, FineWeb) uses FineWeb-2's thresholds
    for Spanish; override any of them for all sources or per source with --config, where
    `pii: {enabled: true}` ends a source's chain with the personal-data redactor (replacements per
    kind in the summary). Every filter records what it measured in the document's metadata.
    Dropped documents go to rejects/ with "<step>:<reason>". Rules that need the score distribution
    (top_percent, perplexity sampling without fixed boundaries) run as a second pass. Ends with the
    funnel per source: documents and bytes left after each step and the top drop reasons;
    funnel.png shows the same.
    """
    from tamiz.pipeline.readers import expand_inputs

    if calibrate:
        return _calibrate(inputs, out, config, source, sample, method, reference, not_for_calibration={
            "--no-heuristics": no_heuristics, "--quality-model": quality_model, "--quality-rule": quality_rule,
            "--perplexity-model": perplexity_model, "--perplexity-sampling": perplexity_sampling,
            "--dask-address": dask_address, "--workers": workers, "--evaluation-set": evaluation_set})
    if sample is not None or method is not None or reference:
        fail("--sample, --method and --reference go with --calibrate")
    try:
        cfg = build_stage_config(config, not no_heuristics, quality_model, quality_rule, perplexity_model,
                                 perplexity_sampling, evaluation_set)
        files = expand_inputs(inputs)
        _check_models(cfg)
    except (ValueError, FileNotFoundError, TypeError) as e:
        fail(str(e))
    pairs = [(str(f), source) for f in files]

    from tamiz.flows.filter import filter_flow
    from tamiz.flows.runtime import StageFailed
    from tamiz.core.lock import FolderLocked

    try:  # filter_flow holds the output-folder lock while it runs
        from tamiz.flows.outputs import stage_output

        with stage_output(out) as local:
            summary = filter_flow(pairs, str(local), cfg, dask_address=dask_address, workers=workers)
    except FolderLocked as e:
        fail(str(e))
    except StageFailed as e:
        fail(str(e), code=1)
    print_funnel(summary, local)  # the working folder when --out is a store URL (published there)


def _calibrate(inputs: List[Path], out: Path, config: Optional[Path], source: Optional[str], sample: Optional[int],
               method: Optional[str], reference: Optional[List[str]], not_for_calibration: dict[str, Any]) -> None:
    """`tamiz filter --calibrate`: checks everything before reading, then flows/cmd_calibrate.py."""
    from tamiz.flows.cmd_calibrate import calibration_settings, run_calibrate
    from tamiz.pipeline.readers import expand_inputs

    given = [name for name, value in not_for_calibration.items() if value]
    _local_file_out(out)
    try:
        if given:
            raise ValueError(f"{given[0]}: --calibrate proposes the heuristic thresholds only and runs in this "
                             "process (no models, no Dask cluster)")
        data = _read_config(config) if config is not None else {}
        stage = build_stage_config(config, True, None, None, None, None)  # checks every section of the file
        settings = calibration_settings(data, config, sample, method, list(reference or []))
        files = expand_inputs(inputs)
    except (ValueError, FileNotFoundError, TypeError) as e:
        fail(str(e))
    run_calibrate(files, source, out, stage.filters, settings)


def build_stage_config(config_file: Optional[Path], heuristics: bool, quality_model: Optional[Path],
                       quality_rule: Optional[str], perplexity_model: Optional[Path],
                       perplexity_sampling: Optional[str], evaluation_sets: Optional[List[Path]] = None):
    """The stage config from the optional file and the command-line options (options win). Evaluation sets
    named in the file are relative to its folder; those of --evaluation-set to the current folder."""
    from tamiz.pipeline.filter_stage import FilterStageConfig
    from tamiz.pipeline.filters import FiltersConfig
    from tamiz.pipeline.perplexity.sampling import PerplexityConfig
    from tamiz.pipeline.quality.keep import QualityConfig

    data: dict[str, Any] = {}
    if config_file is not None:
        data = _read_config(config_file)
    unknown = set(data) - {"default", "sources", "quality", "perplexity", "calibrate"}
    if unknown:
        raise ValueError(f"{config_file}: unknown section(s) {', '.join(sorted(unknown))} "
                         "(expected default, sources, quality, perplexity, calibrate)")
    data = _evaluation_sets(data, config_file, evaluation_sets)
    try:
        filters = FiltersConfig.from_dict({k: data[k] for k in ("default", "sources") if k in data})
    except (ValueError, TypeError) as e:
        raise ValueError(f"{config_file}: {e}" if config_file is not None else str(e)) from None
    quality = _model_section(data, "quality", quality_model, "rule", quality_rule, QualityConfig,
                             "a quality rule needs a model")
    perplexity = _model_section(data, "perplexity", perplexity_model, "sampling", perplexity_sampling,
                                PerplexityConfig, "perplexity sampling needs a model")
    return FilterStageConfig(filters=filters, heuristics=heuristics, quality=quality, perplexity=perplexity)


def _evaluation_sets(data: dict[str, Any], config_file: Optional[Path], given: Optional[List[Path]]) -> dict[str, Any]:
    """`data` with the decontamination blocks' evaluation sets taken from the config file's folder, and the
    command line's sets (from the current folder) as the default for every source."""
    from tamiz.pipeline.filters.evalsets import resolve_sections

    if config_file is not None:
        data = resolve_sections(data, config_file.parent)
    if given:
        data = dict(data)
        default = data["default"] = dict(data.get("default") or {})
        block = default.get("decontamination")
        default["decontamination"] = {**(block if isinstance(block, dict) else {}),
                                      "evaluation_sets": [str(p.absolute()) for p in given]}
    return data


def _local_file_out(out: Path) -> None:
    """A model file is written locally (object storage is for stage folders: --out s3://... of a stage)."""
    from tamiz.flows.outputs import out_url

    if out_url(out) is not None:
        fail(f"--out {out_url(out)}: a model file is written to a local path; copy it to the store afterwards")


def _model_section(data: dict, key: str, model: Optional[Path], setting: str, value: Optional[str], cls, need: str):
    """The config file's `quality:` / `perplexity:` block with the command line's model and setting on top;
    None when neither gives anything."""
    block = dict(data.get(key) or {})
    if model is not None:
        block["model"] = str(model)
    if value is not None:
        block[setting] = value
    if not block:
        return None
    if "model" not in block:
        raise ValueError(f"--{key}-model: missing ({need})")
    return _make(cls, block, key)


def _make(cls, values: dict[str, Any], section: str):
    import dataclasses

    known = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(values) - known)
    if bad:
        raise ValueError(f"{section}.{bad[0]}: unknown setting (expected one of {', '.join(sorted(known))})")
    try:
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items()})
    except (ValueError, TypeError) as e:
        raise ValueError(f"{section}.{e}") from None


def _read_config(path: Path) -> dict[str, Any]:
    """The --config file (YAML, or JSON by its name), read by `tamiz.core.yamlsafe` (safe_load, size, UTF-8,
    depth and alias-bomb checks); errors name the file."""
    from tamiz.core.yamlsafe import read_mapping

    return read_mapping(path, "config file", expected="a mapping of sections")


def _check_models(cfg) -> None:
    """Load the models once here, so a missing or wrong file is an error before any work starts."""
    if cfg.quality is not None:
        from tamiz.pipeline.quality.classifier import load_classifier

        load_classifier(cfg.quality.model)
    if cfg.perplexity is not None:
        from tamiz.pipeline.perplexity.kenlm import load_scorer

        load_scorer(cfg.perplexity.model, cfg.perplexity.backend, cfg.perplexity.sp_model)


def print_funnel(summary: dict, out: Path) -> None:
    for src, f in summary["funnel"].items():
        rows: list[tuple] = [("input", f["docs_in"], "100.0%", f"{f['bytes_in'] / 1e6:.2f}", "")]
        prev = f["docs_in"]
        for name, docs, nbytes in f["steps"]:
            share = f"{100 * docs / f['docs_in']:.1f}%" if f["docs_in"] else "-"
            rows.append((name, docs, share, f"{nbytes / 1e6:.2f}", prev - docs or ""))
            prev = docs
        table(f"funnel: {src}", ["step", "documents", "of input", "MB", "dropped here"], rows)
        top = list(f["dropped"].items())[:6]
        if top:
            table(f"top drop reasons: {src}", ["reason", "documents"], top)
        if f.get("changed"):  # what mappers replaced, e.g. the PII redactor's placeholders per kind
            table(f"replaced: {src}", ["step", "kind", "count"],
                  [(step, k, n) for step, c in f["changed"].items() for k, n in c.items()])
    c = summary["counts"]
    console.print(f"{summary['shards']} input file(s), {summary['resumed']} already done; {c['docs_in']:,} documents "
                  f"in, {c['kept']:,} kept, {c['quarantined']:,} quarantined. Output: {out}/docs (kept), "
                  f"{out}/rejects, {out}/funnel.png, {out}/manifest.json")


# ----------------------------------------------------------------------------------------- quality

@quality_app.command("train")
def quality_train(
    inputs: List[Path] = typer.Argument(..., help=_INPUTS_HELP),
    positive: List[str] = typer.Option(..., "--positive", "-p", help="A high-quality source (repeat): e.g. books."),
    negative: List[str] = typer.Option(..., "--negative", "-n", help="A low-quality source (repeat): e.g. "
                                       "common_crawl (raw crawl text)."),
    out: Path = typer.Option(..., "--out", "-o", help="Model file to write (fastText .bin); a .json report is "
                             "written next to it."),
    epoch: int = typer.Option(10, min=1, help="Training epochs."),
    holdout: float = typer.Option(0.1, help="Share of documents held out (fixed by document id) for the figures."),
    seed: int = typer.Option(0, help="Seed of the balancing, shuffling and fastText."),
) -> None:
    """Train a fastText classifier (word bigrams) that tells high-quality sources from raw crawl text.

    Prints precision, recall, F1 (at 0.5) and ROC AUC on the held-out documents. Apply it with
    `tamiz filter --quality-model MODEL` (GPT-3's Pareto rule by default) or `tamiz quality score`.
    """
    from tamiz.pipeline.quality.classifier import ClassifierConfig
    from tamiz.pipeline.readers import expand_inputs

    overlap = sorted(set(positive) & set(negative))
    _local_file_out(out)
    try:
        if overlap:
            raise ValueError(f"--positive/--negative: source {overlap[0]!r} is on both sides")
        cfg = ClassifierConfig(epoch=epoch, holdout=holdout, seed=seed)
        files = expand_inputs(inputs)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    import dataclasses

    from tamiz.flows.filter import quality_train_flow

    try:
        report = quality_train_flow([(str(f), None) for f in files], list(positive), list(negative), str(out),
                                    dataclasses.asdict(cfg))
    except ValueError as e:
        fail(str(e), code=1)
    h = report["heldout"]
    table("quality classifier (held-out documents)", ["", "value"], [
        ("precision (high quality)", h["precision"]), ("recall", h["recall"]), ("F1", h["f1"]), ("ROC AUC", h["auc"]),
        ("held-out positives / negatives", f"{h['n_pos']:,} / {h['n_neg']:,}"),
        ("training positives / negatives", f"{report['train']['positives']:,} / {report['train']['negatives']:,}"),
        ("training seconds", report["seconds"]["train"]),
        ("held-out documents per second", report["heldout_docs_per_s"]),
    ])
    console.print(f"Model: {out} (report: {out}.json)")


@quality_app.command("score")
def quality_score(
    inputs: List[Path] = typer.Argument(..., help=_INPUTS_HELP),
    model: Path = typer.Option(..., "--model", "-m", help="A classifier from `tamiz quality train`."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: docs/ with metadata.quality_score."),
    workers: Optional[int] = typer.Option(None, min=1, help="Worker processes of the local Dask cluster."),
) -> None:
    """Store each document's quality score (metadata.quality_score) without dropping anything."""
    from tamiz.pipeline.readers import expand_inputs

    try:
        cfg = build_stage_config(None, False, model, "none", None, None)
        files = expand_inputs(inputs)
        _check_models(cfg)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    from tamiz.flows.filter import filter_flow
    from tamiz.flows.runtime import StageFailed
    from tamiz.core.lock import FolderLocked

    try:  # filter_flow holds the output-folder lock while it runs
        from tamiz.flows.outputs import stage_output

        with stage_output(out) as local:
            summary = filter_flow([(str(f), None) for f in files], str(local), cfg, workers=workers)
    except FolderLocked as e:
        fail(str(e))
    except StageFailed as e:
        fail(str(e), code=1)
    print_funnel(summary, local)  # the working folder when --out is a store URL (published there)


# -------------------------------------------------------------------------------------- perplexity

@perplexity_app.command("train")
def perplexity_train(
    inputs: List[Path] = typer.Argument(..., help=_INPUTS_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Model file to write (.npz)."),
    source: Optional[List[str]] = typer.Option(None, "--source", "-s", help="Train on these sources only "
                                               "(repeat; default: every document not held out)."),
    heldout: Optional[List[str]] = typer.Option(None, "--heldout", help="Sources to report perplexities on "
                                                "(repeat), e.g. common_crawl; never trained on."),
    order: int = typer.Option(5, min=2, max=8, help="Characters of context + 1 (n-gram order)."),
) -> None:
    """Train tamiz's character n-gram language model (interpolated Kneser-Ney) on reference text.

    Use it with `tamiz filter --perplexity-model MODEL.npz --perplexity-sampling gaussian`.
    """
    from tamiz.pipeline.readers import expand_inputs

    _local_file_out(out)
    try:
        if not str(out).endswith(".npz"):
            raise ValueError(f"--out: {out} must end in .npz")
        files = expand_inputs(inputs)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    from tamiz.flows.filter import perplexity_train_flow

    try:
        report = perplexity_train_flow([(str(f), None) for f in files], list(source) if source else None,
                                       list(heldout or []), str(out), order)
    except ValueError as e:
        fail(str(e), code=1)
    rows = [("order", report["order"]), ("training lines", report["lines"]), ("training characters", report["chars"]),
            ("vocabulary (characters)", report["vocab"]), ("n-grams per order", ", ".join(map(str, report["ngrams"]))),
            ("training seconds", report["train_seconds"]), ("model bytes", report["bytes"])]
    if "heldout" in report:
        rows += [("held-out documents", report["heldout"]["docs"]),
                 ("held-out median perplexity", report["heldout"]["median_perplexity"]),
                 ("scoring documents per second", report["heldout"]["docs_per_s"])]
    table("perplexity model", ["", "value"], rows)
    console.print(f"Model: {out}")
