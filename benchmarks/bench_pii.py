"""Personal data redaction: tamiz's redactor beside Microsoft Presidio's recognizers, on the same planted set.

Measures, in one run and one process (one core):
- span-level precision, recall and F1 per kind on the planted set (benchmarks/pii_testset.py: real
  Spanish text from the bundled sample with generated identifiers and look-alikes; seed 7, a seed the
  detector was not developed on), and the share of each kind of look-alike left untouched;
- what each side flags in the sample's own Spanish text, which holds (almost) no personal data: the
  Debian Reference, the fortunes and the Reina-Valera Bible (every span it flags there is listed by
  kind, with examples, so that it can be checked by hand);
- documents per CPU second (one core; `time.process_time`, so that the other work on a shared machine
  does not count) of finding: tamiz's `find_pii` and Presidio's `AnalyzerEngine.analyze`, timed
  during the scoring pass over the planted set, and over the 107 Debian Reference sections (8.6 KB
  each, one pass: tamiz's `PIIRedactor.redact`, find and replace; Presidio's `analyze`); and tamiz's
  `PIIRedactor.redact` over the planted set, best of 3 passes.

Presidio (presidio-analyzer 2.2.366, the `bench` extra) runs without any trained spaCy model (none can
be downloaded here): its NLP engine is a `SpacyNlpEngine` whose Spanish pipeline is `spacy.blank("es")`
(spaCy's rule-based Spanish tokenizer) plus one component that sets each token's lemma to its
lower-cased text, so that Presidio's context words (which it compares with lemmas) still work. Its
recognizers for these kinds, in Spanish: EmailRecognizer, IpRecognizer, PhoneRecognizer (regions ES,
MX, AR, CO, CL, PE, VE, Spanish context words), CreditCardRecognizer (the Spanish context words of
Presidio's default configuration), IbanRecognizer, EsNifRecognizer, EsNieRecognizer. Presidio has no
recognizer for the Spanish social security number (its NSS column is empty). Every result counts, as
`analyze` returns them with the default score threshold 0.

    python benchmarks/bench_pii.py [--quick]      # results: benchmarks/results/pii.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pii_testset import KINDS, SAMPLE, make_testset, score  # noqa: E402
from record import write_results  # noqa: E402

PRESIDIO_KINDS = {"EMAIL_ADDRESS": "email", "IP_ADDRESS": "ip", "PHONE_NUMBER": "phone", "ES_NIF": "dni",
                  "ES_NIE": "nie", "IBAN_CODE": "iban", "CREDIT_CARD": "card"}


def tamiz_side() -> tuple[Callable, Callable]:
    from tamiz.pipeline.pii import PIIRedactor, find_pii

    redactor = PIIRedactor()
    return (lambda text: [tuple(s) for s in find_pii(text)]), redactor.redact


def presidio_side() -> tuple[Callable, Callable] | None:
    # tldextract (Presidio's e-mail check) would fetch the public suffix list; its bundled copy is used instead
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    try:
        import spacy
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer, EsNieRecognizer,
                                                              EsNifRecognizer, IbanRecognizer, IpRecognizer,
                                                              PhoneRecognizer)
    except ImportError as e:
        print(f"Presidio left out: {e} (pip install -e '.[bench]')", file=sys.stderr)
        return None
    from spacy.language import Language

    @Language.component("tamiz_lower_lemma")
    def lower_lemma(doc):
        for tok in doc:
            tok.lemma_ = tok.lower_
        return doc

    class BlankSpanish(SpacyNlpEngine):
        """spaCy's blank Spanish pipeline (tokenizer only) and lower-cased words as lemmas; no model."""

        def load(self) -> None:
            nlp = spacy.blank("es")
            nlp.add_pipe("tamiz_lower_lemma")
            self.nlp = {"es": nlp}

    engine = BlankSpanish(models=[{"lang_code": "es", "model_name": "blank"}])
    engine.load()
    registry = RecognizerRegistry(supported_languages=["es"])
    for rec in (EmailRecognizer(supported_language="es"), IpRecognizer(supported_language="es"),
                PhoneRecognizer(supported_language="es", supported_regions=("ES", "MX", "AR", "CO", "CL", "PE", "VE"),
                                context=["teléfono", "telefono", "tel", "móvil", "movil", "celular", "llame",
                                         "llamar", "fax", "whatsapp", "contacto"]),
                CreditCardRecognizer(supported_language="es", context=[
                    "tarjeta", "credito", "visa", "mastercard", "cc", "amex", "discover", "jcb", "diners", "maestro",
                    "instapayment"]),
                IbanRecognizer(supported_language="es"), EsNifRecognizer(), EsNieRecognizer()):
        registry.add_recognizer(rec)
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["es"])
    entities = list(PRESIDIO_KINDS)

    def find(text: str) -> list[tuple[int, int, str]]:
        res = analyzer.analyze(text=text, language="es", entities=entities)
        return sorted((r.start, r.end, PRESIDIO_KINDS[r.entity_type]) for r in res)

    return find, find


def natural_docs(step: int) -> list[str]:
    """The sample's own Spanish text (no planted data): every Debian Reference section (107, technical:
    addresses, versions, commands), and every `step`-th fortune and Bible chapter."""
    ref = SAMPLE / "reference"
    texts = [json.loads(line)["text"] for line in open(ref / "debian_reference_es.jsonl", encoding="utf-8")]
    texts += [json.loads(line)["text"] for line in open(ref / "fortunes_es.jsonl", encoding="utf-8")][::step]
    with gzip.open(SAMPLE / "books" / "reina_valera_1909.jsonl.gz", "rt", encoding="utf-8") as f:
        texts += [json.loads(line)["text"] for line in f][::step]
    return texts


def flagged(find: Callable, texts: list[str]) -> dict:
    counts = {k: 0 for k in KINDS}
    examples: dict[str, list[str]] = {k: [] for k in KINDS}
    for t in texts:
        for s, e, k in find(t):
            counts[k] += 1
            if len(examples[k]) < 8:
                examples[k].append(t[max(0, s - 30):e + 15])
    return {"spans": counts, "examples": {k: v for k, v in examples.items() if v}}


def throughput(fn: Callable, texts: list[str], repeats: int) -> dict:
    """Documents per CPU second of this process (time.process_time: the machine is shared, and the CPU
    time of a one-thread process does not count the time other processes hold the cores), best pass."""
    best, wall = float("inf"), 0.0
    for _ in range(repeats):
        t0, w0 = time.process_time(), time.perf_counter()
        for t in texts:
            fn(t)
        took = time.process_time() - t0
        if took < best:
            best, wall = took, time.perf_counter() - w0
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    return {"docs": len(texts), "cpu_seconds": round(best, 3), "wall_seconds": round(wall, 3),
            "docs_per_s": round(len(texts) / best, 1), "mb_per_s": round(mb / best, 3)}


class Timed:
    """`find` that adds up its CPU time, so the scoring pass is also the find-only throughput pass."""

    def __init__(self, find: Callable) -> None:
        self.find, self.cpu, self.calls = find, 0.0, 0

    def __call__(self, text: str):
        t0 = time.process_time()
        out = self.find(text)
        self.cpu += time.process_time() - t0
        self.calls += 1
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 planted documents, 1 pass, less natural text")
    ap.add_argument("--docs", type=int, default=None, help="planted documents (default 1000; --quick 200)")
    args = ap.parse_args()
    n = args.docs or (200 if args.quick else 1000)
    repeats = 1 if args.quick else 3
    docs = make_testset(n, seed=7)
    texts = [d.text for d in docs]
    natural = natural_docs(20 if args.quick else 8)
    sides = {"tamiz": tamiz_side(), "presidio": presidio_side()}
    results = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
        "testset": {"docs": n, "seed": 7, "gold_spans": sum(len(d.gold) for d in docs),
                    "lookalikes": sum(len(d.negatives) for d in docs),
                    "mb": round(sum(len(t.encode("utf-8")) for t in texts) / 1e6, 3)},
        "natural_text": {"docs": len(natural), "mb": round(sum(len(t.encode("utf-8")) for t in natural) / 1e6, 3)},
    }
    for name, side in sides.items():
        if side is None:
            results[name] = None
            continue
        find, run = side
        timed = Timed(find)
        s = score(docs, timed)
        s["errors"] = s["errors"][:40]
        mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
        results[name] = {"quality": s,
                         "find_throughput": {"docs": timed.calls, "cpu_seconds": round(timed.cpu, 3),
                                             "docs_per_s": round(timed.calls / timed.cpu, 1),
                                             "mb_per_s": round(mb / timed.cpu, 3)},
                         "throughput_reference": throughput(run, natural[:107], 1),
                         "natural_text": flagged(find, natural)}
        if name == "tamiz":  # find and replace, best of `repeats` passes (one pass of Presidio is 15 s)
            results[name]["redact_throughput"] = throughput(run, texts, repeats)
    for name in sides:
        r = results[name]
        if r is None:
            print(f"{name}: not run")
            continue
        q = r["quality"]
        print(f"{name}: micro P {q['micro']['precision']} R {q['micro']['recall']}; "
              f"find {r['find_throughput']['docs_per_s']} docs/s per core (Debian Reference: "
              f"{r['throughput_reference']['docs_per_s']}); natural text spans {r['natural_text']['spans']}")
        for k, v in q["per_kind"].items():
            print(f"  {k:6s} P {v['precision']} R {v['recall']} F1 {v['f1']} (tp {v['tp']} fp {v['fp']} fn {v['fn']})")
    path = write_results("pii", results, args.quick)
    print(f"results: {path}")
    print(json.dumps({k: results[k] for k in ("testset", "machine")}))


if __name__ == "__main__":
    main()
