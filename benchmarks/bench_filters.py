"""Quality filtering benchmarks: the heuristic chain side by side with datatrove, the quality classifier,
and the perplexity model, on the bundled sample (one process = one core).

Heuristics: documents/s and MB/s of tamiz's chain (Gopher quality, Gopher repetition, C4, FineWeb with the
FineWeb-2 spa_Latn thresholds) and of datatrove's GopherQualityFilter + GopherRepetitionFilter +
C4QualityFilter + FineWebQualityFilter with the same thresholds (language spa_Latn: spaCy word
splitting), on the same documents; the share of documents with the same keep/drop decision, every kind
of disagreement with examples of what each side measured, and the keep rate of each group of documents
(good: books, Debian reference, Spanish crawl pages; junk: the crawl pages ingest rejected as not
Spanish, the fortunes tagged offensive).
Classifier: training and scoring time, held-out precision/recall/F1/AUC. Perplexity: training time,
scoring documents/s, median perplexity per group.

datatrove runs in its own virtual environment (never in tamiz's), through a subprocess of this same
script in worker mode. Create it once (Python 3.11):

    python3.11 -m venv /tmp/dtvenv
    /tmp/dtvenv/bin/pip install "datatrove[processing]==0.10.1" spacy==3.8.18

and point TAMIZ_DATATROVE_PYTHON at another interpreter if it lives elsewhere. Without it the datatrove
columns are left out (and said so). Results: benchmarks/results/filters.json (full runs); the last line
printed is the JSON.

    python benchmarks/bench_filters.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402
DT_PYTHON = os.environ.get("TAMIZ_DATATROVE_PYTHON", "/tmp/dtvenv/bin/python")
SPA_STOP = ["de", "la", "en", "el", "y", "a", "que", "del", "los", "se", "por", "un", "con", "una", "las", "su"]
GOOD = ("books", "reference", "crawl_es")
JUNK = ("crawl_not_es", "offensive")


# --------------------------------------------------------------------------------- datatrove worker

def datatrove_worker(docs_path: str, mode: str, repeat: str = "1") -> None:
    """Runs inside datatrove's venv: decisions and time (mode 'run') or measured values (mode 'stats')."""
    from datatrove.data import Document as DTDoc
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)
    from datatrove.utils.text import PUNCTUATION_SET, split_into_words

    lang = "spa_Latn"
    docs = [json.loads(line) for line in open(docs_path, encoding="utf-8")]
    if mode == "stats":
        out = {}
        for d in docs:
            words = split_into_words(d["text"], lang)
            non_symbol = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
            out[d["id"]] = {"tokens": len(words), "words": len(non_symbol),
                            "alpha_words": round(sum(any(c.isalpha() for c in w) for w in words)
                                                 / max(1, len(words)), 6),
                            "mean_word_len": round(sum(map(len, non_symbol)) / max(1, len(non_symbol)), 4),
                            "stop_words": len(set(SPA_STOP) & set(words))}
        print(json.dumps(out))
        return
    filters = [
        GopherQualityFilter(language=lang, min_avg_word_length=3, max_avg_word_length=14, stop_words=SPA_STOP,
                            max_non_alpha_words_ratio=0.825, min_stop_words=2),
        GopherRepetitionFilter(language=lang, dup_para_frac=0, dup_line_char_frac=0, dup_para_char_frac=0,
                               dup_line_frac=0.252, top_n_grams=((2, 0.156), (3, 0.14), (4, 0.125)),
                               dup_n_grams=((5, 0.145), (6, 0.136), (7, 0.127), (8, 0.117), (9, 0.108), (10, 0.099))),
        C4QualityFilter(language=lang, filter_no_terminal_punct=False),
        FineWebQualityFilter(language=lang, short_line_thr=999, char_duplicates_ratio=0.1, line_punct_thr=0.182,
                             new_line_ratio=0.138),
    ]
    names = ["gopher_quality", "gopher_repetition", "c4", "fineweb"]
    split_into_words("calentamiento del tokenizador", lang)  # load spaCy outside the timing
    best = None
    for _ in range(int(repeat)):
        decisions, doc_seconds = [], []
        for d in docs:
            t0 = time.perf_counter()
            doc = DTDoc(text=d["text"], id=d["id"], metadata={})
            res = "keep"
            for f, name in zip(filters, names):
                try:
                    r = f.filter(doc)
                except Exception as e:  # datatrove raises on some inputs (e.g. no words): count it as its drop
                    res = f"{name}:error:{type(e).__name__}"
                    break
                if r is not True and (r is False or not r[0]):
                    res = f"{name}:{r[1] if isinstance(r, tuple) else ''}"
                    break
            doc_seconds.append(time.perf_counter() - t0)
            decisions.append(res)
        if best is None or sum(doc_seconds) < sum(best):
            best = doc_seconds
    seconds = sum(best)
    import datatrove
    import spacy

    print(json.dumps({"seconds": seconds, "doc_seconds": best, "decisions": decisions,
                      "versions": {"datatrove": datatrove.__version__ if hasattr(datatrove, "__version__")
                                   else _dist_version("datatrove"), "spacy": spacy.__version__}}))


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


# -------------------------------------------------------------------------------------- the documents

def load_groups(quick: bool) -> dict[str, list]:
    sys.path.insert(0, str(ROOT))
    from tamiz.pipeline.ingest import IngestConfig, ingest_file
    from tamiz.pipeline.readers import expand_inputs, read_documents
    from tamiz.pipeline.report import ReadReport
    from tamiz.pipeline.writers import read_parquet_documents

    sample = ROOT / "data" / "sample"
    tmp = Path(tempfile.mkdtemp(prefix="bench-filters-"))
    for f in expand_inputs([sample / "common_crawl"]):
        ingest_file(f, tmp, "common_crawl", IngestConfig())
    crawl_es = [d for f in sorted((tmp / "docs").glob("*.parquet")) for d in read_parquet_documents(f)]
    crawl_not = [d for f in sorted((tmp / "rejects").glob("*.parquet")) for d in read_parquet_documents(f)
                 if d.text.strip()]

    def read(path, source):
        return list(read_documents(path, ReadReport(str(path)), source))

    books = read(sample / "books" / "reina_valera_1909.jsonl.gz", "books")
    ref = read(sample / "reference" / "debian_reference_es.jsonl", "reference")
    off = read(sample / "offensive" / "fortunes_es_off.jsonl", "offensive")
    groups = {"crawl_es": crawl_es, "books": books, "reference": ref, "crawl_not_es": crawl_not, "offensive": off}
    if quick:
        groups = {"crawl_es": crawl_es, "books": books[::12], "reference": ref[::3], "crawl_not_es": crawl_not[::3],
                  "offensive": off[::20]}
    return groups


def heuristics(groups: dict[str, list], repeat: int) -> dict:
    from tamiz.pipeline.document import Document
    from tamiz.pipeline.filters import heuristic_steps
    from tamiz.pipeline.runner import StepStats, run_steps

    steps = heuristic_steps()
    docs = [d for g in groups.values() for d in g]
    best, decisions, metas = None, [], []
    for _ in range(repeat):
        copies = [Document(d.id, d.text, d.source, d.url, {}) for d in docs]
        decisions, doc_seconds = [], []
        for d in copies:  # one document at a time, as the filter stage runs them
            t0 = time.perf_counter()
            kept = list(run_steps([d], steps, StepStats()))
            doc_seconds.append(time.perf_counter() - t0)
            decisions.append("keep" if kept else d.metadata["drop_reason"])
        if best is None or sum(doc_seconds) < sum(best):
            best = doc_seconds
        metas = [d.metadata for d in copies]
    seconds = sum(best)
    mb = sum(len(d.text.encode()) for d in docs) / 1e6
    return {"docs": len(docs), "mb": round(mb, 3), "seconds": round(seconds, 3),
            "docs_per_s": round(len(docs) / seconds, 1), "mb_per_s": round(mb / seconds, 3),
            "by_group": per_group(groups, best), "_decisions": decisions, "_metas": metas}


def per_group(groups: dict[str, list], doc_seconds: list[float]) -> dict[str, dict]:
    out, start = {}, 0
    for name, g in groups.items():
        s = sum(doc_seconds[start:start + len(g)])
        mb = sum(len(d.text.encode()) for d in g) / 1e6
        out[name] = {"docs": len(g), "docs_per_s": round(len(g) / s, 1), "mb_per_s": round(mb / s, 3)}
        start += len(g)
    return out


def compare(groups: dict[str, list], tz: dict, repeat: int) -> dict:
    if not Path(DT_PYTHON).is_file():
        return {"available": False, "why": f"no datatrove interpreter at {DT_PYTHON} (see the docstring to create it)"}
    docs = [d for g in groups.values() for d in g]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "docs.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps({"id": d.id, "text": d.text}, ensure_ascii=False) + "\n")
        run = subprocess.run([DT_PYTHON, __file__, "--datatrove-worker", str(path), "run", str(repeat)],
                             capture_output=True, text=True, timeout=7200)
        if run.returncode:
            return {"available": False, "why": f"datatrove worker failed: {run.stderr[-2000:]}"}
        dt = json.loads(run.stdout.strip().splitlines()[-1])
        ours, theirs = tz["_decisions"], dt["decisions"]
        same = [(a == "keep") == (b == "keep") for a, b in zip(ours, theirs)]
        kinds = Counter((a, b) for a, b, s in zip(ours, theirs, same) if not s)
        # what each side measured on the documents they disagree on
        idx = [i for i, s in enumerate(same) if not s]
        with open(path, "w", encoding="utf-8") as f:
            for i in idx:
                f.write(json.dumps({"id": docs[i].id, "text": docs[i].text}, ensure_ascii=False) + "\n")
        stats = json.loads(subprocess.run([DT_PYTHON, __file__, "--datatrove-worker", str(path), "stats"],
                                          capture_output=True, text=True, timeout=600).stdout.strip().splitlines()[-1])
    examples = []
    for i in idx[:40]:
        gq = tz["_metas"][i].get("gopher_quality", {})
        examples.append({"id": docs[i].id, "tamiz": ours[i], "datatrove": theirs[i],
                         "tamiz_measured": {k: gq.get(k) for k in ("tokens", "words", "alpha_words", "mean_word_len",
                                                                  "stop_words")},
                         "datatrove_measured": stats.get(docs[i].id)})
    keep_rates = {}
    start = 0
    for name, g in groups.items():
        sl = slice(start, start + len(g))
        start += len(g)
        keep_rates[name] = {"docs": len(g), "tamiz": round(sum(x == "keep" for x in ours[sl]) / len(g), 4),
                            "datatrove": round(sum(x == "keep" for x in theirs[sl]) / len(g), 4)}
    by_group = per_group(groups, dt["doc_seconds"])
    for name, g in by_group.items():
        g["tamiz_speedup"] = round(tz["by_group"][name]["docs_per_s"] / g["docs_per_s"], 1)
    return {
        "available": True, "versions": dt["versions"],
        "docs_per_s": round(len(docs) / dt["seconds"], 1), "seconds": round(dt["seconds"], 3),
        "speedup": round(dt["seconds"] / tz["seconds"], 1),
        "agreement": round(sum(same) / len(same), 4), "disagreements": len(idx),
        "disagreement_kinds": [{"tamiz": a, "datatrove": b, "docs": n} for (a, b), n in kinds.most_common()],
        "examples": examples, "keep_rates": keep_rates,
        "reason_counts": {"tamiz": dict(Counter(ours).most_common()), "datatrove": dict(Counter(theirs).most_common())},
        "by_group": by_group,
    }


# ---------------------------------------------------------------------------- classifier, perplexity

def quality(groups: dict[str, list]) -> dict:
    from tamiz.pipeline.quality.classifier import ClassifierConfig, load_classifier, score_texts, train_classifier
    from tamiz.pipeline.readers import read_documents
    from tamiz.pipeline.report import ReadReport

    sample = ROOT / "data" / "sample"
    files = [sample / "books" / "reina_valera_1909.jsonl.gz", sample / "reference" / "debian_reference_es.jsonl",
             sample / "reference" / "fortunes_es.jsonl"]
    pos = [d for f in files for d in read_documents(f, ReadReport(str(f)), "pos")]
    neg = groups["crawl_es"] + groups["crawl_not_es"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rep = train_classifier(pos, neg, Path(tmp) / "q.bin", ClassifierConfig())
        total = time.perf_counter() - t0
        model = load_classifier(Path(tmp) / "q.bin")
        texts = [d.text for d in groups["crawl_es"] + groups["books"]]
        t0 = time.perf_counter()
        score_texts(model, texts)
        bulk = time.perf_counter() - t0
        t0 = time.perf_counter()
        for t in texts:  # one document per call, as the filter stage's mapper does
            score_texts(model, [t])
        single = time.perf_counter() - t0
        size = (Path(tmp) / "q.bin").stat().st_size
    return {"heldout": rep["heldout"], "train_docs": rep["train"], "train_seconds": rep["seconds"]["train"],
            "train_total_seconds": round(total, 3), "model_mb": round(size / 1e6, 1),
            "score_docs_per_s_batch": round(len(texts) / bulk, 1),
            "score_docs_per_s_one_by_one": round(len(texts) / single, 1),
            "score_mb_per_s_one_by_one": round(sum(len(t.encode()) for t in texts) / 1e6 / single, 3)}


def perplexity(groups: dict[str, list], quick: bool) -> dict:
    import numpy as np

    from tamiz.pipeline.perplexity.model import CharNgramLM
    from tamiz.pipeline.readers import read_documents
    from tamiz.pipeline.report import ReadReport

    sample = ROOT / "data" / "sample"
    books = list(read_documents(sample / "books" / "reina_valera_1909.jsonl.gz", ReadReport("b"), "books"))
    ref = list(read_documents(sample / "reference" / "debian_reference_es.jsonl", ReadReport("r"), "reference"))
    held = {d.id for d in books[1::10]}  # every tenth chapter is held out
    train = [d.text for d in books if d.id not in held] + [d.text for d in ref[::2]]
    t0 = time.perf_counter()
    m = CharNgramLM.train(train, order=5)
    train_s = time.perf_counter() - t0
    out: dict = {"order": 5, "train_mb": round(sum(len(t.encode()) for t in train) / 1e6, 2),
                 "train_seconds": round(train_s, 3), "ngrams": m.info["ngrams"], "median_perplexity": {}}
    evals = {"books_heldout": [d.text for d in books if d.id in held], "reference_heldout": [d.text for d in ref[1::2]],
             "crawl_es": [d.text for d in groups["crawl_es"]], "crawl_not_es": [d.text for d in groups["crawl_not_es"]],
             "offensive": [d.text for d in groups["offensive"]]}
    for name, texts in evals.items():
        out["median_perplexity"][name] = round(float(np.median([m.perplexity(t) for t in texts])), 1)
    texts = evals["crawl_es"]
    t0 = time.perf_counter()
    for t in texts:
        m.perplexity(t)
    s = time.perf_counter() - t0
    out["crawl_es_docs_per_s"] = round(len(texts) / s, 1)
    out["crawl_es_mb_per_s"] = round(sum(len(t.encode()) for t in texts) / 1e6 / s, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a subset of the documents, one repeat (under a minute)")
    ap.add_argument("--repeat", type=int, default=3, help="timed repeats of each chain (tamiz and datatrove); the "
                    "fastest pass is reported")
    ap.add_argument("--datatrove-worker", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.datatrove_worker:
        datatrove_worker(*args.datatrove_worker)
        return
    groups = load_groups(args.quick)
    repeat = 1 if args.quick else args.repeat
    tz = heuristics(groups, repeat)
    dt = compare(groups, tz, repeat)
    import fasttext  # noqa: F401
    import numpy

    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "numpy": numpy.__version__, "load_average_at_start": os.getloadavg()[0],
                    "note": "shared machine, loaded by other work while measured; one process = one core"},
        "quick": args.quick,
        "groups": {k: len(v) for k, v in groups.items()},
        "heuristics": {"tamiz": {k: v for k, v in tz.items() if not k.startswith("_")}, "datatrove": dt},
        "quality_classifier": quality(groups),
        "perplexity": perplexity(groups, args.quick),
    }
    write_results("filters", results, args.quick)
    short = {k: v for k, v in results.items()}
    if dt.get("available"):
        short["heuristics"] = {"tamiz": results["heuristics"]["tamiz"],
                               "datatrove": {k: v for k, v in dt.items() if k not in ("examples", "reason_counts")}}
    print(json.dumps(short, ensure_ascii=False))


if __name__ == "__main__":
    main()
