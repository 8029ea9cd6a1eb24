"""Tokenize-and-pack throughput (`tamiz shard`'s work in one process) side by side with plain HF
`tokenizers` batch encoding of the same text.

Text: the sample's curated sources as documents (books: Reina-Valera 1909, 1,189 chapters; reference:
Debian Reference + Spanish fortunes), written once as a tamiz Parquet document shard. Tokenizer: a
byte-level BPE with the project's special tokens, trained in-process on the same text (16,384 ids; 4,096
with --quick).

Measured, in one process (= per core), best of --repeat runs, TOKENIZERS_PARALLELISM=false in both
(as in the Dask workers of `tamiz shard`):
- baseline: `Tokenizer.encode_batch(texts)` over the texts already in memory, in batches of 1,024
  documents (also `encode_batch_fast`, which skips offsets);
- tamiz: `tokenize_file` (read the Parquet shard, split train/validation by document, encode, write
  `_tokenized/`) + `build_shards` (pack rows of 1,025 tokens, mix by weight, write Arrow shards with
  checksums and the manifest), end to end from the Parquet file to the finished shard folder.
Goal: tamiz >= 0.8 x the encode_batch baseline.

    python benchmarks/bench_pack.py [--quick] [--repeat N]    # writes benchmarks/results/pack.json, JSON last
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402

from tamiz.core.shardformat import SPECIAL_TOKENS  # noqa: E402
from tamiz.pipeline.document import Document  # noqa: E402
from tamiz.shards.tokenize import BATCH_DOCS, tokenize_file  # noqa: E402
from tamiz.shards.write import build_shards  # noqa: E402
from tamiz.pipeline.table import ShardConfig, parse_table  # noqa: E402
from tamiz.pipeline.writers import write_parquet  # noqa: E402


def sample_documents(quick: bool) -> list[Document]:
    docs = []
    with gzip.open(ROOT / "data/sample/books/reina_valera_1909.jsonl.gz", "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            docs.append(Document(id=f"books/{i}", text=json.loads(line)["text"], source="books"))
    for name in ("debian_reference_es.jsonl", "fortunes_es.jsonl"):
        with open(ROOT / "data/sample/reference" / name, encoding="utf-8") as f:
            for i, line in enumerate(f):
                docs.append(Document(id=f"reference/{name}:{i}", text=json.loads(line)["text"], source="reference"))
    if quick:  # every other document: about half the text
        docs = docs[::2]
    return docs


def train_tokenizer(texts: list[str], vocab: int, path: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok.save(str(path))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="half the text, a 4,096-id tokenizer, 3 repeats")
    ap.add_argument("--repeat", type=int, default=3, help="timed repeats; the best is reported")
    args = ap.parse_args()
    repeat = 3 if args.quick else args.repeat
    docs = sample_documents(args.quick)
    texts = [d.text for d in docs]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    from tokenizers import Tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tok_path = train_tokenizer(texts, 4096 if args.quick else 16384, tmp / "tokenizer.json")
        tok = Tokenizer.from_file(str(tok_path))
        write_parquet(tmp / "docs" / "sample.parquet", docs)
        table = parse_table({"sources": [{"name": "books", "inputs": ["x"], "weight": 0.6},
                                         {"name": "reference", "inputs": ["x"], "weight": 0.4}]}, root=tmp)
        config = ShardConfig(seq_len=1024, seed=0, validation_fraction=0.005)

        def baseline(method: str) -> tuple[float, int]:
            t0 = time.perf_counter()
            n = 0
            for a in range(0, len(texts), BATCH_DOCS):
                n += sum(len(e.ids) for e in getattr(tok, method)(texts[a:a + BATCH_DOCS], add_special_tokens=False))
            return time.perf_counter() - t0, n

        best = {"encode_batch": float("inf"), "encode_batch_fast": float("inf"), "tamiz": float("inf"),
                "tamiz_tokenize": float("inf")}
        tokens = 0
        for r in range(repeat):
            for method in ("encode_batch", "encode_batch_fast"):
                dt, tokens = baseline(method)
                best[method] = min(best[method], dt)
            out = tmp / f"out{r}"
            t0 = time.perf_counter()
            rec = tokenize_file(tmp / "docs" / "sample.parquet", out, tok_path, config.validation_fraction)
            t1 = time.perf_counter()
            manifest = build_shards(out, [rec], tok_path, config, table)
            t2 = time.perf_counter()
            best["tamiz"] = min(best["tamiz"], t2 - t0)
            best["tamiz_tokenize"] = min(best["tamiz_tokenize"], t1 - t0)
        packed = sum(s["tokens"]["train"] + s["tokens"]["validation"] for s in manifest["sources"])
    assert packed == tokens + len(docs) - rec["counts"]["empty"], "tamiz encoded different text than the baseline"
    per_s = {k: tokens / v for k, v in best.items()}
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "tokenizers": _version("tokenizers"), "pyarrow": _version("pyarrow"), "numpy": _version("numpy"),
                    "note": "shared, loaded 2-core development machine; one process, TOKENIZERS_PARALLELISM=false"},
        "input": {"documents": len(docs), "mb": round(mb, 3), "tokens": tokens, "vocab_size": tok.get_vocab_size(),
                  "seq_len": config.seq_len, "train_rows": manifest["splits"]["train"]["rows"], "repeats": repeat},
        "baseline_encode_batch_tokens_per_s": round(per_s["encode_batch"]),
        "baseline_encode_batch_fast_tokens_per_s": round(per_s["encode_batch_fast"]),
        "tamiz_tokenize_and_pack_tokens_per_s": round(per_s["tamiz"]),
        "tamiz_tokenize_step_tokens_per_s": round(per_s["tamiz_tokenize"]),
        "tamiz_mb_per_s": round(mb / best["tamiz"], 3),
        "ratio_vs_encode_batch": round(per_s["tamiz"] / per_s["encode_batch"], 3),
        "ratio_vs_encode_batch_fast": round(per_s["tamiz"] / per_s["encode_batch_fast"], 3),
        "goal": "ratio_vs_encode_batch >= 0.8",
    }
    write_results("pack", results, args.quick)
    print(json.dumps(results))


def _version(name: str) -> str:
    import importlib.metadata as md

    return md.version(name)


if __name__ == "__main__":
    main()
