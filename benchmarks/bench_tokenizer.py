"""The Spanish tokenizer on the bundled sample: compression on held-out text, training speed, encoding speed.

Training text: the sample's curated sources, books (Reina-Valera 1909) + reference (Debian
Reference in Spanish, Spanish fortunes), read as `tamiz tokenizer train data/sample/books
data/sample/reference` reads them (5.66 MB; the every-100th-document hold-out is off here: all of
it trains).

Held-out text, never trained on:
- handbook: the debian-handbook es-ES pages of the sample's WARC files (canonical URLs
  https://debian-handbook.info/browse/es-ES/stable/*.html only: no mirror copies, no query strings,
  first capture of each URL), main text extracted with resiliparse, kept when fastText's top
  language is es with probability >= 0.65 (ingest's default): 98 of 127 pages, 0.78 MB. Technical
  prose with commands, paths and English terms.
- fortunes-off: data/sample/offensive/fortunes_es_off.jsonl (1,158 Spanish fortunes the Debian
  maintainers tagged offensive; not part of the default sample), 0.17 MB. Colloquial Spanish.

Measured:
1. compression: bytes/token, tokens/word, words kept whole, round trip: tamiz (32,768) trained on
   the curated text vs GPT-2, cl100k and Tekken, on both held-out texts; also tamiz trained with the
   two sources mixed 1:1 by characters (`--weight books=1 --weight reference=1`).
2. the regex comparison: one tokenizer per pre-tokenization pattern, same text, same vocabulary.
3. training: seconds per MB (best of 3 fresh processes each, alternating) and peak memory (VmHWM
   of the process, and its growth during training), HF tokenizers (all cores) vs SentencePiece BPE
   (same text, vocabulary, threads).
4. encoding: batch throughput in tokens/s with one thread (= per core) and with all cores.

    python benchmarks/bench_tokenizer.py [--quick]

--quick (under a minute): 1 MB of the training text at a vocabulary of 8,192 for the speed and
memory figures (one run each), no regex comparison. Writes benchmarks/results/tokenizer.json
("quick" says which mode); the last line printed is the JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402

SAMPLE = ROOT / "data" / "sample"
HANDBOOK = "https://debian-handbook.info/browse/es-ES/stable/"


# ---------------------------------------------------------------------------- texts

def training_texts(max_chars: int | None = None) -> list[str]:
    from tamiz.tokenizer.corpus import CorpusStats, iter_documents, resolve_inputs

    out, n = [], 0
    inputs = resolve_inputs([SAMPLE / "books", SAMPLE / "reference"])
    for d in iter_documents(inputs, CorpusStats(), max_doc_chars=50_000):
        out.append(d.text)
        n += len(d.text)
        if max_chars and n >= max_chars:
            break
    return out


def handbook_texts() -> list[str]:
    from tamiz.pipeline.extract import extract_text
    from tamiz.pipeline.langid import DEFAULT_THRESHOLD, predict
    from tamiz.pipeline.readers import expand_inputs, read_documents
    from tamiz.pipeline.report import ReadReport

    pages: dict[str, str] = {}
    for f in expand_inputs([SAMPLE / "common_crawl"]):
        for d in read_documents(f, ReadReport(str(f)), "common_crawl"):
            url = d.url or ""
            if url.startswith(HANDBOOK) and url.endswith(".html") and "?" not in url:
                pages.setdefault(url, d.text)
    texts = [extract_text(html) for _, html in sorted(pages.items())]
    preds = predict(texts)
    return [t for t, p in zip(texts, preds) if p[0][0] == "es" and p[0][1] >= DEFAULT_THRESHOLD]


def offensive_texts() -> list[str]:
    return [json.loads(line)["text"] for line in (SAMPLE / "offensive" / "fortunes_es_off.jsonl")
            .read_text(encoding="utf-8").splitlines() if line.strip()]


def mb(texts: list[str]) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


# ---------------------------------------------------------------------------- training in a fresh process

def _rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process in MB. Not ru_maxrss: on Linux that survives
    fork+exec, so a spawned child would report its parent's peak."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _train_child(kind: str, vocab: int, max_chars: int | None, pattern: str, queue) -> None:
    """Train in this fresh process, each library fed the way it is used: HF tokenizers streams the
    documents from the files (tamiz's `train`), SentencePiece gets an iterator over their lines
    (it keeps every sentence in memory itself). Same documents, same order, same vocabulary.
    Imports happen before the clock starts."""
    import sentencepiece  # noqa: F401
    import tokenizers  # noqa: F401

    import tamiz.pipeline.readers  # noqa: F401
    import tamiz.tokenizer.train  # noqa: F401

    before = _rss_mb("VmRSS")
    t0 = time.perf_counter()
    if kind == "hf":
        from tamiz.tokenizer.train import TrainConfig, train

        config = TrainConfig(vocab_size=vocab, pattern=pattern, holdout_every=0, language=None, max_chars=max_chars)
        result = train([SAMPLE / "books", SAMPLE / "reference"], config)
        extra = {"vocab": result.tokenizer.get_vocab_size(), "json": result.tokenizer.to_str(),
                 "mb": result.stats.bytes / 1e6}
    else:
        import sentencepiece as spm

        model = io.BytesIO()
        lines = (ln for t in training_texts(max_chars) for ln in t.split("\n") if ln.strip())
        spm.SentencePieceTrainer.train(
            sentence_iterator=lines, model_writer=model, model_type="bpe", vocab_size=vocab,
            byte_fallback=True, character_coverage=0.9995, normalization_rule_name="identity",
            input_sentence_size=0, shuffle_input_sentence=False, max_sentence_length=1 << 16,
            num_threads=os.cpu_count() or 1, minloglevel=2)
        extra = {"vocab": vocab, "model": model.getvalue()}
    seconds = time.perf_counter() - t0
    queue.put({"seconds": seconds, "rss_before_mb": before, "peak_rss_mb": _rss_mb("VmHWM"), **extra})


def train_in_child(kind: str, vocab: int, max_chars: int | None, pattern: str = "es") -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_train_child, args=(kind, vocab, max_chars, pattern, q))
    p.start()
    res = q.get()
    p.join()
    return res


# ---------------------------------------------------------------------------- measurements

def compression(tok, held: dict[str, list[str]], baselines: list) -> dict:
    from tamiz.tokenizer.evaluate import HFEncoder, compare

    return {name: {m.tokenizer: m.as_dict() for m in compare([HFEncoder(tok, "tamiz"), *baselines], texts)}
            for name, texts in held.items()}


def throughput(tok, texts: list[str], repeat: int) -> dict:
    from tamiz.tokenizer.load import hf_threads

    out = {}
    n_tokens = sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False))
    for label, threads in (("one_thread", False), ("all_cores", True)):
        best = float("inf")
        with hf_threads(threads):
            for _ in range(repeat):
                t0 = time.perf_counter()
                tok.encode_batch_fast(texts, add_special_tokens=False)
                best = min(best, time.perf_counter() - t0)
        out[label] = {"tokens_per_s": round(n_tokens / best), "mb_per_s": round(mb(texts) / best, 2)}
    out["tokens"] = n_tokens
    out["tokens_per_s_per_core"] = out["one_thread"]["tokens_per_s"]
    return out


def where_tokens_go(encoders: list, texts: list[str]) -> dict:
    """Tokens each encoder spends per kind of text: the text is cut into pieces by cl100k's regex
    (neutral to all of them), each piece is classed and encoded alone, counts are summed."""
    import regex

    from tamiz.tokenizer.patterns import CL100K

    def kind(piece: str) -> str:
        p = piece.strip()
        if not p:
            return "whitespace"
        if p.isdigit():
            return "digits"
        if regex.fullmatch(r"\p{L}+", p):
            return "lowercase words" if p.islower() else ("Capitalized words" if p[0].isupper() and p[1:].islower()
                                                          else "CAPS/mixed-case words")
        return "punctuation and symbols"

    pieces: dict[str, list[str]] = {}
    for t in texts:
        for m in regex.finditer(CL100K, t):
            pieces.setdefault(kind(m.group()), []).append(m.group())
    out = {}
    for k, ps in sorted(pieces.items()):
        row = {"bytes": sum(len(p.encode("utf-8")) for p in ps)}
        for e in encoders:
            row[e.name] = sum(len(ids) for ids, _ in e.encode_batch(ps))
        out[k] = row
    return out


def spm_bytes_per_token(model: bytes, texts: list[str]) -> float:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model)
    n = sum(len(ids) for ids in sp.encode(texts))
    return round(mb(texts) * 1e6 / n, 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="under a minute: smaller speed runs, no regex comparison")
    args = ap.parse_args()

    import sentencepiece
    import tokenizers
    from tokenizers import Tokenizer

    from tamiz.tokenizer.baselines import load_baselines
    from tamiz.tokenizer.patterns import DEFAULT_PATTERN, PATTERNS
    from tamiz.tokenizer.train import TrainConfig, train

    t_start = time.perf_counter()
    train_texts = training_texts()
    held = {"handbook": handbook_texts(), "fortunes-off": offensive_texts()}
    baselines = load_baselines(["gpt2", "cl100k", "tekken"])
    results: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "tokenizers": tokenizers.__version__, "sentencepiece": sentencepiece.__version__,
                    "note": "shared, loaded 2-core machine while measured; rerun on an idle one"},
        "quick": args.quick,
        "training_text": {"inputs": ["data/sample/books", "data/sample/reference"], "documents": len(train_texts),
                          "mb": round(mb(train_texts), 3)},
        "held_out": {k: {"documents": len(v), "mb": round(mb(v), 3)} for k, v in held.items()},
    }

    # 1. compression at 32,768, the default pattern; the curated text as it is, and mixed 1:1
    vocab = 32_768
    main_run = train_in_child("hf", vocab, None, DEFAULT_PATTERN)
    tok = Tokenizer.from_str(main_run["json"])
    results["compression"] = compression(tok, held, baselines)
    mixed = train([SAMPLE / "books", SAMPLE / "reference"],
                  TrainConfig(vocab_size=vocab, holdout_every=0, weights={"books": 1, "reference": 1}))
    results["compression_mixed_1_1"] = {
        "weights": {"books": 1, "reference": 1}, "training_mb": round(mixed.stats.bytes / 1e6, 3),
        **{k: v["tamiz"] for k, v in compression(mixed.tokenizer, held, []).items()}}

    # 2. the regex comparison
    if not args.quick:
        cmp = {}
        for name in PATTERNS:
            config = TrainConfig(vocab_size=vocab, pattern=name, holdout_every=0, language=None)
            t = train(train_texts, config).tokenizer
            cmp[name] = {k: {f: v["tamiz"][f] for f in ("bytes_per_token", "tokens_per_word", "words_kept_whole")}
                         for k, v in compression(t, held, []).items()}
        results["patterns"] = cmp
        from tamiz.tokenizer.evaluate import HFEncoder

        results["handbook_tokens_by_kind"] = where_tokens_go([HFEncoder(tok, "tamiz"), baselines[2]], held["handbook"])

    # 3. training speed and memory, HF vs SentencePiece (fresh processes)
    speed_chars, speed_vocab = (1_000_000, 8_192) if args.quick else (None, vocab)
    repeats = 1 if args.quick else 3  # best of N fresh processes, alternating: the machine is shared
    hf_runs, sp_runs = ([main_run] if not args.quick else []), []
    for _ in range(repeats):
        if len(hf_runs) < repeats:
            hf_runs.append(train_in_child("hf", speed_vocab, speed_chars, DEFAULT_PATTERN))
        sp_runs.append(train_in_child("spm", speed_vocab, speed_chars))
    hf = min(hf_runs, key=lambda r: r["seconds"])
    sp = min(sp_runs, key=lambda r: r["seconds"])
    speed_mb = mb(training_texts(speed_chars))
    results["training"] = {
        "mb": round(speed_mb, 3), "vocab_size": speed_vocab, "threads": os.cpu_count(), "best_of": repeats,
        "all_seconds": {"hf_tokenizers": [round(r["seconds"], 2) for r in hf_runs],
                        "sentencepiece_bpe": [round(r["seconds"], 2) for r in sp_runs]},
        "hf_tokenizers": {"seconds": round(hf["seconds"], 2), "seconds_per_mb": round(hf["seconds"] / speed_mb, 3),
                          "peak_rss_mb": round(hf["peak_rss_mb"], 1),
                          "rss_growth_mb": round(hf["peak_rss_mb"] - hf["rss_before_mb"], 1)},
        "sentencepiece_bpe": {"seconds": round(sp["seconds"], 2), "seconds_per_mb": round(sp["seconds"] / speed_mb, 3),
                              "peak_rss_mb": round(sp["peak_rss_mb"], 1),
                              "rss_growth_mb": round(sp["peak_rss_mb"] - sp["rss_before_mb"], 1),
                              "bytes_per_token_handbook": spm_bytes_per_token(sp["model"], held["handbook"])},
    }

    # 4. batch encoding throughput
    results["encoding"] = throughput(tok, held["handbook"] + held["fortunes-off"], repeat=3 if args.quick else 5)
    results["seconds"] = round(time.perf_counter() - t_start, 1)

    write_results("tokenizer", results, args.quick)
    summary = {
        "handbook_bytes_per_token": {k: v["bytes_per_token"] for k, v in results["compression"]["handbook"].items()},
        "fortunes_off_bytes_per_token": {k: v["bytes_per_token"]
                                         for k, v in results["compression"]["fortunes-off"].items()},
        "mixed_1_1_bytes_per_token": {k: results["compression_mixed_1_1"][k]["bytes_per_token"] for k in held},
        "train_s_per_mb": {"hf": results["training"]["hf_tokenizers"]["seconds_per_mb"],
                           "spm": results["training"]["sentencepiece_bpe"]["seconds_per_mb"]},
        "train_peak_rss_mb": {"hf": results["training"]["hf_tokenizers"]["peak_rss_mb"],
                              "spm": results["training"]["sentencepiece_bpe"]["peak_rss_mb"]},
        "encode_tokens_per_s_per_core": results["encoding"]["tokens_per_s_per_core"],
        "seconds": results["seconds"],
    }
    if "patterns" in results:
        summary["patterns_handbook_bytes_per_token"] = {k: v["handbook"]["bytes_per_token"]
                                                        for k, v in results["patterns"].items()}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
