"""Security checks that must stay true (the review itself is docs/security.md).

Static: no unpickling, no unsafe YAML, no shell, no eval/exec in the code that reads outside data; servers
bind to 127.0.0.1 by default. Dynamic: crawled data never names an output file; compression bombs are
read within bounded memory; the regexes that run over document text stay linear on adversarial text;
training inputs: a checkpoint is checked against its recorded sha256 before torch.load, the loader refuses
token ids outside the vocabulary, and tokenizer copies in shard folders and checkpoints get tamiz.tokenizer.load's
checks.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "pipeline", "tokenizer", "shards", "train", "flows")  # everything that runs on outside data
SOURCES = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _code_lines(paths=SOURCES):
    """(file, line number, code without its comment) for every line; docstrings count as code (cheap, strict)."""
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            yield path.relative_to(ROOT).as_posix(), n, line.split("#", 1)[0]


def _hits(pattern: str, paths=SOURCES) -> list[str]:
    rx = re.compile(pattern)
    return [f"{f}:{n}: {code.strip()}" for f, n, code in _code_lines(paths) if rx.search(code)]


def test_sources_found():
    assert len(SOURCES) > 40 and any(p.name == "warc.py" for p in SOURCES)


@pytest.mark.parametrize("what, pattern", [
    ("pickle / marshal / shelve / dill / joblib", r"\b(import (c?pickle|marshal|shelve|dill|joblib|cloudpickle)\b|"
                                                  r"(c?pickle|marshal|dill|joblib|cloudpickle)\.loads?\()"),
    ("numpy pickles", r"allow_pickle\s*=\s*True"),
    ("unsafe YAML", r"yaml\.(load|unsafe_load|full_load|load_all|unsafe_load_all)\(|Loader\s*=\s*yaml\.(Unsafe|Full)?Loader\b"),
    ("a shell", r"shell\s*=\s*True|os\.system\(|os\.popen\(|\bos\.exec\w*\(|\bos\.spawn\w*\("),
    ("eval / exec", r"(?<![.\w])(eval|exec|compile)\("),
    ("remote code", r"trust_remote_code\s*=\s*True"),
])
def test_no_unsafe_calls(what, pattern):
    assert _hits(pattern) == [], what


def test_every_torch_load_is_weights_only():
    calls = [(f, n, code) for f, n, code in _code_lines() if "torch.load(" in code]
    assert calls, "train/checkpoint.py loads checkpoints with torch.load"
    assert [f"{f}:{n}" for f, n, code in calls if "weights_only=True" not in code] == []


def test_no_subprocess_in_the_packages():
    """The packages start no program but this Python interpreter, in one place (core/child.py,
    with an argument list); benchmarks/ and scripts/ use argument lists."""
    assert [h for h in _hits(r"\bsubprocess\b") if not h.startswith("core/child.py:")] == []
    assert _hits(r"subprocess\.\w+\(", [ROOT / "core" / "child.py"]) == [
        'core/child.py:18: return subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True, timeout=timeout)',
        'core/child.py:26: return subprocess.Popen([sys.executable, "-c", program, *args], env=env, stdin=subprocess.DEVNULL,']
    others = sorted(p for d in ("benchmarks", "scripts") for p in (ROOT / d).rglob("*.py"))
    assert _hits(r"shell\s*=\s*True|os\.system\(|os\.popen\(", others) == []


def test_servers_listen_on_localhost_by_default(monkeypatch):
    from tamiz.flows.runtime import make_task_runner
    from tamiz.flows.settings import DEFAULTS

    assert DEFAULTS["PREFECT_SERVER_API_HOST"] == "127.0.0.1"
    assert DEFAULTS["PREFECT_UI_ENABLED"] == "false" and DEFAULTS["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    kwargs = make_task_runner(workers=1).cluster_kwargs
    assert kwargs["host"] == "127.0.0.1" and kwargs["dashboard_address"] is None


# ---------------------------------------------------------------------------------------------
# Crawled data never names a file


def _warc(records: list[tuple[str, str, bytes]]) -> bytes:
    out = bytearray()
    for url, record_id, body in records:
        http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + body
        head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {url}\r\nWARC-Record-ID: {record_id}\r\n"
                f"WARC-Date: 2024-06-13T09:15:02Z\r\nContent-Length: {len(http)}\r\n\r\n").encode()
        out += gzip.compress(head + http + b"\r\n\r\n", mtime=0)
    return bytes(out)


def test_urls_and_record_ids_never_become_paths(tmp_path, sample_dir):
    """Hostile URLs and record ids (traversal, absolute paths, NUL) change no output file name."""
    from tamiz.pipeline.ingest import IngestConfig, ingest_file
    from tamiz.pipeline.writers import read_parquet_documents

    text = (sample_dir / "reference" / "debian_reference_es.jsonl").read_text(encoding="utf-8")[:3000]
    body = f"<html><body><p>{text}</p></body></html>".encode()
    hostile = ["../../../../tmp/pwned", "/etc/passwd", "file:///etc/shadow", "..\\..\\x", "a/../../b\x00c", "~root/.ssh"]
    warc = tmp_path / "in" / "crawl.warc.gz"
    warc.parent.mkdir()
    warc.write_bytes(_warc([(u, f"<{u}>", body) for u in hostile]))
    out = tmp_path / "out"
    rec = ingest_file(warc, out, "web", IngestConfig(language_id=False))
    assert rec["counts"]["kept"] == len(hostile)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    name = rec["name"]
    assert name.startswith("crawl-") and files == sorted(["in/crawl.warc.gz", f"out/_shards/{name}.json",
                                                          f"out/docs/{name}.parquet", f"out/rejects/{name}.parquet",
                                                          f"out/quarantine/{name}.jsonl"])
    urls = {d.url for d in read_parquet_documents(out / "docs" / f"{name}.parquet")}
    assert urls == set(hostile)  # kept as data, verbatim


@given(name=st.text(min_size=1, max_size=60))
@settings(max_examples=200, deadline=None, database=None)
def test_shard_names_are_plain_file_names(name):
    from tamiz.pipeline.stage import shard_name

    n = shard_name(Path("/data") / name.replace("/", "_").replace("\0", "_"), "0" * 64)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", n) and not n.startswith(".") and ".." not in n.split("-")[0][:2]


# ---------------------------------------------------------------------------------------------
# Compression bombs: bounded memory (a child process reports its peak RSS)


def _peak_rss_mb(code: str) -> tuple[str, int]:
    # VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child forked from a big pytest process
    # would report the parent's size (seen: 1,260 MB in the full suite)
    wrapper = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}\n"
               "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')) // 1024)\n")
    run = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    *lines, peak = run.stdout.strip().splitlines()
    return "\n".join(lines), int(peak)


def test_gzip_bomb_jsonl_line_is_quarantined_in_bounded_memory(tmp_path):
    """1 GiB in one JSONL line, 1 MB gzipped: the reader stops at its 64 MiB line limit instead of
    holding the line (and the JSON string built from it: ~4 GB before the limit existed)."""
    mib = gzip.compress(b"a" * (1 << 20), 9)
    bomb = tmp_path / "bomb.jsonl.gz"
    with open(bomb, "wb") as f:
        f.write(gzip.compress(b'{"text": "'))
        for _ in range(1024):
            f.write(mib)  # gzip members concatenate into one stream
        f.write(gzip.compress(b'"}\n{"text": "hola, esto sigue"}\n'))
    assert bomb.stat().st_size < 2 << 20
    out, peak = _peak_rss_mb(
        "from tamiz.pipeline.readers import read_documents\nfrom tamiz.pipeline.report import ReadReport\n"
        f"r = ReadReport('b'); docs = [d.text for d in read_documents({str(bomb)!r}, r, 'x')]\n"
        "print(docs, [(b.where, b.reason) for b in r.quarantine])")
    assert out == "['hola, esto sigue'] [('line 1', 'line longer than 67108864 bytes (not read)')]"
    assert peak < 600, f"peak RSS {peak} MB"


def test_warc_record_of_huge_declared_length_is_not_read(tmp_path):
    """A response record of 1 GiB (1 MB gzipped) and one of 2^62 declared bytes are refused from their
    Content-Length without reading the block; the page after the first is still read."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    size = len(head) + (1 << 30)
    warc = bytearray(gzip.compress((f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://a/\r\n"
                                    f"WARC-Record-ID: <urn:a>\r\nContent-Length: {size}\r\n\r\n").encode() + head))
    mib = gzip.compress(b"<" * (1 << 20), 9)
    warc += mib * 1024 + gzip.compress(b"\r\n\r\n")
    for kind, http in (("response", b"HTTP/1.1 404 Not Found\r\n\r\n"), ("response", b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n\r\n"),
                       ("metadata", b"")):  # too large too, but skipped by status, type and record type as usual
        warc += gzip.compress((f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: http://d/\r\nWARC-Record-ID: <urn:d>\r\n"
                               f"Content-Length: {len(http) + (64 << 20)}\r\n\r\n").encode() + http)
        warc += mib * 64 + gzip.compress(b"\r\n\r\n")
    warc += _warc([("http://c/", "<urn:c>", "<p>Hola, ¿qué tal?</p>".encode())])
    # a lying Content-Length swallows the rest of the file (WARC has no other framing): it comes last
    warc += gzip.compress(b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://b/\r\nWARC-Record-ID: <urn:b>\r\n"
                          b"Content-Length: 4611686018427387904\r\n\r\n" + head + b"<p>x</p>\r\n\r\n")
    path = tmp_path / "bomb.warc.gz"
    path.write_bytes(bytes(warc))
    out, peak = _peak_rss_mb(
        "from tamiz.pipeline.readers import read_documents\nfrom tamiz.pipeline.report import ReadReport\n"
        f"r = ReadReport('b'); docs = [d.url for d in read_documents({str(path)!r}, r, 'x')]\n"
        "print(docs, [b.reason for b in r.quarantine], sorted(r.skipped.items()))")
    assert out == ("['http://c/'] ['record of 1073741868 bytes exceeds 8454144 (not read)', "
                   "'record of 4611686018427387904 bytes exceeds 8454144 (not read)'] "
                   "[('http_404', 1), ('not_html', 1), ('record_metadata', 1)]"), out
    assert peak < 600, f"peak RSS {peak} MB"


# ---------------------------------------------------------------------------------------------
# Regexes over document text stay linear


def test_sentence_regexes_are_linear_on_long_runs_of_end_marks():
    """C4's sentence regexes once retried every position of a run of '.'/'!' (quadratic: 7 s for 16 kB,
    hours for 1 MB). Run on 1 MB adversarial lines in a child, so a regression fails instead of hanging."""
    code = ("from tamiz.pipeline.filters.c4 import _SENT_END, _ENDS_SENTENCE, count_sentences\n"
            "for line in ('.' * (1 << 20) + 'x', '!?' * (1 << 19) + 'a', '.' + '»' * (1 << 20) + 'x', '… ' * (1 << 19) + 'x'):\n"
            "    _SENT_END.findall(line); _ENDS_SENTENCE(line); count_sentences(line)\n"
            "print('done')")
    run = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}"],
                         capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "done", run.stderr[-1000:]


_OLD_SENT_END = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s|$)")
_OLD_ENDS_SENTENCE = re.compile(r"[.!?…]+[\"'»”’)\]]*\s*$").search


@given(s=st.text(alphabet=".!?…\"'»”’)] \n\tax1", max_size=40))
@settings(max_examples=300, deadline=None, database=None)
def test_linear_sentence_regexes_match_exactly_what_the_old_ones_did(s):
    from tamiz.pipeline.filters.c4 import _ENDS_SENTENCE, _SENT_END

    assert _SENT_END.findall(s) == _OLD_SENT_END.findall(s)
    old, new = _OLD_ENDS_SENTENCE(s), _ENDS_SENTENCE(s)
    assert (old and old.group()) == (new and new.group())


def test_deeply_nested_html_is_extracted_without_a_quadratic_pass():
    """resiliparse's main-content pass is quadratic in nesting depth: 100,000 nested <div> (a 1 MB page)
    took many minutes (16,000: 20 s). Deeper than 1,000 levels, extraction keeps every element's text."""
    code = ("from tamiz.pipeline.extract import extract_text\n"
            "for html in ('<div>' * 100_000 + 'hola' + '</div>' * 100_000, '<div>x' * 100_000):\n"
            "    print(len(extract_text(html, 'resiliparse')))\n"
            "page = '<html><body><nav>menú</nav><article><p>' + 'Texto del artículo. ' * 50 + '</p></article></body></html>'\n"
            "print(extract_text(page).startswith('Texto del artículo.'))\n")
    run = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}"],
                         capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["4", "199999", "True"], run.stderr[-1000:]


# ---------------------------------------------------------------------------------------------
# Training inputs: checkpoints (sha256), token ids of shards (vocabulary), tokenizer copies (merge checks)


@pytest.fixture(scope="module")
def train_tok():
    """A tiny BPE trained on sample text; torch on one thread meanwhile (tiny models, loaded machine)."""
    from test_train_common import one_thread, tiny_tokenizer

    threads = one_thread()
    next(threads)
    yield tiny_tokenizer(vocab_size=300, n_docs=300)
    next(threads, None)


def _checkpoint(path: Path, tok, step: int = 7) -> dict:
    """A tiny causal model saved as a training checkpoint; returns its weights."""
    from test_train_common import make_checkpoint
    from tamiz.train.checkpoint import load_checkpoint, save_checkpoint

    make_checkpoint(path, "causal", tok, n_layer=1, n_head=2, n_embd=16)
    if step != 7:
        save_checkpoint(path, {**load_checkpoint(path), "step": step})
    return load_checkpoint(path)["model"]


def test_a_damaged_checkpoint_is_refused_before_torch_load(tmp_path, train_tok):
    """torch.load does not check the zip's CRCs: a flipped byte inside a tensor loads as a changed weight.
    The sha256 in checkpoint.pt.json is checked before torch.load opens the file."""
    import torch

    from tamiz.train.checkpoint import CheckpointError, load_checkpoint

    path = tmp_path / "checkpoint.pt"
    weights = _checkpoint(path, train_tok)
    assert json.loads((tmp_path / "checkpoint.pt.json").read_text())["step"] == 7
    blob = bytearray(path.read_bytes())
    name, w = max(weights.items(), key=lambda kv: kv[1].numel())
    at = bytes(blob).find(w.numpy().tobytes())
    assert at > 0  # torch stores tensors uncompressed
    blob[at + w.numel() * 2] ^= 0x40  # one byte in the middle of the largest weight
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match=rf"^{path}: sha256 \w{{12}}\.\.\. differs from the one recorded in "
                                              r"checkpoint\.pt\.json .*damaged or replaced"):
        load_checkpoint(path)
    # another valid checkpoint put in its place (without its own sidecar) is refused the same way
    other = tmp_path / "other" / "checkpoint.pt"
    _checkpoint(other, train_tok, step=9)
    path.write_bytes(other.read_bytes())
    with pytest.raises(CheckpointError, match="damaged or replaced"):
        load_checkpoint(tmp_path)
    assert torch.equal(load_checkpoint(other)["model"][name], w)


def test_a_checkpoint_without_its_sha256_is_refused_until_trusted(tmp_path, train_tok, capsys):
    from tamiz.train.checkpoint import CheckpointError, load_checkpoint, main

    path = tmp_path / "run" / "checkpoint.pt"
    _checkpoint(path, train_tok)
    (tmp_path / "run" / "checkpoint.pt.json").unlink()  # copied alone, or written by an older tamiz
    with pytest.raises(CheckpointError, match=r"no checkpoint\.pt\.json next to it.*python -m tamiz\.train\.checkpoint --trust"):
        load_checkpoint(path)
    assert main(["--trust", str(tmp_path / "run")]) == 0
    assert "sha256" in capsys.readouterr().out
    assert load_checkpoint(path)["step"] == 7
    (tmp_path / "run" / "checkpoint.pt.json").write_text('{"sha256": 1}')
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt\.json: not a checkpoint sha256 record"):
        load_checkpoint(path)


@pytest.mark.parametrize("crash_at", ["checkpoint.pt", "checkpoint.pt.json"])
def test_a_crash_while_replacing_a_checkpoint_leaves_a_pair_that_verifies(tmp_path, train_tok, monkeypatch, crash_at):
    """Two renames (the checkpoint, then its sidecar) cannot be one: while a checkpoint is replaced its sidecar
    accepts the old and the new file. A crash before the checkpoint's rename leaves the old one, a crash after
    it (before the sidecar's last write) the new one; both load, and the next save works."""
    from tamiz.train.checkpoint import load_checkpoint, save_checkpoint

    path = tmp_path / "checkpoint.pt"
    _checkpoint(path, train_tok)
    state = load_checkpoint(path)
    real_replace, seen = os.replace, []

    def replace(src, dst):
        seen.append(Path(dst).name)
        if Path(dst).name == crash_at and seen.count(crash_at) == (2 if crash_at.endswith(".json") else 1):
            raise OSError(28, "No space left on device (simulated crash)")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(path, {**state, "step": 8})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == (7 if crash_at == "checkpoint.pt" else 8)
    assert "previous_sha256" in json.loads((tmp_path / "checkpoint.pt.json").read_text())
    save_checkpoint(path, {**state, "step": 9})
    assert load_checkpoint(path)["step"] == 9
    assert "previous_sha256" not in json.loads((tmp_path / "checkpoint.pt.json").read_text())


@pytest.mark.parametrize("workers", [0, 1])
def test_token_ids_above_the_vocabulary_are_refused_naming_the_shard(tmp_path, train_tok, workers):
    """A damaged shard of the right size and schema can hold ids >= vocab_size (an IndexError deep in the
    embedding, or on a GPU a device-side assert): the loader checks each record batch when it first reads it."""
    import numpy as np

    from test_train_common import build_shards
    from tamiz.core.shardformat import read_shard_manifest
    from tamiz.train.loader import PackedLoader, _Rows

    folder = build_shards(tmp_path / "shards", train_tok, n_docs=80)
    m = read_shard_manifest(folder)
    assert len(list(PackedLoader(folder, batch_size=4, epochs=1, num_workers=workers))) > 0
    vocab = m["vocab_size"]
    rows = _Rows(folder, m, "train")
    shard = folder / m["splits"]["train"]["files"][-1]["path"]
    row = np.asarray(rows.chunks[-1][-1])
    blob = bytearray(shard.read_bytes())
    at = bytes(blob).find(row.tobytes())
    assert at > 0
    del rows
    blob[at + 6: at + 8] = np.uint16(vocab).tobytes()  # the 4th token of the last row: one past the vocabulary
    shard.write_bytes(bytes(blob))  # same size: the manifest still agrees
    with pytest.raises(ValueError, match=rf"{shard.name}: token id {vocab} \(row \d+, position 3\) is not below the "
                                         rf"vocabulary size {vocab} of .*manifest\.json"):
        list(PackedLoader(folder, batch_size=4, epochs=1, num_workers=workers))


def _craft_tokenizer(folder: Path, text: str) -> None:
    """Put `text` as the shard folder's tokenizer copy, with a manifest that agrees (a deliberately crafted folder)."""
    import hashlib

    (folder / "tokenizer.json").write_text(text, encoding="utf-8")
    m = json.loads((folder / "manifest.json").read_text())
    data = (folder / "tokenizer.json").read_bytes()
    m["tokenizer"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    m.pop("tokenizer_sha256", None)
    (folder / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize("crafted", ["tokenizer-bpe_prefix_panic.json", "tokenizer-merge_range_panic.json"])
def test_tokenizers_of_shard_folders_and_checkpoints_get_the_merge_checks(tmp_path, train_tok, crafted):
    """inspect_data (then in tamiz.train.loop) and tokenizer_from_checkpoint used Tokenizer.from_str directly:
    these files raised a Rust panic (PanicException, a BaseException that escapes `except Exception`). Now the
    checks of tamiz.tokenizer.load refuse them with a ValueError naming where the text came from."""
    from test_train_common import build_shards
    from tamiz.train.batching import inspect_data
    from tamiz.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, tokenizer_from_checkpoint

    text = (ROOT / "tests" / "fuzz_corpus" / "parsers" / crafted).read_text(encoding="utf-8")
    path = tmp_path / "checkpoint.pt"
    _checkpoint(path, train_tok)
    save_checkpoint(path, {**load_checkpoint(path), "tokenizer_json": text})
    with pytest.raises(CheckpointError, match=rf"^{path}: tokenizer_json: not a valid HF tokenizer"):
        tokenizer_from_checkpoint(load_checkpoint(path), path)
    folder = build_shards(tmp_path / "shards", train_tok, n_docs=40)
    assert inspect_data(folder).vocab_size == 300
    _craft_tokenizer(folder, text)
    with pytest.raises(ValueError, match=rf"^{folder / 'tokenizer.json'}: not a valid HF tokenizer"):
        inspect_data(folder)


def test_a_tokenizer_that_aborted_the_process_is_refused_in_a_shard_folder_and_a_checkpoint(tmp_path, train_tok):
    """tokenizer-bpe_prefix_abort.json ABORTED the process inside Tokenizer.from_str (run in a child, so that a
    regression fails this test instead of killing the test run)."""
    from test_train_common import build_shards

    folder = build_shards(tmp_path / "shards", train_tok, n_docs=40)
    text = (ROOT / "tests" / "fuzz_corpus" / "parsers" / "tokenizer-bpe_prefix_abort.json").read_text(encoding="utf-8")
    _craft_tokenizer(folder, text)
    code = ("import sys\n"
            "from tamiz.train.checkpoint import tokenizer_from_checkpoint\n"
            "from tamiz.train.batching import inspect_data\n"
            "for f in (lambda: inspect_data(sys.argv[1]), lambda: tokenizer_from_checkpoint({'tokenizer_json': sys.argv[2]})):\n"
            "    try:\n"
            "        f()\n"
            "    except ValueError as e:\n"
            "        print('refused:', e, flush=True)\n")
    run = subprocess.run([sys.executable, "-c", code, str(folder), text], capture_output=True, text=True, cwd=ROOT,
                         timeout=120, env={**os.environ, "RUST_BACKTRACE": "0", "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert len(lines) == 2 and all("continuing_subword_prefix 'x'" in line for line in lines), run.stdout
