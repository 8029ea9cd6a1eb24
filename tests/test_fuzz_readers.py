"""Property-based fuzzing of the readers of outside data: no crash, no hang, every bad input reported.

Mutations of real WARC files (bit flips, truncations, spliced bytes) and of JSONL lines. Any input
that once broke a reader is kept in tests/fuzz_corpus/ and replayed here as a regression test.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tamiz.pipeline.readers import read_documents
from tamiz.pipeline.report import ReadReport

CORPUS = Path(__file__).parent / "fuzz_corpus"
# CI runs 60 examples per property; TAMIZ_FUZZ_EXAMPLES=5000 is the longer mode.
FUZZ = settings(max_examples=int(os.environ.get("TAMIZ_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


def _read(path: Path) -> ReadReport:
    report = ReadReport(str(path))
    docs = list(read_documents(path, report, "fuzz"))
    assert report.reconciles()
    assert report.yielded == len(docs)
    for d in docs:
        assert isinstance(d.text, str)
    return report


@pytest.fixture(scope="module")
def warc_bytes(fixtures_dir) -> bytes:
    return (fixtures_dir / "bad_http_header.warc.gz").read_bytes()


@pytest.fixture(scope="module")
def warc_plain(warc_bytes) -> bytes:
    return gzip.decompress(warc_bytes)


@FUZZ
@given(data=st.data())
def test_mutated_gzip_warc_never_crashes(tmp_path_factory, warc_bytes, data):
    buf = bytearray(warc_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buf)))
    p = tmp_path_factory.mktemp("fz") / "m.warc.gz"
    p.write_bytes(bytes(buf[:cut]))
    _read(p)


@FUZZ
@given(data=st.data())
def test_mutated_plain_warc_never_crashes(tmp_path_factory, warc_plain, data):
    buf = bytearray(warc_plain)
    for _ in range(data.draw(st.integers(1, 12))):
        i = data.draw(st.integers(0, len(buf) - 1))
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if op == "flip":
            buf[i] = data.draw(st.integers(0, 255))
        elif op == "insert":
            buf[i:i] = data.draw(st.binary(min_size=1, max_size=40))
        else:
            del buf[i : i + data.draw(st.integers(1, 200))]
    p = tmp_path_factory.mktemp("fz") / "m.warc"
    p.write_bytes(bytes(buf))
    _read(p)


@FUZZ
@given(lines=st.lists(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                                st.just(b'{"text": "hola"}'), st.just(b'{"text": 5}'), st.just(b"[1,2]")),
                      max_size=20))
def test_arbitrary_jsonl_never_crashes(tmp_path_factory, lines):
    p = tmp_path_factory.mktemp("fz") / "x.jsonl"
    p.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines))
    r = _read(p)
    good = sum(1 for line in lines if line.replace(b"\n", b" ").strip() in (b'{"text": "hola"}',))
    assert r.yielded >= good


@FUZZ
@given(blob=st.binary(max_size=3000))
def test_random_bytes_as_parquet_and_warc(tmp_path_factory, blob):
    d = tmp_path_factory.mktemp("fz")
    for name in ("r.parquet", "r.warc", "r.warc.gz", "r.jsonl.gz"):
        (d / name).write_bytes(blob)
        _read(d / name)


@pytest.mark.parametrize("path", sorted(p for p in CORPUS.glob("*") if p.suffix != ".md"), ids=lambda p: p.name)
def test_regression_corpus(path):
    _read(path)
