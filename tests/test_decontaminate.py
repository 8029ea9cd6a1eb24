"""Benchmark decontamination on real Spanish text: documents that share a 13-word n-gram with an evaluation set
are dropped (or tagged) with the set's name, one sharing only 12 words is kept, the hashed index agrees with
plain sets of word tuples, the bundled sample's evaluation set catches the crawl pages holding its passages
(and their copies on other hosts), and a bad evaluation set stops the table or the CLI before any work,
naming the file and the line."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tamiz.pipeline.document import Document
from tamiz.pipeline.filter_stage import FilterStageConfig, filter_file, merge_counts
from tamiz.pipeline.filters import FiltersConfig, heuristic_steps
from tamiz.pipeline.filters.decontaminate import Decontaminate
from tamiz.pipeline.filters.evalsets import DecontaminationConfig, words
from tamiz.pipeline.ingest import IngestConfig, ingest_file
from tamiz.pipeline.readers import expand_inputs, read_jsonl
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.table import load_table
from tamiz.pipeline.writers import read_parquet_documents


@pytest.fixture(scope="module")
def reference(sample_dir) -> list[Document]:
    """The 107 sections of the Debian Reference in Spanish."""
    path = sample_dir / "reference" / "debian_reference_es.jsonl"
    return list(read_jsonl(path, ReadReport(str(path)), "reference"))


def text_of(docs: list[Document], section: str) -> str:
    return next(d.text for d in docs if d.id.endswith(f"debian-reference-es-{section}"))


@pytest.fixture(scope="module")
def eval_sets(tmp_path_factory, reference) -> dict[str, Path]:
    """Evaluation sets made of real passages of the Debian Reference, written the way benchmarks write them:
    a question in capitals with its answer (JSONL), a passage reflowed on one line (text), and the first
    12 words of a section alone."""
    folder = tmp_path_factory.mktemp("evalsets")
    pr2 = text_of(reference, "pr2")
    first = pr2[:pr2.index(". ") + 1]  # "El Proyecto Debian es una comunidad de personas cuya finalidad es\ncrear..."
    rows = [{"question": "¿" + first.upper().replace("\n", " ") + "? ¿VERDADERO O FALSO?", "answer": "Verdadero."},
            {"question": "¿Qué orden muestra los mensajes del núcleo?", "answer": "dmesg"}]  # too short: 8 words
    (folder / "preguntas.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                            encoding="utf-8")
    s43 = text_of(reference, "4.3")
    passage = " ".join(s43[s43.index("No elija"):].split())
    (folder / "pasajes.txt").write_text(f"Un pasaje de prueba.\n\n{passage}\n", encoding="utf-8")
    (folder / "doce.txt").write_text(" ".join(words(text_of(reference, "3.3"))[:12]) + "\n", encoding="utf-8")
    return {p.stem: p for p in folder.iterdir()}


def run(config: DecontaminationConfig, docs: list[Document]) -> tuple[dict[str, object], Decontaminate]:
    """{section: True (kept) or the reason} for every document, on copies, and the step (its tally)."""
    step = Decontaminate(config)
    out = {}
    for d in docs:
        doc = Document(d.id, d.text, d.source, d.url, {})
        res = step.filter(doc)
        out[d.id.rsplit("-", 1)[-1]] = (res if res is True else res[1], doc.metadata.get("decontamination"))
    return out, step


def contaminated(results: dict) -> dict:
    return {k: v for k, v in results.items() if v[0] is not True or v[1]}


def test_documents_holding_a_passage_are_dropped_with_the_sets_name(eval_sets, reference):
    cfg = DecontaminationConfig(evaluation_sets=(str(eval_sets["preguntas"]), str(eval_sets["pasajes"])),
                                fields=("question", "answer"))
    results, step = run(cfg, reference)
    hits = contaminated(results)
    assert set(hits) == {"pr2", "4.3"}
    assert hits["pr2"][0] == "preguntas" and hits["4.3"][0] == "pasajes"
    # capitals, ¿ ?, line breaks and reflowing do not hide a passage: every n-gram of its words is found
    pr2_words = len(words(text_of(reference, "pr2")[:text_of(reference, "pr2").index(". ") + 1]))
    assert hits["pr2"][1] == {"preguntas": pr2_words - 13 + 1}
    s43 = words(text_of(reference, "4.3"))
    assert hits["4.3"][1] == {"pasajes": len(s43) - s43.index("no") - 13 + 1}  # the passage runs to the end
    # the item's words: the sentence, "verdadero o falso" and the answer "verdadero"
    assert step.index.stats == {"preguntas": {"items": 2, "ngrams": pr2_words + 4 - 13 + 1, "short_items": 1},
                                "pasajes": {"items": 2, "ngrams": len(s43) - s43.index("no") - 13 + 1,
                                            "short_items": 1}}
    assert dict(step.tally) == {"preguntas:documents": 1, "preguntas:ngrams": hits["pr2"][1]["preguntas"],
                                "pasajes:documents": 1, "pasajes:ngrams": hits["4.3"][1]["pasajes"]}


def test_a_document_sharing_only_12_words_is_kept_with_13_grams(eval_sets, reference):
    twelve = (str(eval_sets["doce"]),)
    assert contaminated(run(DecontaminationConfig(evaluation_sets=twelve), reference)[0]) == {}
    caught = contaminated(run(DecontaminationConfig(evaluation_sets=twelve, ngram=12), reference)[0])
    assert caught == {"3.3": ("doce", {"doce": 1})}


def test_the_hashed_index_agrees_with_plain_sets_of_word_tuples(eval_sets, reference, sample_dir):
    """Every document of the Debian Reference and 300 fortunes, against all three sets at n = 8, 12, 13:
    the n-grams found per set are exactly those a plain Python set of word tuples finds."""
    fortunes_path = sample_dir / "reference" / "fortunes_es.jsonl"
    docs = reference + list(read_jsonl(fortunes_path, ReadReport(str(fortunes_path)), "reference"))[:300]
    from tamiz.pipeline.filters.evalsets import read_items, set_name

    paths = tuple(str(p) for p in eval_sets.values())
    for n in (8, 12, 13):
        cfg = DecontaminationConfig(evaluation_sets=paths, fields=("question", "answer"), ngram=n, action="tag")
        plain = {}
        for p in paths:
            items = read_items(p, ("question", "answer"))
            plain[set_name(p)] = {tuple(w[i:i + n]) for w in map(words, items) for i in range(len(w) - n + 1)}
        index = cfg.index()
        for d in docs:
            w = words(d.text)
            grams = [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
            expect = {s: c for s, g in plain.items() if (c := sum(x in g for x in grams))}
            assert index.overlaps(w) == expect, (n, d.id)


def test_words_are_the_runs_of_letters_and_digits_of_the_case_folded_nfkc_text():
    assert words("¿Qué es «DEBIAN»? Windows™, l'agua: 1.000,50 €. ÉL y él\nﬁn") == [
        "qué", "es", "debian", "windowstm", "l", "agua", "1", "000", "50", "él", "y", "él", "fin"]


def test_soft_hyphens_and_zero_width_characters_split_no_word(eval_sets, reference, tmp_path):
    """Web pages hyphenate with &shy; and carry zero-width characters; neither hides a passage, whether it is
    in the document or in the evaluation set."""
    assert words("la pala\u00adbra, ca\u200bsa\u2060s y \ufeffuno\u200c\u200ddos") == [
        "la", "palabra", "casas", "y", "unodos"]
    s43 = text_of(reference, "4.3")
    # every word of six letters or more broken after its third, as a browser may break it
    hyphenated = re.sub(r"(\w{3})(\w{3,})", "\\1\u00ad\\2", s43)
    assert hyphenated != s43 and words(hyphenated) == words(s43)
    cfg = DecontaminationConfig(evaluation_sets=(str(eval_sets["pasajes"]),))
    assert Decontaminate(cfg).filter(Document("web/1", hyphenated, "web")) == (False, "pasajes")
    passage = eval_sets["pasajes"].read_text(encoding="utf-8")
    marked = tmp_path / "marcado.txt"  # the set written with zero-width spaces inside its words
    marked.write_text(re.sub(r"(\w{2})(\w{2,})", "\\1\u200b\\2", passage), encoding="utf-8")
    step = Decontaminate(DecontaminationConfig(evaluation_sets=(str(marked),)))
    assert step.filter(Document("web/2", s43, "web")) == (False, "marcado")


def test_the_stage_key_names_the_word_rule(eval_sets):
    """A change of `words` changes what the step drops: the filter stage's key holds the rule's version,
    so a resumed build never takes outputs made under another rule; a chain without sets keeps its key."""
    from tamiz.pipeline.filters.evalsets import NORMALISATION
    from tamiz.pipeline.writers import config_hash

    cfg = FilterStageConfig(filters=FiltersConfig.from_dict(
        {"default": {"decontamination": {"evaluation_sets": [str(eval_sets["pasajes"])]}}}))
    rec = cfg.record()
    assert rec["filters"]["default"]["decontamination"]["normalisation"] == NORMALISATION >= 2
    del rec["filters"]["default"]["decontamination"]["normalisation"]
    assert config_hash(rec) != cfg.hash()  # what the key was before the rule had a version
    assert "normalisation" not in FilterStageConfig().record()["filters"]["default"]["decontamination"]


def test_tag_keeps_the_document_and_min_overlaps_sets_the_bar(eval_sets, reference):
    sets = (str(eval_sets["preguntas"]), str(eval_sets["pasajes"]))
    tagged, step = run(DecontaminationConfig(evaluation_sets=sets, fields=("question", "answer"), action="tag"),
                       reference)
    assert {k: v for k, v in tagged.items() if v[1]} == {k: (True, v[1]) for k, v in
                                                           contaminated(tagged).items()}
    assert set(contaminated(tagged)) == {"pr2", "4.3"} and step.tally["pasajes:documents"] == 1
    n43 = contaminated(tagged)["4.3"][1]["pasajes"]
    high, step = run(DecontaminationConfig(evaluation_sets=sets, fields=("question", "answer"), min_overlaps=n43),
                     reference)
    assert {k: v[0] for k, v in contaminated(high).items()} == {"pr2": True, "4.3": "pasajes"}  # pr2 has fewer
    assert dict(step.tally) == {"pasajes:documents": 1, "pasajes:ngrams": n43}


# ------------------------------------------------------------------------- the bundled sample's set

@pytest.fixture(scope="module")
def crawl_docs(tmp_path_factory, sample_dir) -> Path:
    """The sample crawl, ingested (extraction and language ID): docs/*.parquet, 109 Spanish pages."""
    out = tmp_path_factory.mktemp("crawl")
    for f in expand_inputs([sample_dir / "common_crawl"]):
        ingest_file(f, out, "common_crawl", IngestConfig())
    return out / "docs"


HANDBOOK = "https://debian-handbook.info/browse/es-ES/stable/"
CAUGHT = {  # the pages holding a passage of evaluation/handbook_qa.jsonl, and their copies in the crawl
    HANDBOOK + "case-study.html", HANDBOOK + "case-study.html?utm_source=twitter&utm_medium=social",
    "https://mirror.example.org/debian-handbook/es-ES/case-study.html",
    HANDBOOK + "sect.kernel-role-and-tasks.html",
    "https://www.example.net/debian-handbook/es-ES/sect.kernel-role-and-tasks.html",
    HANDBOOK + "sect.why-debian.html", HANDBOOK + "sect.quotas.html", HANDBOOK + "sect.knoppix.html",
}


def test_the_sample_tables_evaluation_set_catches_the_pages_and_their_copies(sample_dir, crawl_docs, reference):
    cfg = load_table(sample_dir / "table.yaml").filters_config("common_crawl").for_source("common_crawl")
    docs = [d for f in sorted(crawl_docs.glob("*.parquet")) for d in read_parquet_documents(f)]
    step = Decontaminate(cfg.decontamination)
    caught = {d.url for d in docs if step.filter(d) is not True}
    assert len(docs) == 109 and caught == CAUGHT
    # its sixth item is a Debian Reference passage: no crawl page has it, the reference section does
    assert {k for k, v in run(cfg.decontamination, reference)[0].items() if v[0] is not True} == {"3.8"}


def test_the_filter_stage_drops_and_counts_per_set(sample_dir, crawl_docs, tmp_path):
    """The crawl's filter chain as `tamiz run` makes it from the sample table: decontamination is the last
    rule (only the personal-data redactor, a mapper, comes after it), its drops are `decontaminate:handbook_qa` in the rejects, and the records count them per set."""
    table = load_table(sample_dir / "table.yaml")
    config = FilterStageConfig(filters=FiltersConfig(
        sources=(("common_crawl", table.filters_config("common_crawl").for_source("common_crawl")),)))
    assert [s.name for s in heuristic_steps(config.filters.for_source("common_crawl"))][-2:] == ["decontaminate", "pii"]
    records = [filter_file(f, tmp_path, config, "common_crawl") for f in sorted(crawl_docs.glob("*.parquet"))]
    rejects = [d for f in (tmp_path / "rejects").glob("*.parquet") for d in read_parquet_documents(f)]
    dropped = {d.url for d in rejects if d.metadata["drop_reason"] == "decontaminate:handbook_qa"}
    assert dropped == CAUGHT  # all eight pass the heuristic rules: decontamination is what drops them
    assert all(d.metadata["decontamination"]["handbook_qa"] > 0 for d in rejects if d.url in dropped)
    kept = {d.url for f in (tmp_path / "docs").glob("*.parquet") for d in read_parquet_documents(f)}
    assert not kept & CAUGHT
    counts = merge_counts(records)
    assert counts["dropped"]["decontaminate:handbook_qa"] == len(dropped)
    assert counts["tallies"]["decontaminate"]["handbook_qa:documents"] == len(dropped)
    assert str(sample_dir) not in json.dumps(config.record())  # the set by name and sha256


# ------------------------------------------------------------------------------------ bad input

def table_with(folder: Path, block: dict) -> Path:
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    (folder / "docs" / "a.jsonl").write_text('{"text": "hola"}\n', encoding="utf-8")
    table = {"sources": [{"name": "web", "inputs": ["docs/a.jsonl"], "weight": 1,
                          "filters": {"decontamination": block}}]}
    path = folder / "table.yaml"
    path.write_text(yaml.safe_dump(table, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("name, content, message", [
    ("a.jsonl", b'{"text": "uno"}\n{"text": "dos"\n', "a.jsonl, line 2: not JSON (Expecting ',' delimiter at column 15)"),
    ("a.jsonl", '{"text": "uno"}\n\n{"text": "año"}\n'.encode("latin-1"), "a.jsonl, line 3: not UTF-8 (byte 0xf1"),
    ("a.jsonl", b'{"text": "uno"}\n{"texto": "dos"}\n', "a.jsonl, line 2: no field 'text' (the object has: texto)"),
    ("a.jsonl", b'{"text": 3}\n', "a.jsonl, line 1: field 'text' is a int, not text"),
    ("a.jsonl", b'["uno"]\n', "a.jsonl, line 1: a JSON list, not an object with text"),
    ("a.txt", b"texto\n\x00\x01\x02", "a.txt, line 2: a NUL byte; this is not a text file"),
    ("a.csv", b"uno,dos\n", "a.csv: not a known evaluation-set format"),
    ("nada.jsonl", None, "nada.jsonl: evaluation set not found"),
])
def test_a_bad_evaluation_set_stops_the_table_naming_file_and_line(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    path = table_with(tmp_path, {"evaluation_sets": [name]})
    with pytest.raises(ValueError) as e:
        load_table(path).filters_config("web")
    assert str(e.value).startswith(f"{path}: sources[0].filters: ") and message in str(e.value), str(e.value)
    assert "decontamination.evaluation_sets: " in str(e.value)


@pytest.mark.parametrize("block, message", [
    ({"evaluation_sets": ["a.jsonl"], "ngram": 0}, "ngram: 0 is not a number of words"),
    ({"evaluation_sets": ["a.jsonl"], "action": "remove"}, "action: 'remove' is not one of drop, tag"),
    ({"evaluation_sets": ["a.jsonl", "sub/a.jsonl"]}, "have the same name 'a'"),
    ({"evaluation_sets": ["a.jsonl"], "fields": []}, "fields: [] must name one or more JSON fields"),
])
def test_bad_settings_are_refused(tmp_path, block, message):
    (tmp_path / "sub").mkdir()
    for p in ("a.jsonl", "sub/a.jsonl"):
        (tmp_path / p).write_text('{"text": "uno"}\n', encoding="utf-8")
    with pytest.raises(ValueError) as e:
        load_table(table_with(tmp_path, block)).filters_config("web")
    assert message in str(e.value), str(e.value)


def test_sets_are_relative_to_the_table_and_keys_follow_their_content(tmp_path, sample_dir):
    for folder in ("a", "b"):
        shutil.copytree(sample_dir / "evaluation", tmp_path / folder / "evaluation")
    block = {"evaluation_sets": ["evaluation/handbook_qa.jsonl"], "fields": ["context", "question", "answer"]}
    configs = [FilterStageConfig(filters=FiltersConfig(sources=(
        ("web", load_table(table_with(tmp_path / f, block)).filters_config("web").for_source("web")),)))
        for f in ("a", "b")]
    assert configs[0].hash() == configs[1].hash() and configs[0].record() == configs[1].record()
    assert FilterStageConfig.from_dict(json.loads(json.dumps(configs[0].as_dict()))) == configs[0]
    with open(tmp_path / "b" / "evaluation" / "handbook_qa.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"context": "otra cosa", "question": "¿y?", "answer": "nada"}) + "\n")
    changed = FilterStageConfig(filters=FiltersConfig(sources=(
        ("web", load_table(tmp_path / "b" / "table.yaml").filters_config("web").for_source("web")),)))
    assert changed.hash() != configs[0].hash()


def test_cli_evaluation_sets_and_config_file(tmp_path, eval_sets):
    from typer.testing import CliRunner

    from tamiz.flows import cli
    from tamiz.flows.cmd_filter import build_stage_config

    (tmp_path / "conf").mkdir()
    shutil.copy(eval_sets["pasajes"], tmp_path / "conf" / "pasajes.txt")
    (tmp_path / "conf" / "f.yaml").write_text("default:\n  decontamination: {evaluation_sets: [pasajes.txt], "
                                              "action: tag}\n", encoding="utf-8")
    cfg = build_stage_config(tmp_path / "conf" / "f.yaml", True, None, None, None, None)
    d = cfg.filters.default.decontamination
    assert d.evaluation_sets == (str(tmp_path / "conf" / "pasajes.txt"),) and d.action == "tag"
    cfg = build_stage_config(tmp_path / "conf" / "f.yaml", True, None, None, None, None, [eval_sets["doce"]])
    assert cfg.filters.default.decontamination.evaluation_sets == (str(eval_sets["doce"]),)
    assert cfg.filters.default.decontamination.action == "tag"

    cli._register()
    (tmp_path / "mala.jsonl").write_text('{"text": "uno"}\n{"pregunta": "dos"}\n', encoding="utf-8")
    res = CliRunner().invoke(cli.app, ["filter", str(eval_sets["pasajes"]), "--out", str(tmp_path / "o"),
                                       "--evaluation-set", str(tmp_path / "mala.jsonl")])
    out = " ".join(res.output.split())
    assert res.exit_code == 2 and "mala.jsonl, line 2: no field 'text'" in out, res.output
    assert not (tmp_path / "o").exists()
