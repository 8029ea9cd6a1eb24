"""Decontamination benchmark: building the n-gram index of evaluation sets, and checking documents against
it (documents/s per core), on the bundled sample's real Spanish text; beside a plain Python implementation
of the same rule (a set of the n-grams as strings, as lm-evaluation-harness's Janitor keeps them in its
Python mode), which must find the same documents.

Evaluation sets (all real text of the sample; n = 13):
  handbook_qa     data/sample/evaluation/handbook_qa.jsonl (6 items: context, question, answer)
  bible_heldout   every 10th chapter of the Reina-Valera 1909 (119 items), as a book-based benchmark would be
  fortunes_eval   every 10th Spanish fortune (1,073 items, most shorter than 13 words: counted as short_items)
Documents checked: the 109 Spanish crawl pages, the other 1,070 Bible chapters (the Bible repeats itself:
Kings and Chronicles, the Gospels, so some share 13-grams with held-out chapters), the 107 Debian
Reference sections, and the other 9,661 fortunes.
Scale: the index of every text of the sample (Bible, Debian Reference, all fortunes, the crawl pages) as
one evaluation set: build time, bytes, and the throughput of the crawl pages against it.

Per group: documents/s of the check (`words` of the text, then the index) and of the plain implementation;
then every document through the step itself. Times are CPU seconds of this process
(`time.process_time`, best of --repeat), so the per-core rates hold on a machine shared with other work. Results: benchmarks/results/decontam.json; the last line printed is
the JSON.

    python benchmarks/bench_decontam.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402

N = 13


def load(quick: bool, tmp: Path) -> tuple[dict[str, Path], dict[str, list]]:
    """(evaluation set files, documents per group)."""
    from tamiz.pipeline.ingest import IngestConfig, ingest_file
    from tamiz.pipeline.readers import expand_inputs, read_documents
    from tamiz.pipeline.report import ReadReport
    from tamiz.pipeline.writers import read_parquet_documents

    sample = ROOT / "data" / "sample"
    for f in expand_inputs([sample / "common_crawl"]):
        ingest_file(f, tmp / "ingest", "common_crawl", IngestConfig())
    crawl = [d for f in sorted((tmp / "ingest" / "docs").glob("*.parquet")) for d in read_parquet_documents(f)]

    def read(path, source):
        return list(read_documents(path, ReadReport(str(path)), source))

    bible = read(sample / "books" / "reina_valera_1909.jsonl.gz", "books")
    ref = read(sample / "reference" / "debian_reference_es.jsonl", "reference")
    fortunes = read(sample / "reference" / "fortunes_es.jsonl", "reference")
    sets = {"handbook_qa": tmp / "handbook_qa.jsonl"}  # its items as one text field, as the other sets
    with open(sets["handbook_qa"], "w", encoding="utf-8") as f:
        for line in (sample / "evaluation" / "handbook_qa.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            f.write(json.dumps({"text": "\n".join((r["context"], r["question"], r["answer"]))}, ensure_ascii=False)
                    + "\n")
    for name, docs in (("bible_heldout", bible[::10]), ("fortunes_eval", fortunes[::10])):
        sets[name] = tmp / f"{name}.jsonl"
        with open(sets[name], "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps({"text": d.text}, ensure_ascii=False) + "\n")
    groups = {"crawl_es": crawl, "bible_other": [d for i, d in enumerate(bible) if i % 10],
              "reference": ref, "fortunes_other": [d for i, d in enumerate(fortunes) if i % 10]}
    if quick:
        groups = {k: v[::4] for k, v in groups.items()}
    return sets, groups


def cpu(fn, repeat: int) -> tuple[float, object]:
    best, out = None, None
    for _ in range(repeat):
        c0 = time.process_time()
        out = fn()
        dt = time.process_time() - c0
        best = dt if best is None else min(best, dt)
    return best, out


def plain_index(items_by_set: dict[str, list[str]]) -> dict[str, set[str]]:
    """The same rule without hashing: each set's n-grams as space-joined strings in a Python set."""
    from tamiz.pipeline.filters.evalsets import words

    out = {}
    for name, items in items_by_set.items():
        grams = set()
        for text in items:
            w = words(text)
            grams.update(" ".join(w[i:i + N]) for i in range(len(w) - N + 1))
        out[name] = grams
    return out


def plain_overlaps(index: dict[str, set[str]], text: str) -> dict[str, int]:
    from tamiz.pipeline.filters.evalsets import words

    w = words(text)
    grams = [" ".join(w[i:i + N]) for i in range(len(w) - N + 1)]
    return {name: c for name, s in index.items() if (c := sum(g in s for g in grams))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a quarter of the documents, one repeat (under a minute)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    repeat = 1 if args.quick else args.repeat
    tmp = Path(tempfile.mkdtemp(prefix="bench-decontam-"))
    sets, groups = load(args.quick, tmp)

    from tamiz.pipeline.filters.decontaminate import Decontaminate
    from tamiz.pipeline.filters.evalsets import DecontaminationConfig, build_index, read_items, set_name

    paths = tuple(str(p) for p in sets.values())
    items = {set_name(p): read_items(p, ("text",)) for p in paths}
    build_s, index = cpu(lambda: build_index(list(items.items()), N), repeat)
    plain_build_s, plain = cpu(lambda: plain_index(items), repeat)
    step = Decontaminate(DecontaminationConfig(evaluation_sets=paths, action="tag"))
    assert step.index.stats == index.stats
    per_group, same = {}, True
    for g, docs in groups.items():
        t, found = cpu(lambda: [step.index.overlaps(step_words(d.text)) for d in docs], repeat)
        tp, found_plain = cpu(lambda: [plain_overlaps(plain, d.text) for d in docs], repeat)
        same &= found == found_plain
        mb = sum(len(d.text.encode("utf-8")) for d in docs) / 1e6
        contaminated: dict[str, int] = {}
        for hits in found:
            for s in hits:
                contaminated[s] = contaminated.get(s, 0) + 1
        per_group[g] = {"documents": len(docs), "mb": round(mb, 2), "docs_per_s": round(len(docs) / t, 1),
                        "mb_per_s": round(mb / t, 2),
                        "plain_docs_per_s": round(len(docs) / tp, 1),
                        "speedup_over_plain": round(tp / t, 2), "contaminated_by_set": contaminated}
    all_docs = [d for v in groups.values() for d in v]
    t_all, _ = cpu(lambda: [step.filter(d) for d in all_docs], 1)

    # scale: every text of the sample as one evaluation set
    everything = [d.text for v in groups.values() for d in v] + [t for v in items.values() for t in v]
    big_s, big = cpu(lambda: build_index([("everything", everything)], N), 1)
    crawl = groups["crawl_es"]
    t_big, _ = cpu(lambda: [big.overlaps(step_words(d.text)) for d in crawl], repeat)
    import numpy

    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "numpy": numpy.__version__, "load_average_at_start": os.getloadavg()[0],
                    "note": "shared machine, loaded by other work while measured; CPU seconds, one process = one core"},
        "quick": args.quick,
        "n": N,
        "index": {"sets": index.stats, "distinct_ngrams": int(len(index.keys)), "vocabulary": len(index.vocab),
                  "bytes": index.nbytes, "build_cpu_seconds": round(build_s, 3),
                  "plain_build_cpu_seconds": round(plain_build_s, 3)},
        "check": per_group,
        "all_documents_through_the_step": {"documents": len(all_docs), "docs_per_s": round(len(all_docs) / t_all, 1)},
        "same_documents_and_counts_as_plain": same,
        "scale": {"items": len(everything), "distinct_ngrams": int(len(big.keys)), "vocabulary": len(big.vocab),
                  "bytes": big.nbytes, "build_cpu_seconds": round(big_s, 2),
                  "crawl_docs_per_s_against_it": round(len(crawl) / t_big, 1)},
    }
    write_results("decontam", results, args.quick)
    print(json.dumps(results, ensure_ascii=False))


def step_words(text: str) -> list[str]:
    from tamiz.pipeline.filters.evalsets import words

    return words(text)


if __name__ == "__main__":
    main()
