"""`tamiz filter --calibrate` on real Spanish text (Reina-Valera chapters, Debian Reference sections, fortunes):
the sample, the measures (the chain's own), each threshold's comparison (the filter's own), the methods on
a distribution built from real chapters, the margins, and the proposal applied back through the real
chain removing exactly what the report predicted."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tamiz.core.atomic import write_json
from tamiz.pipeline.calibrate import CalibrationConfig, calibrate, measure_sample
from tamiz.pipeline.calibrate_measure import measure, measuring_steps
from tamiz.pipeline.calibrate_propose import simplest
from tamiz.pipeline.calibrate_report import write_report
from tamiz.pipeline.calibrate_rules import rule_values, rules_for
from tamiz.pipeline.calibrate_sample import Sample, sample_documents
from tamiz.pipeline.document import Document
from tamiz.pipeline.filters import C4Quality, FineWebQuality, GopherQuality, GopherRepetition, heuristic_steps
from tamiz.pipeline.filters.config import FiltersConfig, HeuristicsConfig
from tamiz.pipeline.filters.words import split_words, word_tokens
from tamiz.pipeline.readers import read_jsonl
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.runner import StepStats, run_steps

METHODS = ("quantile", "tail", "meanstd", "median_ratio")


@pytest.fixture(scope="module")
def inputs(sample_dir) -> list[tuple[Path, str]]:
    return [(sample_dir / "books" / "reina_valera_1909.jsonl.gz", "books"),
            (sample_dir / "reference" / "debian_reference_es.jsonl", "reference"),
            (sample_dir / "reference" / "fortunes_es.jsonl", "fortunes")]


@pytest.fixture(scope="module")
def sample(inputs) -> Sample:
    return sample_documents(inputs, 60, seed=0)


@pytest.fixture(scope="module")
def measured(sample):
    return measure_sample(sample, FiltersConfig())


def _copy(d: Document) -> Document:
    return Document(d.id, d.text, d.source, d.url, dict(d.metadata))


# ------------------------------------------------------------------------------------------------- sample

def test_reservoir_sample_is_deterministic_per_source_and_covers_the_whole_input(inputs, sample):
    assert {s: len(d) for s, d in sample.docs.items()} == {"books": 60, "fortunes": 60, "reference": 60}
    assert sample.seen == {"books": 1189, "fortunes": 10734, "reference": 107}
    assert sample.records == 1189 + 10734 + 107 and sample.quarantined == 0 and sample.files == 3
    ids = {s: [d.id for d in docs] for s, docs in sample.docs.items()}
    assert ids == {s: [d.id for d in docs] for s, docs in sample_documents(inputs, 60, seed=0).docs.items()}
    # a source's sample does not depend on the other sources or the order of the inputs
    assert [d.id for d in sample_documents(inputs[::-1], 60, seed=0).docs["books"]] == ids["books"]
    assert [d.id for d in sample_documents(inputs[:1], 60, seed=0).docs["books"]] == ids["books"]
    assert [d.id for d in sample_documents(inputs, 60, seed=1).docs["books"]] != ids["books"]
    # drawn from the whole file, not its head: Reina-Valera's 1,189 chapters run from Genesis to Revelation
    order = {d.id: i for i, d in enumerate(read_jsonl(inputs[0][0], ReadReport("books"), "books"))}
    positions = sorted(order[i] for i in ids["books"])
    assert positions[0] < 300 and positions[-1] > 900 and len(set(positions)) == 60
    # a source smaller than the reservoir is taken whole, in order
    small = sample_documents(inputs[1:2], 500, seed=0)
    whole = [d.id for d in read_jsonl(inputs[1][0], ReadReport("reference"), "reference")]
    assert [d.id for d in small.docs["reference"]] == whole and len(whole) == 107


def test_sample_refuses_a_size_below_one(inputs):
    with pytest.raises(ValueError, match="sample: 0"):
        sample_documents(inputs, 0, seed=0)


# ------------------------------------------------------------------------------------------------ measures

def test_measures_are_what_the_chain_stores(sample, measured):
    """Every family a real run measured on a document holds the same values calibration measured."""
    compared = 0
    for src, docs in sample.docs.items():
        copies = [_copy(d) for d in docs]
        stats = StepStats()
        list(run_steps(copies, heuristic_steps(HeuristicsConfig()), stats, on_reject=lambda d: None))
        for doc, m in zip(copies, measured[src].measures):
            for family in ("gopher_quality", "gopher_repetition", "c4", "fineweb"):
                if family in doc.metadata:
                    assert doc.metadata[family] == m[family], (doc.id, family)
                    compared += 1
    assert compared >= 250  # every document's first family at least, and all four for the kept ones


def test_fineweb_is_measured_on_the_text_c4_leaves(sample):
    """A Debian Reference section with short lines (commands, headings): C4 removes lines, FineWeb sees the rest."""
    steps = measuring_steps(HeuristicsConfig())
    doc = next(d for d in sample.docs["reference"] if measure(d, steps)[1] != d.text)
    m, cleaned = measure(doc, steps)
    assert len(cleaned) < len(doc.text)
    assert m["fineweb"] == FineWebQuality().measure(cleaned)
    assert m["fineweb"] != FineWebQuality().measure(doc.text)


# ------------------------------------------------------------------------------------------- the rules

def _isolated(rule, t) -> HeuristicsConfig:
    """A config in which only `rule`'s threshold (= t) can drop a document of its family."""
    c = HeuristicsConfig()
    gq = dataclasses.replace(c.gopher_quality, **{k: None for k in (
        "min_doc_words", "max_doc_words", "min_avg_word_length", "max_avg_word_length", "max_symbol_word_ratio",
        "max_bullet_lines_ratio", "max_ellipsis_lines_ratio", "min_alpha_words_ratio", "min_stop_words")})
    rep = dataclasses.replace(c.gopher_repetition, dup_line_frac=None, top_n_grams=(), dup_n_grams=())
    c4 = dataclasses.replace(c.c4, min_num_sentences=None, badwords=rule.field == "badwords_max_ratio")
    fw = dataclasses.replace(c.fineweb, line_punct_thr=None, char_duplicates_ratio=None, new_line_ratio=None)
    c = dataclasses.replace(c, gopher_quality=gq, gopher_repetition=rep, c4=c4, fineweb=fw)
    fam = getattr(c, rule.family)
    value = ((rule.n, t),) if rule.n is not None else t
    return dataclasses.replace(c, **{rule.family: dataclasses.replace(fam, **{rule.field: value})})


FILTERS = {"gopher_quality": GopherQuality, "gopher_repetition": GopherRepetition, "c4": C4Quality,
           "fineweb": FineWebQuality}


def test_every_rule_compares_as_its_filter_decides(measured):
    """Rule.removes, for each threshold at the current value and at values of the data (ties included),
    drops exactly the documents the filter's own decide drops with only that threshold on."""
    cfg = HeuristicsConfig()
    checked = set()
    for ms in measured.values():
        for rule in rules_for(cfg):
            v = rule_values(rule, ms.measures, cfg)
            data = v[~np.isnan(v)]
            candidates = {rule.current(cfg)} | {float(np.quantile(data, q, method="lower")) for q in (0.1, 0.5, 0.9)
                                                if len(data)}
            for t in candidates - {None}:
                t = int(t) if rule.integer else float(t)
                if (rule.positive and t <= 0) or (rule.ratio and t > 1):
                    continue
                decider = FILTERS[rule.family](getattr(_isolated(rule, t), rule.family))
                removes = rule.removes(v, t)
                for i, m in enumerate(ms.measures):
                    fm = dict(m[rule.family])
                    if not fm:
                        continue  # an empty text: dropped as "empty", by no threshold
                    if rule.family == "c4":
                        fm.update(lorem_ipsum=False, curly_bracket=False)
                    assert bool(removes[i]) == (decider.decide(fm) is not True), (rule.key, t, ms.ids[i])
                checked.add(rule.key)
    assert len(checked) == len(rules_for(cfg))


# -------------------------------------------------------------------------------------------- the methods

def _truncated(sample, counts: list[int], source: str) -> list[Document]:
    """Real chapters cut to exactly `counts[i]` words (words joined by spaces, punctuation left out)."""
    chapters = [d for d in sample.docs["books"] if len(word_tokens(split_words(d.text))) >= max(counts)]
    docs = []
    for i, k in enumerate(counts):
        words = [t for t in split_words(chapters[i % len(chapters)].text) if t.isalnum()][:k]
        docs.append(Document(f"{source}-{i}", " ".join(words), source))
    return docs


def test_quantile_and_tail_cut_a_distribution_built_from_real_chapters(sample):
    ref = _truncated(sample, list(range(20, 120)), "ref")  # words 20..119: min_doc_words 50 removes 30%
    src = _truncated(sample, list(range(10, 110)), "web")  # words 10..109
    built = Sample(docs={"ref": ref, "web": src}, seen={"ref": 100, "web": 100})
    m = measure_sample(built, FiltersConfig())
    assert sorted(x["gopher_quality"]["words"] for x in m["web"].measures) == list(range(10, 110))

    cal = calibrate(m, FiltersConfig(), CalibrationConfig(method="quantile", reference=("ref",), examples=3))
    rule = next(e for e in cal.summary["sources"]["web"]["rules"] if e["rule"] == "gopher_quality.min_doc_words")
    assert rule["reference_share"] == 0.3 and rule["current"] == 50 and rule["current_removes"] == 40
    assert rule["proposed"] == 40 and rule["proposed_removes"] == 30  # drops 10..39: 30% of the source
    assert [x["value"] for x in rule["margin"]["kept"]] == [40, 41, 42]
    assert [x["value"] for x in rule["margin"]["dropped"]] == [39, 38, 37]
    assert cal.overrides["sources"]["web"]["gopher_quality"]["min_doc_words"] == 40
    # the reference itself keeps its threshold: it already removes the reference's share
    assert cal.summary["sources"]["ref"]["rules"][0]["proposed"] == 50

    tail = calibrate(m, FiltersConfig(), CalibrationConfig(method="tail", tail=0.1))
    rules = {e["rule"]: e for e in tail.summary["sources"]["web"]["rules"]}
    assert rules["gopher_quality.min_doc_words"]["proposed"] == 20  # drops 10..19
    assert rules["gopher_quality.max_doc_words"]["proposed"] == 99  # drops 100..109
    assert rules["gopher_quality.max_doc_words"]["proposed_removes"] == 10

    ms = calibrate(m, FiltersConfig(), CalibrationConfig(method="meanstd", reference=("ref",)))
    web, r = np.arange(10, 110.0), np.arange(20, 120.0)
    raw = web.mean() + (50 - r.mean()) / r.std() * web.std()  # 40, up to the last bits of the floats
    # every word count below `raw` is dropped; the threshold is the first count kept (consecutive integers)
    assert ms.summary["sources"]["web"]["rules"][0]["proposed"] == int(web[web >= raw].min())
    assert ms.summary["sources"]["web"]["rules"][0]["proposed_removes"] == int((web < raw).sum())
    mr = calibrate(m, FiltersConfig(), CalibrationConfig(method="median_ratio", reference=("ref",)))
    # 50 x 59.5 / 69.5 = 42.8: drops 10..42, placed at 43
    assert mr.summary["sources"]["web"]["rules"][0]["proposed"] == 43


def test_simplest_number_in_a_gap():
    assert simplest(0.0012, 0.5, True, False) == 0.3
    assert simplest(0.151734, 0.152, True, False) == 0.1519  # 0.1518 and 0.1519 fit; nearer the middle
    assert simplest(39, 40, False, True, integer=True) == 40
    assert simplest(99, 100, True, False, integer=True) == 99
    assert simplest(47, 52, False, True, integer=True) == 50
    assert simplest(0.25, 0.25, True, True) == 0.25


def test_margin_examples_are_on_their_side_of_the_threshold(measured):
    cal = calibrate(measured, FiltersConfig(), CalibrationConfig(method="quantile", reference=("books",)))
    seen = 0
    for src, r in cal.summary["sources"].items():
        for e in r["rules"]:
            if not e["active"]:
                continue
            t, side = e["proposed"], e["side"]
            kept = [x["value"] for x in e["margin"]["kept"]]
            dropped = [x["value"] for x in e["margin"]["dropped"]]
            if side == "max":
                assert all(v <= t for v in kept) and all(v > t for v in dropped), e["rule"]
                assert kept == sorted(kept, reverse=True) and dropped == sorted(dropped)
            else:
                assert all(v >= t for v in kept) and all(v < t for v in dropped), e["rule"]
                assert kept == sorted(kept) and dropped == sorted(dropped, reverse=True)
            assert len(dropped) == min(3, e["proposed_removes"])
            seen += len(kept) + len(dropped)
    assert seen > 100


# ---------------------------------------------------------------------------- the proposal, applied back

@pytest.mark.parametrize("method", METHODS)
def test_the_proposal_loads_back_and_removes_what_the_report_predicted(sample, measured, method, tmp_path):
    reference = () if method == "tail" else ("books",)
    cal = calibrate(measured, FiltersConfig(), CalibrationConfig(method=method, reference=reference))
    write_json(tmp_path / "calibration.json", cal.overrides)  # as write_report writes it (tested below)
    loaded = FiltersConfig.load(tmp_path / "calibration.json")  # the loader `tamiz filter --config` uses
    changed = 0
    for src, docs in sample.docs.items():
        r = cal.summary["sources"][src]
        assert loaded.for_source(src).as_dict() == r["config"]
        for cfg, outcome in ((HeuristicsConfig(), r["current"]), (loaded.for_source(src), r["proposed"])):
            stats = StepStats()
            kept = list(run_steps([_copy(d) for d in docs], heuristic_steps(cfg), stats, on_reject=lambda d: None))
            assert len(kept) == outcome["kept"] and dict(stats.dropped) == outcome["reasons"], (src, method)
        changed += r["current"]["dropped"] != r["proposed"]["dropped"]
    assert changed  # the proposal is not the current config


def test_report_files(sample, measured, tmp_path):
    cal = calibrate(measured, FiltersConfig(), CalibrationConfig(method="quantile", reference=("books",)))
    paths = write_report(cal, tmp_path, {"files": 3, "records": sample.records, "seen": sample.seen})
    assert json.loads(paths["proposal"].read_text()) == cal.overrides
    md = paths["report"].read_text(encoding="utf-8")
    assert "Method **quantile**" in md and "Reference: books." in md and "| fortunes | 10,734 | 60 |" in md
    for src in ("books", "fortunes", "reference"):
        assert f"## {src}" in md and f"### {src}: documents at the margin of each proposed threshold" in md
    assert "| `gopher_quality.min_doc_words` | min | 50 |" in md and "| kept |" in md and "| dropped |" in md
    pngs = sorted(paths["histograms"].glob("*.png"))
    assert len(pngs) == 26 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "(histograms/gopher_quality.words.png)" in md
    dist = json.loads(paths["distributions"].read_text())
    words = dist["sources"]["books"]["rules"][0]
    assert words["rule"] == "gopher_quality.min_doc_words" and words["distribution"]["quantiles"]["p50"] > 300
    assert dist["inputs"]["seen"] == {"books": 1189, "fortunes": 10734, "reference": 107}


def test_user_overrides_are_carried_into_the_proposal(sample):
    user = FiltersConfig.from_dict({"default": {"c4": {"badwords_min_count": 3}},
                                    "sources": {"fortunes": {"gopher_quality": {"min_doc_words": 5},
                                                             "fineweb": {"enabled": False}}}})
    cal = calibrate(measure_sample(sample, user), user, CalibrationConfig(method="tail"))
    assert cal.overrides["default"] == {"c4": {"badwords_min_count": 3}}
    fortunes = cal.overrides["sources"]["fortunes"]
    assert fortunes["fineweb"] == {"enabled": False}  # a filter turned off stays off, and is not proposed
    loaded = FiltersConfig.from_dict(json.loads(json.dumps(cal.overrides)))
    for src in sample.docs:
        assert loaded.for_source(src).as_dict() == cal.summary["sources"][src]["config"]
    assert loaded.for_source("fortunes").c4.badwords_min_count == 3


def test_bad_calibration_settings_are_refused(measured):
    for bad, match in (({"method": "median"}, "method: 'median'"), ({"sample": 0}, "sample: 0"),
                       ({"tail": 1.5}, "tail: 1.5"), ({"examples": -1}, "examples: -1"),
                       ({"samples": 10}, "samples"),
                       ({"method": "tail", "reference": ["books"]}, "method tail uses no reference")):
        with pytest.raises(ValueError, match=match):
            CalibrationConfig.from_dict(bad)
    with pytest.raises(ValueError, match="reference: source 'web' has no documents"):
        calibrate(measured, FiltersConfig(), CalibrationConfig(reference=("web",)))
    with pytest.raises(ValueError, match="no documents"):
        calibrate({}, FiltersConfig(), CalibrationConfig())


# ------------------------------------------------------------------------------------------------- the CLI

def _app():
    from tamiz.flows import cli

    cli._register()
    return cli.app


def test_cli_calibrates_plain_inputs_and_per_source(sample_dir, tmp_path):
    runner = CliRunner()
    web = tmp_path / "web"  # documents without a source take their folder's name
    web.mkdir()
    (web / "pages.jsonl").symlink_to(sample_dir / "reference" / "debian_reference_es.jsonl")
    out = tmp_path / "cal"
    r = runner.invoke(_app(), ["filter", str(web), "--calibrate", "--method", "tail", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "calibration: web (107 documents sampled, method tail)" in r.output and "whole chain" in r.output
    proposal = json.loads((out / "calibration.json").read_text())
    assert list(proposal["sources"]) == ["web"]
    assert FiltersConfig.load(out / "calibration.json").for_source("web") != HeuristicsConfig()

    root = tmp_path / "sources"  # two sources, one folder each; settings from the config file's calibrate:
    for name, path in (("books", "books/reina_valera_1909.jsonl.gz"), ("reference", "reference/fortunes_es.jsonl")):
        (root / name).mkdir(parents=True)
        (root / name / Path(path).name).symlink_to(sample_dir / path)
    cfg = tmp_path / "filters.yaml"
    cfg.write_text("calibrate: {sample: 30, examples: 1}\nsources:\n  reference:\n    c4: {min_num_sentences: 1}\n",
                   encoding="utf-8")
    out2 = tmp_path / "cal2"
    r = runner.invoke(_app(), ["filter", str(root), "--calibrate", "--config", str(cfg), "--reference", "books",
                               "--out", str(out2)])
    assert r.exit_code == 0, r.output
    summary = json.loads((out2 / "distributions.json").read_text())
    assert summary["sample"] == 30 and summary["reference"] == ["books"] and summary["method"] == "quantile"
    assert summary["inputs"]["sampled"] == {"books": 30, "reference": 30}
    assert summary["inputs"]["seen"] == {"books": 1189, "reference": 10734}
    loaded = FiltersConfig.load(out2 / "calibration.json")
    assert loaded.for_source("reference").as_dict() == summary["sources"]["reference"]["config"]
    # the user's own threshold is where the calibration of "reference" started from
    rule = next(e for e in summary["sources"]["reference"]["rules"] if e["rule"] == "c4.min_num_sentences")
    assert rule["current"] == 1


def test_cli_refuses_bad_calibration_before_work(sample_dir, tmp_path):
    runner, app = CliRunner(), _app()
    docs = str(sample_dir / "reference")
    out = tmp_path / "o"
    cases = [
        (["--calibrate", "--method", "median"], "method: 'median'"),
        (["--calibrate", "--quality-model", str(tmp_path / "q.bin")], "--quality-model: --calibrate"),
        (["--calibrate", "--workers", "2"], "--workers: --calibrate"),
        (["--sample", "10"], "go with --calibrate"),
        (["--calibrate", "--reference", "web"], "--reference web: no documents of that source"),
    ]
    for extra, message in cases:
        r = runner.invoke(app, ["filter", docs, "--out", str(out), *extra])
        assert r.exit_code == 2 and message in " ".join(r.output.split()), (extra, r.output)
    bad = tmp_path / "bad.yaml"
    bad.write_text("calibrate: {tail: 2}\n", encoding="utf-8")
    r = runner.invoke(app, ["filter", docs, "--out", str(out), "--calibrate", "--config", str(bad)])
    assert r.exit_code == 2 and f"{bad}: calibrate.tail: 2.0 must be" in " ".join(r.output.split())
    assert not out.exists()
