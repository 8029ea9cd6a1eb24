"""Readers on real and broken files: good records survive, bad ones are quarantined with a reason."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tamiz.pipeline.readers import expand_inputs, input_kind, read_documents
from tamiz.pipeline.report import ReadReport
from tamiz.pipeline.warc import decode_html, parse_http, HttpError
from tamiz.pipeline.writers import write_parquet
from tamiz.pipeline.document import Document


def read(path: Path, source: str = "t", text_unit: str = "auto") -> tuple[list, ReadReport]:
    report = ReadReport(str(path))
    docs = list(read_documents(path, report, source, text_unit))
    assert report.reconciles()
    return docs, report


def test_real_iana_crawl_keeps_only_html_200_responses(fixtures_dir):
    docs, r = read(fixtures_dir / "real_iana.warc.gz")
    assert r.records == 343
    assert len(docs) == 16  # 16 text/html responses with status 200
    assert r.skipped == {"record_warcinfo": 1, "record_request": 171, "record_revisit": 123,
                         "not_html": 28, "http_302": 4}
    assert not r.quarantine
    assert all(d.url.startswith("http") and "<html" in d.text.lower() for d in docs)


def test_single_gzip_member_warc_is_read_whole(fixtures_dir):
    docs, r = read(fixtures_dir / "bad_example.warc.gz")
    assert r.records == 6 and len(docs) == 1 and not r.quarantine


@pytest.mark.parametrize("name, good_urls, reason", [
    ("bad_truncated.warc.gz", ["Ps.23"], "shorter than its Content-Length"),
    ("bad_http_header.warc.gz", ["Ps.1", "Matt.5"], "broken HTTP header"),
    ("bad_binary_payload.warc.gz", ["Prov.3", "Luke.15"], "binary payload"),
])
def test_broken_record_is_quarantined_and_good_ones_kept(fixtures_dir, name, good_urls, reason):
    docs, r = read(fixtures_dir / name)
    assert [d.url.rsplit("/", 1)[-1].removesuffix(".html") for d in docs] == good_urls
    assert len(r.quarantine) == 1
    bad = r.quarantine[0]
    assert reason in bad.reason and bad.where.startswith("offset ") and bad.path.endswith(name)


def test_invalid_utf8_is_repaired_not_fatal(fixtures_dir):
    docs, r = read(fixtures_dir / "bad_invalid_utf8.warc.gz")
    assert len(docs) == 3 and not r.quarantine
    gen2 = next(d for d in docs if d.url.endswith("Gen.2.html"))
    assert gen2.metadata["decode_errors"] > 0
    assert "acabó Dios" in gen2.text  # a latin-1 encoded verse survives as real accents
    assert all(d.metadata["decode_errors"] == 0 for d in docs if d is not gen2)


@pytest.mark.parametrize("name, reason", [
    ("bad_not_warc.warc.gz", "not a WARC file"),
    ("bad_empty.warc", "empty file"),
])
def test_file_level_errors_name_the_problem(fixtures_dir, name, reason):
    docs, r = read(fixtures_dir / name)
    assert docs == [] and r.records == 0
    assert [(b.where, reason in b.reason) for b in r.quarantine] == [("file", True)]


def test_jsonl_bad_lines_are_counted_with_line_numbers(fixtures_dir):
    docs, r = read(fixtures_dir / "bad_lines.jsonl")
    assert [d.id for d in docs] == ["t/rv1909-Ps.23", "t/rv1909-John.3", "t/rv1909-Ps.1"]
    assert [b.where for b in r.quarantine] == ["line 3", "line 4", "line 5"]
    assert "expected a JSON object" in r.quarantine[1].reason
    assert "'text' missing" in r.quarantine[2].reason


def test_jsonl_gz_truncated_reports_and_keeps_earlier_lines(tmp_path):
    lines = b"".join(json.dumps({"id": i, "text": f"línea número {i} " * 20}).encode() + b"\n" for i in range(200))
    blob = gzip.compress(lines)
    p = tmp_path / "cut.jsonl.gz"
    p.write_bytes(blob[: len(blob) // 2])
    docs, r = read(p)
    assert 0 < len(docs) < 200
    assert len(r.quarantine) == 1 and "unreadable" in r.quarantine[0].reason


def test_parquet_round_trip_keeps_metadata(tmp_path):
    docs = [Document(id=f"d{i}", text=f"texto {i} ñandú", source="books", metadata={"i": i}) for i in range(5)]
    write_parquet(tmp_path / "x.parquet", docs)
    got, r = read(tmp_path / "x.parquet", source="other")
    # tamiz's own shards keep ids and sources (a later stage re-reads them)
    assert [(d.id, d.text, d.source, d.metadata["i"]) for d in got] == [(f"d{i}", f"texto {i} ñandú", "books", i) for i in range(5)]


def test_text_folder_one_document_per_file(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "uno.txt").write_text("Érase una vez", encoding="utf-8")
    (tmp_path / "dos.txt").write_text("otra vez", encoding="utf-8")
    (tmp_path / "roto.txt").write_bytes(b"caf\xe9 \xff")
    docs, r = read(tmp_path, source="libros")
    assert sorted(d.id for d in docs) == ["libros/a/uno.txt", "libros/dos.txt"]
    assert len(r.quarantine) == 1 and "invalid UTF-8" in r.quarantine[0].reason


def test_parquet_is_read_in_batches_across_row_groups_and_long_texts_are_quarantined(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    import tamiz.pipeline.readers as readers

    texts = [f"fila {i} " + "ñ" * (i % 7) for i in range(2500)]
    texts[1500] = "x" * 50  # longer than the limit set below
    pq.write_table(pa.table({"text": texts, "n": list(range(2500))}), tmp_path / "big.parquet", row_group_size=2000)
    monkeypatch.setattr(readers, "PARQUET_BATCH_ROWS", 300)  # row groups of 2000 and 500 rows, read 300 at a time
    monkeypatch.setattr(readers, "MAX_TEXT_CHARS", 40)
    got, r = read(tmp_path / "big.parquet")
    assert [d.text for d in got] == texts[:1500] + texts[1501:]
    assert [d.metadata["n"] for d in got] == [i for i in range(2500) if i != 1500]
    assert [(b.where, b.reason) for b in r.quarantine] == [("row 1501", "'text' longer than 40 characters")]


def test_a_text_file_over_the_limit_is_quarantined_not_read_whole(tmp_path, monkeypatch):
    import tamiz.pipeline.readers as readers

    (tmp_path / "corto.txt").write_text("Érase una vez", encoding="utf-8")
    with gzip.open(tmp_path / "largo.txt.gz", "wt", encoding="utf-8") as f:
        f.write("ñ" * 1000)
    monkeypatch.setattr(readers, "MAX_TEXT_CHARS", 100)
    docs, r = read(tmp_path, source="libros")
    assert [d.id for d in docs] == ["libros/corto.txt"]
    assert [(b.where, b.reason) for b in r.quarantine] == [
        ("largo.txt.gz", "longer than 100 characters (one file is one document here: read it by paragraph or line, "
                         "text_unit)")]


def test_a_txt_file_named_as_input_is_many_documents(tmp_path):
    """A large .txt file is how most people hold a corpus: blank lines separate documents (default), or
    one per line; a folder of .txt files keeps one document per file."""
    text = "La casa es grande.\nTiene un jardín.\n\n\nEl perro ladra.\n\nFin.\n"
    (tmp_path / "corpus.txt").write_text(text, encoding="utf-8")
    with gzip.open(tmp_path / "corpus.txt.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    for name in ("corpus.txt", "corpus.txt.gz"):
        docs, r = read(tmp_path / name, source="mio")
        assert [(d.id, d.text) for d in docs] == [(f"mio/{name}:1", "La casa es grande.\nTiene un jardín."),
                                                  (f"mio/{name}:5", "El perro ladra."), (f"mio/{name}:7", "Fin.")]
        assert r.records == 3 and r.reconciles()
    docs, _ = read(tmp_path / "corpus.txt", source="mio", text_unit="line")
    assert [d.text for d in docs] == ["La casa es grande.", "Tiene un jardín.", "El perro ladra.", "Fin."]
    docs, _ = read(tmp_path / "corpus.txt", source="mio", text_unit="file")
    assert [d.text for d in docs] == [text]
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text(text, encoding="utf-8")
    docs, _ = read(folder, source="mio")
    assert [d.id for d in docs] == ["mio/a.txt"]
    with pytest.raises(ValueError, match="text_unit: 'page' is not one of auto, paragraph, line, file"):
        read(tmp_path / "corpus.txt", source="mio", text_unit="page")


def test_a_paragraph_over_the_limit_is_quarantined_and_the_rest_is_read(tmp_path, monkeypatch):
    import tamiz.pipeline.readers as readers

    monkeypatch.setattr(readers, "MAX_TEXT_CHARS", 100)
    (tmp_path / "c.txt").write_text("corto\n\n" + "ñ" * 300 + "\n\nuna línea\n" + "x" * 60 + "\n" + "y" * 60
                                    + "\n\nfin", encoding="utf-8")
    docs, r = read(tmp_path / "c.txt", source="s")
    assert [d.text for d in docs] == ["corto", "fin"]
    assert [(b.where, b.reason) for b in r.quarantine] == [("c.txt:3", "paragraph longer than 100 characters (not read)"),
                                                           ("c.txt:5", "paragraph longer than 100 characters (not read)")]
    assert r.records == 4 and r.reconciles()


def test_a_url_with_an_unknown_scheme_is_refused_before_work():
    from pathlib import Path

    for url in ("ftp://example.com/crawl.warc.gz", Path("ftp://example.com/crawl.warc.gz")):
        with pytest.raises(ValueError, match=r"ftp://example.com/crawl.warc.gz: unknown URL scheme 'ftp://'"):
            expand_inputs([url])


def test_inputs_are_checked_before_work(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.warc.gz"):
        expand_inputs([tmp_path / "nope.warc.gz"])
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(ValueError, match="x.csv: unknown input type"):
        expand_inputs([tmp_path / "x.csv"])
    assert input_kind("a/b.warc.gz") == "warc" and input_kind("b.jsonl.gz") == "jsonl"


def test_decode_html_charsets():
    es = "Año de la canción: ñandú".encode("cp1252")
    assert decode_html(es, "text/html; charset=ISO-8859-1")[0] == "Año de la canción: ñandú"
    meta = b'<html><head><meta charset="windows-1252"></head><body>' + es + b"</body></html>"
    text, cs, bad = decode_html(meta, "text/html")
    assert "canción" in text and cs == "cp1252" and bad == 0
    text, cs, bad = decode_html("¿Qué tal? ".encode() + b"\xff", "text/html; charset=utf-8")
    assert text.startswith("¿Qué tal?") and bad == 1


def test_parse_http_rejects_garbage_and_dechunks():
    with pytest.raises(HttpError):
        parse_http(b"\x89GARBAGE\r\n\r\nbody")
    status, headers, body = parse_http(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhola \r\n5\r\nmundo\r\n0\r\n\r\n")
    assert status == 200 and body == b"hola mundo" and headers["transfer-encoding"] == "chunked"
