"""train/finetune/tasks.py, metrics.py and encode.py: the bundled tasks load, every kind of bad input is refused
with its file and line, the metrics agree with seqeval's and SQuAD's known cases, and spans survive encoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_train_common import tiny_tokenizer
from tamiz.train.finetune.encode import Encoder, answer_text, qa_split
from tamiz.train.finetune.metrics import (classification_scores, entities, entity_scores, normalize_answer,
                                          qa_scores)
from tamiz.train.finetune.tasks import QAExample, load_task

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "data" / "tasks"


def write_task(folder: Path, kind: str, files: dict[str, str], **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    ext = {"tokens": "conll", "qa": "json"}.get(kind, "jsonl")
    cfg = {"name": "t", "kind": kind, "train": f"train.{ext}", "test": f"test.{ext}", **fields}
    (folder / "task.yaml").write_text(json.dumps(cfg), encoding="utf-8")
    return folder


def test_the_bundled_tasks_load_with_their_splits_and_labels():
    off = load_task(TASKS / "fortunes_offensive")
    assert off.labels == ("no_ofensivo", "ofensivo")
    assert {k: len(v) for k, v in off.splits.items()} == {"train": 800, "dev": 100, "test": 100}
    assert sum(e.label == "ofensivo" for e in off.splits["test"]) == 50
    texts = {s: {e.text for e in v} for s, v in off.splits.items()}
    assert not texts["train"] & texts["test"] and not texts["dev"] & texts["test"]  # a fixed, disjoint split
    assert not any("--" in t for t in texts["train"])  # signatures cut: they would give the class away
    ner = load_task(TASKS / "fortunes_authors_ner")
    assert ner.labels == ("O", "B-PER", "I-PER")
    assert all("B-PER" in ex.tags for ex in ner.splits["test"])
    ex = next(e for e in ner.splits["train"] if "Cicerón" in e.words)
    i = ex.words.index("Cicerón")
    assert ex.tags[i] == "I-PER" and ex.words[ex.tags.index("B-PER") - 1] == "--"
    qa = load_task(TASKS / "fortunes_authors_qa")
    assert len(qa.splits["test"]) == 80
    for e in qa.splits["test"]:
        (ans, start), = e.answers
        assert e.context[start - 4:start] == " -- " and e.context[start:start + len(ans)] == ans


def test_a_conll_line_with_another_number_of_columns_names_file_and_line(tmp_path):
    t = write_task(tmp_path, "tokens", {"train.conll": "Juan B-PER\nPérez I-PER\nhabla O\n\nAna B-PER\n",
                                        "test.conll": "Ana B-PER\nvive O\nen O Madrid\n"})
    with pytest.raises(ValueError, match=r"test\.conll:3: 3 columns, the file's first line has 2"):
        load_task(t)


def test_a_tag_that_is_not_bio_is_refused(tmp_path):
    t = write_task(tmp_path, "tokens", {"train.conll": "-DOCSTART- O\n\nJuan PER\n", "test.conll": "Ana B-PER\n"})
    with pytest.raises(ValueError, match=r"train\.conll:3: tag 'PER' is not BIO"):
        load_task(t)


def test_iobes_tags_are_read_as_bio_with_the_same_entities(tmp_path):
    # CAPITEL-style IOBES: S- a one-word entity, E- an entity's last word
    iobes = ("El O\nRey B-PER\nFelipe I-PER\nVI E-PER\nvisitó O\nSevilla S-LOC\ny O\nCádiz S-LOC\n.\tO\n\n"
             "La B-ORG\nReal I-ORG\nAcademia I-ORG\nEspañola E-ORG\nabrió O\n")
    t = write_task(tmp_path, "tokens", {"train.conll": iobes, "test.conll": "Ana S-PER\nvive O\nen O\nLeón S-LOC\n"})
    task = load_task(t)
    first, second = task.splits["train"]
    assert first.tags == ("O", "B-PER", "I-PER", "I-PER", "O", "B-LOC", "O", "B-LOC", "O")
    assert second.tags == ("B-ORG", "I-ORG", "I-ORG", "I-ORG", "O")
    assert task.labels == ("O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER")
    raw = [["O", "B-PER", "I-PER", "E-PER", "O", "S-LOC", "O", "S-LOC", "O"], ["B-ORG", "I-ORG", "I-ORG", "E-ORG", "O"]]
    assert [entities(r) for r in raw] == [entities(e.tags) for e in task.splits["train"]]  # the same entities
    (tmp_path / "test.conll").write_text("Ana X-PER\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"test\.conll:1: tag 'X-PER' is not BIO or IOBES"):
        load_task(t)


def test_an_entity_type_missing_from_train_is_an_unknown_label_in_the_test_split(tmp_path):
    t = write_task(tmp_path, "tokens", {"train.conll": "Juan B-PER\nhabla O\n",
                                        "test.conll": "Ana B-PER\nvive O\n\nen O\nMadrid B-LOC\n"})
    with pytest.raises(ValueError, match=r"test\.conll:4: unknown label 'LOC' in the test split \(not in the train "
                                         r"split: PER\)"):
        load_task(t)


def test_an_unknown_class_label_in_the_test_split_names_file_and_line(tmp_path):
    train = "".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in [("Hola", "a"), ("Adiós", "b")])
    test = json.dumps({"text": "Buenas", "label": "a"}) + "\n\n" + json.dumps({"text": "Hasta", "label": "c"}) + "\n"
    t = write_task(tmp_path, "classification", {"train.jsonl": train, "test.jsonl": test})
    with pytest.raises(ValueError, match=r"test\.jsonl:3: unknown label 'c' in the test split"):
        load_task(t)
    # with `labels` listed, a train label outside them is refused the same way
    t = write_task(tmp_path, "classification", {}, labels=["a", "c"])
    with pytest.raises(ValueError, match=r"train\.jsonl:2: unknown label 'b' in the train split \(not in the task's"):
        load_task(t)


def test_a_qa_answer_whose_offset_misses_its_text_names_file_and_line(tmp_path):
    ctx = "El núcleo controla el hardware. La filial de Montpellier produce amplificadores."
    good = {"id": "q1", "question": "¿Qué produce?", "answers": [{"text": "amplificadores", "answer_start": 65}]}
    bad = {"id": "q2", "question": "¿Qué controla?", "answers": [{"text": "hardware", "answer_start": 21}]}
    doc = {"data": [{"title": "x", "paragraphs": [{"context": ctx, "qas": [good, bad]}]}]}
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    t = write_task(tmp_path, "qa", {"train.json": text, "test.json": text})
    line = text.splitlines().index(next(x for x in text.splitlines() if '"q2"' in x)) + 1
    with pytest.raises(ValueError, match=rf"train\.json:{line}: question 'q2': answer 'hardware' is not at offset "
                                         r"21 of its context \(found ' hardwar'\)"):
        load_task(t)


@pytest.mark.parametrize("ascii_only", [False, True])
def test_a_bad_answer_under_a_non_ascii_or_numeric_id_names_its_own_line(tmp_path, ascii_only):
    ctx = "Lo dijo Cervantes."
    qas = [{"id": "q1", "question": "¿Quién?", "answers": [{"text": "Cervantes", "answer_start": 8}]},
           {"id": "pregunta-ñ", "question": "¿Quién?", "answers": [{"text": "Cervantes", "answer_start": 7}]}]
    doc = {"data": [{"paragraphs": [{"context": ctx, "qas": qas}]}]}
    # json.dumps escapes ñ as \u00f1 with ensure_ascii: the id is matched decoded either way
    text = json.dumps(doc, ensure_ascii=ascii_only, indent=1)
    t = write_task(tmp_path, "qa", {"train.json": text, "test.json": text})
    with pytest.raises(ValueError, match=r"train\.json:19: question 'pregunta-ñ': answer 'Cervantes' is not at"):
        load_task(t)
    qas[1]["id"] = 7  # a numeric id
    text = json.dumps(doc, ensure_ascii=ascii_only, indent=1)
    (tmp_path / "train.json").write_text(text, encoding="utf-8")
    assert '"id": 7' in text.splitlines()[18]
    with pytest.raises(ValueError, match=r"train\.json:19: question '7': answer"):
        load_task(t)


def test_every_question_of_a_large_squad_file_names_the_line_of_its_id(tmp_path):
    from tamiz.train.finetune.tasks import read_squad

    ctx = "Miguel de Cervantes escribió el Quijote en Alcalá de Henares, según cuentan."
    ids = [f"año-{i}" if i % 3 else (i if i % 2 else f"{i:024x}") for i in range(2000)]
    paras = [{"context": ctx, "qas": [{"id": qid, "question": "¿Quién?",
                                       "answers": [{"text": "Cervantes", "answer_start": 10}]}]} for qid in ids]
    text = json.dumps({"data": [{"title": "t", "paragraphs": paras}]}, ensure_ascii=False, indent=1)
    (tmp_path / "big.json").write_text(text, encoding="utf-8")
    lines = text.splitlines()
    got = read_squad(tmp_path / "big.json")
    assert [e.id for e in got] == [str(i) for i in ids]
    for e, qid in zip(got, ids):
        line = int(e.where.rsplit(":", 1)[1])
        assert lines[line - 1].strip() == f'"id": {json.dumps(qid, ensure_ascii=False)},'


def test_tsv_pairs_with_a_where_filter_and_a_short_row(tmp_path):
    rows = ["language\tsentence1\tsentence2\tgold_label", "es\tEl gato duerme.\tUn animal descansa.\tentailment",
            "en\tThe cat sleeps.\tAn animal rests.\tentailment", "es\tLlueve.\tHace sol.\tcontradiction"]
    cfg = dict(train="train.tsv", test="test.tsv", text="sentence1", text_pair="sentence2", label="gold_label",
               where={"language": "es"})
    # a file without the `where` column keeps its rows (XNLI's translated train split has no language column)
    no_language = ["\t".join(r.split("\t")[1:]) for r in rows]
    t = write_task(tmp_path, "classification", {"train.tsv": "\n".join(rows) + "\n",
                                                "test.tsv": "\n".join(no_language) + "\n"}, **cfg)
    task = load_task(t)
    assert [(e.text, e.pair, e.label) for e in task.splits["train"]] == [
        ("El gato duerme.", "Un animal descansa.", "entailment"), ("Llueve.", "Hace sol.", "contradiction")]
    assert len(task.splits["test"]) == 3
    (tmp_path / "test.tsv").write_text("\n".join(rows[:2] + ["es\tsolo una frase\tentailment"]) + "\n")
    with pytest.raises(ValueError, match=r"test\.tsv:3: 3 columns, the header has 4"):
        load_task(t)


def test_the_task_file_is_checked_field_by_field(tmp_path):
    t = write_task(tmp_path, "classification", {}, training={"epochs": 0})
    with pytest.raises(ValueError, match=r"task\.yaml: training\.epochs: must be >= 1, got 0"):
        load_task(t)
    t = write_task(tmp_path, "ner", {})
    with pytest.raises(ValueError, match=r"kind: must be one of classification, tokens, qa, got 'ner'"):
        load_task(t)
    t = write_task(tmp_path, "classification", {}, epochs=3)
    with pytest.raises(ValueError, match=r"epochs: unknown field"):
        load_task(t)


# ---- metrics ----

def test_entity_f1_matches_seqeval_default_mode():
    # seqeval's README example: one of two entities right in each of precision and recall -> 0.5
    gold = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    assert entity_scores(gold, pred) == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    # conlleval's chunking: I- after O starts an entity; a type change splits one
    assert entities(["O", "I-PER", "I-PER", "O"]) == [("PER", 1, 2)]
    assert entities(["B-PER", "I-LOC", "B-PER", "B-PER"]) == [("PER", 0, 0), ("LOC", 1, 1), ("PER", 2, 2),
                                                              ("PER", 3, 3)]
    assert entity_scores([["B-PER", "O"]], [["O", "O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_classification_and_qa_metrics_on_known_cases():
    s = classification_scores([0, 0, 1, 1], [0, 1, 1, 1], 2)
    assert s["accuracy"] == 0.75 and s["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert classification_scores([0, 0], [0, 0], 2)["macro_f1"] == 0.5  # a label never seen counts 0
    assert normalize_answer("¡El Quijote!") == "quijote"
    q = qa_scores([["Miguel de Cervantes", "Cervantes"], ["los amplificadores"]], ["cervantes.", "amplificadores y"])
    assert q["exact_match"] == 0.5 and q["f1"] == pytest.approx((1 + 2 / 3) / 2)


def test_qa_answers_are_normalised_as_mlqa_normalises_spanish():
    # MLQA's Spanish articles are un|una|unos|unas|el|la|los|las: "lo" stays
    assert normalize_answer("lo mejor") == "lo mejor"
    assert qa_scores([["lo mejor"]], ["mejor"]) == {"exact_match": 0.0, "f1": pytest.approx(2 / 3)}
    # every Unicode punctuation character goes (category P*), and ASCII's string.punctuation, symbols included
    assert normalize_answer("Sí…") == "sí"
    assert qa_scores([["Sí"]], ["Sí…"]) == {"exact_match": 1.0, "f1": 1.0}
    assert normalize_answer("‹Juan·Pérez›, §3") == "juanpérez 3"
    assert normalize_answer("„El caso“ cuesta $5 + IVA") == "caso cuesta 5 iva"
    assert normalize_answer("°C ©") == "°c ©"  # symbols outside ASCII are no punctuation to MLQA (category S)
    assert normalize_answer("Pe\u0301rez") == normalize_answer("Pérez") == "pérez"  # NFC first (tamiz's own step)


# ---- encoding ----

@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.mark.parametrize("model_kind", ["masked", "causal"])
def test_every_word_gets_one_labelled_token_and_answers_map_back_to_their_text(tok, model_kind):
    enc = Encoder(tok, model_kind, 128, stride=16)
    ner = load_task(TASKS / "fortunes_authors_ner")
    for ex in ner.splits["dev"]:
        e = enc.words(ex, [ner.labels.index(t) for t in ex.tags])
        assert len(e.positions) == len(ex.words) and len(e.ids) <= 128
        kept = [p for p in e.positions if p != -1]
        assert len(kept) == len(set(kept)) == sum(x != -100 for x in e.label)
        assert [e.label[p] for p in kept] == [ner.labels.index(t) for t, p in zip(ex.tags, e.positions) if p != -1]
    qa = load_task(TASKS / "fortunes_authors_qa")
    short = Encoder(tok, model_kind, 40, stride=8)  # several windows per context
    windows = found = 0
    for i, ex in enumerate(qa.splits["dev"]):
        for w in short.qa(ex, i):
            windows += 1
            assert len(w.ids) <= 40
            if w.label != (0, 0):
                found += 1
                assert answer_text(ex.context, w.offsets, *w.label) == ex.answers[0][0]
    assert windows > len(qa.splits["dev"]) and found >= len(qa.splits["dev"])  # every answer lies in some window


@pytest.mark.parametrize("model_kind", ["masked", "causal"])
def test_an_answer_with_spaces_around_it_is_labelled_and_one_no_window_holds_is_counted(tok, model_kind):
    ctx = "Dijo: la vida es sueño — Calderón de la Barca , 1635."
    s = ctx.index("Calderón")
    enc = Encoder(tok, model_kind, 48, stride=8)
    # SQuAD files hold such answers (read_squad accepts them: context[s:s + len(text)] == text)
    for text, start in ((" Calderón de la Barca", s - 1), ("Calderón de la Barca ", s), (" Calderón de la Barca ", s - 1)):
        ex = QAExample("q", ctx, "¿Quién?", ((text, start),), "x")
        assert ctx[start:start + len(text)] == text
        labelled = [w for w in enc.qa(ex, 0) if w.label != (0, 0)]
        assert labelled and all(answer_text(ctx, w.offsets, *w.label) == "Calderón de la Barca" for w in labelled)
    # an answer longer than a window is in none of them whole: counted, not lost in silence
    long_ctx = "Lo dijo Calderón de la Barca. " + "La vida es sueño, y los sueños, sueños son, dijo el poeta. " * 6
    long = long_ctx[30:200]
    examples = [QAExample("q1", long_ctx, "¿Qué?", ((long, 30),), "x:1"),
                QAExample("q2", long_ctx, "¿Quién?", (("Calderón de la Barca", 8),), "x:2")]
    short = Encoder(tok, model_kind, 32, stride=4)
    windows, unplaced = qa_split(short, examples)
    assert unplaced == 1 and len(windows) > 2 and {w.ref for w in windows} == {0, 1}
    assert all(w.label == (0, 0) for w in windows if w.ref == 0)


def test_qa_joins_question_and_context_as_classification_joins_a_pair(tok):
    ctx = "Lo dijo Calderón de la Barca en 1635."
    ex = QAExample("q", ctx, "¿Quién lo dijo?", (("Calderón de la Barca", 8),), "x")
    eot = tok.token_to_id("<|endoftext|>")

    def ids(text):
        return tok.encode(text, add_special_tokens=False).ids

    q, c, nl = ids(ex.question), ids(ctx), ids("\n")
    # causal: one EOT, the leading one; a line break between question and context, as between a pair's texts
    (w,) = Encoder(tok, "causal", 128).qa(ex, 0)
    assert w.ids == [eot] + q + nl + c and w.ids.count(eot) == 1
    base = 1 + len(q) + len(nl)  # the first context token: offsets say where the context starts
    assert w.offsets[:base] == [None] * base and w.offsets[base] == (0, 1) and len(w.offsets) == len(w.ids)
    # masked: EOT around and between, as its pairs
    (w,) = Encoder(tok, "masked", 128).qa(ex, 0)
    assert w.ids == [eot] + q + [eot] + c + [eot]
    for kind in ("causal", "masked"):
        (w,) = Encoder(tok, kind, 128).qa(ex, 0)
        assert answer_text(ctx, w.offsets, *w.label) == "Calderón de la Barca"
