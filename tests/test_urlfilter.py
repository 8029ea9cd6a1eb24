"""The URL filter: UT1-layout lists, own lists and TLD rules block the pages of real crawls (the bundled
sample and a real iana.org crawl) before extraction, with one reason per category; hosts and list entries
are compared in one canonical form; a malformed list stops the table before any work, naming the file
and the line; records name the lists by content, not by where they are."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tamiz.pipeline.blocklists import canonical_host, check_url, host_suffixes, path_prefixes
from tamiz.pipeline.document import Document
from tamiz.pipeline.ingest import IngestConfig, ingest_file
from tamiz.pipeline.readers import expand_inputs
from tamiz.pipeline.table import load_table
from tamiz.pipeline.urlfilter import UrlFilter, UrlFilterConfig
from tamiz.pipeline.writers import read_parquet_documents

CATEGORIES = ("adult", "phishing", "malware")


@pytest.fixture(scope="module")
def ut1(fixtures_dir) -> Path:
    return fixtures_dir / "ut1"


def blocked(config: UrlFilterConfig, url: str | None):
    res = UrlFilter(config).filter(Document(id="d", text="", url=url))
    return None if res is True else res[1]


# ------------------------------------------------------------------------------------ matching rules

def test_hosts_and_entries_are_compared_in_one_form():
    assert canonical_host("WWW.Example.COM.") == "example.com"
    assert canonical_host("www.com") == "www.com"  # a www that is the whole registered name stays
    assert canonical_host("Pornografía.example") == "xn--pornografa-s8a.example"
    assert host_suffixes("a.b.example.com") == ["a.b.example.com", "b.example.com", "example.com", "com"]
    assert host_suffixes("192.0.2.7") == ["192.0.2.7"]  # an address is matched whole
    assert path_prefixes("/Debian-Handbook/es-ES/x.html", "") == ["", "/debian-handbook", "/debian-handbook/es-es",
                                                                  "/debian-handbook/es-es/x.html"]
    assert check_url("http://www.Foro.example.com:8080/Adultos/#top") == "foro.example.com/adultos"


def test_ut1_categories_block_domains_subdomains_and_url_prefixes(ut1):
    cfg = UrlFilterConfig(blocklist=str(ut1), categories=CATEGORIES)
    cases = {
        "https://videos-xxx.example/": "adult",
        "http://WWW.Videos-XXX.example/a?b=1": "adult",  # case, www
        "https://cdn.videos-xxx.example/v.mp4": "adult",  # a subdomain
        "https://contenido-adulto.example/": "adult",  # the list's entry has www., the URL has none
        "http://sub.pornografía.example/x": "adult",  # IDNA on both sides
        "http://xn--pornografa-s8a.example/": "adult",
        "http://192.0.2.7:8080/x": "adult",  # an address, with a port
        "https://foro.example.com/adultos": "adult",  # adult/urls: the page
        "https://foro.example.com/adultos/hilo/1": "adult",  # ... and the pages below it
        "https://foro.example.com/ADULTOS?pagina=2": "adult",
        "https://foro.example.com/adultosx": None,  # a prefix ends at a segment
        "https://foro.example.com/deportes": None,
        "https://a.b.example.net/": "phishing",
        "https://mirror.example.org/debian-handbook/es-ES/case-study.html": "malware",  # malware has urls only
        "https://mirror.example.org/debian-handbook/fr-FR/case-study.html": None,
        "https://apuestas.example/": None,  # gambling is in the folder but not among the categories
        "https://debian-handbook.info/browse/es-ES/stable/index.html": None,
        "https://example.org/": None,
        "https://notexample.net/": None,  # a suffix is a whole label
        "not a url": None,
        None: None,  # a document without a URL passes
    }
    assert {u: blocked(cfg, u) for u in cases} == cases
    assert cfg.rules().entries == {"adult": 5, "phishing": 2, "malware": 1}


def test_own_lists_tld_rules_and_words(tmp_path):
    (tmp_path / "copias.txt").write_text("# mirrors of the handbook\nmirror.example.org\n.LIBROS.example.com\n",
                                         encoding="utf-8")  # Squid's leading dot: the same as without
    (tmp_path / "paginas.txt").write_text("https://docs.example.org/debian-handbook/es-ES/\n", encoding="utf-8")
    (tmp_path / "palabras.txt").write_text("casino\napuestas\n", encoding="utf-8")
    cfg = UrlFilterConfig(domains=(str(tmp_path / "copias.txt"),), urls=(str(tmp_path / "paginas.txt"),),
                          block_tlds=("xxx", ".com.ar"), words=(str(tmp_path / "palabras.txt"),))
    cases = {
        "https://mirror.example.org/debian-handbook/ro-RO/sect.apparmor.html": "copias",
        "https://libros.example.com/debian-handbook/es-ES/sect.acknowledgments.html": "copias",
        "https://docs.example.org/debian-handbook/es-ES/sect.building-first-package.html": "paginas",
        "https://docs.example.org/debian-handbook/ko-KR/sect.devuan.html": None,
        "https://videos.xxx/": "tld",
        "https://tienda.com.ar/": "tld",
        "https://tienda.com/": None,
        "https://www.example.es/Casino-Online/": "word",
        "https://apuestas-deportivas.example.es/": "word",  # words of the host count too
        "https://www.example.es/casinos/": None,  # whole words only
    }
    assert {u: blocked(cfg, u) for u in cases} == cases
    only = UrlFilterConfig(only_tlds=("es", "mx", "com.ar"))
    assert [blocked(only, u) for u in ("https://a.es/", "https://b.com.ar/x", "https://c.com/", "http://10.0.0.1/")] \
        == [None, None, "tld_not_listed", "tld_not_listed"]


def test_url_entries_with_accents_match_percent_encoded_urls(tmp_path):
    """A list writes a path as people read it (menú) or percent-encoded, in either case; a crawl records it
    percent-encoded (men%C3%BA) or raw: both sides are compared decoded, lower-cased and encoded one way."""
    (tmp_path / "paginas.txt").write_text("café.example/menú\nfiestas.example/año-nuevo/\n"
                                          "guia.example/M%C3%A1laga\ntienda.example/ofertas?categoría=niños\n",
                                          encoding="utf-8")
    cfg = UrlFilterConfig(urls=(str(tmp_path / "paginas.txt"),))
    cases = {
        "http://xn--caf-dma.example/men%C3%BA": "paginas",
        "http://café.example/menú/postres": "paginas",
        "http://café.example/MEN%C3%9A": "paginas",  # Ú: upper case, encoded
        "https://fiestas.example/a%C3%B1o-nuevo/fotos.html": "paginas",
        "https://fiestas.example/a%c3%b1o-nuevo": "paginas",  # lower-case hex digits
        "https://guia.example/málaga/centro": "paginas",
        "https://tienda.example/ofertas?categor%C3%ADa=ni%C3%B1os": "paginas",
        "https://guia.example/malaga": None,  # accents are kept: another path
        "https://fiestas.example/ano-nuevo": None,
        "https://tienda.example/ofertas?categoría=adultos": None,
    }
    assert {u: blocked(cfg, u) for u in cases} == cases
    # the form is part of the ingest key where a list has URL entries, so a resumed build redoes their pages
    from tamiz.pipeline.blocklists import PATH_FORM

    assert cfg.record()["path_form"] == PATH_FORM >= 2
    (tmp_path / "sitios.txt").write_text("café.example\n", encoding="utf-8")
    assert "path_form" not in UrlFilterConfig(domains=(str(tmp_path / "sitios.txt"),)).record()


# --------------------------------------------------------------------------- ingest, on real crawls

def injected_pages(sample_dir: Path) -> list[dict]:
    """The HTML responses of the sample crawl that the WARC reader yields as documents (status 200 pages)."""
    recs = json.loads((sample_dir / "common_crawl" / "INJECTED.json").read_text(encoding="utf-8"))["records"]
    return [r for r in recs if r["type"] == "response" and r.get("status") == 200
            and str(r.get("content_type", "")).startswith("text/html")]


def test_ingest_drops_blocked_pages_before_extraction(tmp_path, sample_dir, ut1):
    """The whole sample crawl with the UT1-layout test list: every page on www.example.net (phishing) and
    every es-ES page under mirror.example.org's /debian-handbook/es-ES (malware) is dropped, counted by
    category, and its reject still holds the HTML (never extracted); nothing else is blocked."""
    cfg = IngestConfig(url_filter=UrlFilterConfig(blocklist=str(ut1), categories=CATEGORIES))
    dropped: Counter = Counter()
    for f in expand_inputs([sample_dir / "common_crawl"]):
        rec = ingest_file(f, tmp_path, "common_crawl", cfg)
        dropped.update({k: v for k, v in rec["counts"]["dropped"].items() if k.startswith("url_filter:")})
        assert rec["key"]["config_hash"] == cfg.hash()
    pages = injected_pages(sample_dir)
    expect = Counter()
    for r in pages:
        host, path = urlsplit(r["url"]).hostname, urlsplit(r["url"]).path
        if host == "www.example.net":
            expect["url_filter:phishing"] += 1
        elif host == "mirror.example.org" and path.startswith("/debian-handbook/es-ES/"):
            expect["url_filter:malware"] += 1
    assert dropped == expect and expect["url_filter:phishing"] == 4 and expect["url_filter:malware"] == 2
    rejects = [d for f in (tmp_path / "rejects").glob("*.parquet") for d in read_parquet_documents(f)
               if d.metadata["drop_reason"].startswith("url_filter:")]
    assert len(rejects) == 6
    assert all(d.text.lstrip().lower().startswith(("<!doctype", "<?xml", "<html")) for d in rejects)  # raw HTML
    assert all("language" not in d.metadata for d in rejects)  # the steps after it never saw them
    kept = [d for f in (tmp_path / "docs").glob("*.parquet") for d in read_parquet_documents(f)]
    assert kept and not any(blocked(cfg.url_filter, d.url) for d in kept)


def test_url_lists_on_a_real_iana_crawl(tmp_path, fixtures_dir):
    """A real 2014 crawl of www.iana.org (16 HTML pages): a URL entry blocks its page and the pages below it."""
    (tmp_path / "iana_root.txt").write_text("iana.org/domains/root\n", encoding="utf-8")
    cfg = IngestConfig(language_id=False, url_filter=UrlFilterConfig(urls=(str(tmp_path / "iana_root.txt"),)))
    rec = ingest_file(fixtures_dir / "real_iana.warc.gz", tmp_path / "out", "iana", cfg)
    blocked_urls = sorted(d.url for f in (tmp_path / "out" / "rejects").glob("*.parquet")
                          for d in read_parquet_documents(f) if d.metadata["drop_reason"] == "url_filter:iana_root")
    assert blocked_urls == ["http://www.iana.org/domains/root", "http://www.iana.org/domains/root/db",
                            "http://www.iana.org/domains/root/servers"]
    assert rec["counts"]["dropped"]["url_filter:iana_root"] == 3
    kept = {d.url for f in (tmp_path / "out" / "docs").glob("*.parquet") for d in read_parquet_documents(f)}
    assert {"http://www.iana.org/domains", "http://www.iana.org/domains/reserved"} <= kept


# ------------------------------------------------------------------------------- table, bad lists

def write_table(folder: Path, url_filter) -> Path:
    shutil.copytree(Path(__file__).parent / "fixtures" / "ut1", folder / "listas" / "ut1")
    table = {"sources": [{"name": "web", "kind": "crawl", "inputs": ["crawl/*.warc.gz"], "weight": 1,
                          "ingest": {"url_filter": url_filter}}]}
    (folder / "crawl").mkdir(parents=True, exist_ok=True)
    (folder / "crawl" / "a.warc.gz").write_bytes(b"")
    path = folder / "table.yaml"
    path.write_text(yaml.safe_dump(table), encoding="utf-8")
    return path


def test_table_lists_are_relative_to_the_table_and_records_name_them_by_content(tmp_path):
    block = {"blocklist": "listas/ut1", "categories": list(CATEGORIES)}
    a = load_table(write_table(tmp_path / "a", block)).ingest_config("web")
    b = load_table(write_table(tmp_path / "b", block)).ingest_config("web")
    assert a.url_filter.blocklist == str(tmp_path / "a" / "listas" / "ut1")
    assert a.hash() == b.hash() and a.record() == b.record()  # the same lists elsewhere: the same key
    assert str(tmp_path) not in json.dumps(a.record())
    assert IngestConfig(**json.loads(json.dumps(a.as_dict()))) == a  # the form flows hand to their tasks
    (tmp_path / "b" / "listas" / "ut1" / "phishing" / "domains").write_text("example.net\notro.example\n",
                                                                             encoding="utf-8")
    assert load_table(tmp_path / "b" / "table.yaml").ingest_config("web").hash() != a.hash()
    assert IngestConfig().as_dict() == {k: v for k, v in IngestConfig().as_dict().items() if k != "url_filter"}


@pytest.mark.parametrize("line, message", [
    ("casino .example", "'casino .example' has a space inside: one domain a line"),
    ("http://casino.example", "'http://casino.example' is a URL with a scheme"),
    ("casino.example/juegos", "'casino.example/juegos' has a path"),
    ("*.casino.example", "'*.casino.example' is a wildcard"),
    ("casino..example", "'casino..example' is not a domain name"),
    ("casino!.example", "'casino!.example' is not a domain name"),
])
def test_a_malformed_line_stops_the_table_naming_file_and_line(tmp_path, line, message):
    path = write_table(tmp_path, {"blocklist": "listas/ut1", "categories": ["adult", "phishing"]})
    listed = tmp_path / "listas" / "ut1" / "phishing" / "domains"
    listed.write_text(f"# comment\n\nexample.net\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError) as e:
        load_table(path).ingest_config("web")
    assert str(e.value).startswith(f"{path}: sources[0].ingest.url_filter.blocklist: {listed}, line 4: {message}")


def test_a_list_in_another_encoding_or_binary_is_refused(tmp_path):
    path = write_table(tmp_path, {"domains": ["mios.txt"]})
    (tmp_path / "mios.txt").write_bytes("tienda.example\nespaña.example\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"url_filter\.domains: .*mios\.txt, line 2: not UTF-8 \(byte 0xf1 at column 5\)"):
        load_table(path).ingest_config("web")
    (tmp_path / "mios.txt").write_bytes(b"tienda.example\n\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(ValueError, match=r"mios\.txt, line 4: a NUL byte; this is not a text file"):
        load_table(path).ingest_config("web")
    (tmp_path / "mios.txt").write_text("tienda.example\nespaña.example\n", encoding="utf-8")
    assert blocked(load_table(path).ingest_config("web").url_filter, "https://xn--espaa-rta.example/") == "mios"


@pytest.mark.parametrize("block, message", [
    ({"blocklist": "listas/ut1"}, "url_filter.categories: "),
    ({"blocklist": "listas/ut1", "categories": ["porn"]}, "no category 'porn' in the blocklist"),
    ({"blocklist": "listas/nada", "categories": ["adult"]}, "url_filter.blocklist: "),
    ({"categories": ["adult"]}, "url_filter.categories: given without a blocklist folder"),
    ({"domains": ["nada.txt"]}, "nada.txt: block list not found"),
    ({}, "nothing to block"),
    ({"block_tlds": ["x y"]}, "url_filter.block_tlds: 'x y' has a space inside"),
    ({"blocklist": "listas/ut1", "categories": ["adult"], "domains": ["adult.txt"]},
     "its name 'adult' is already a reason (categories)"),
])
def test_bad_settings_are_refused_before_any_work(tmp_path, block, message):
    (tmp_path / "adult.txt").write_text("a.example\n", encoding="utf-8")
    path = write_table(tmp_path, block)
    with pytest.raises(ValueError) as e:
        load_table(path).ingest_config("web")
    assert str(e.value).startswith(f"{path}: sources[0].ingest.") and message in str(e.value), str(e.value)


def test_strict_false_skips_and_counts_malformed_lines(tmp_path, caplog):
    (tmp_path / "mixta.txt").write_text("bueno.example\nmalo .example\notro.example\n", encoding="utf-8")
    cfg = UrlFilterConfig(domains=(str(tmp_path / "mixta.txt"),), strict=False)
    assert cfg.rules().entries == {"mixta": 2}
    assert "1 malformed line(s) skipped" in caplog.text and "mixta.txt, line 2" in caplog.text
    assert blocked(cfg, "https://otro.example/") == "mixta"


def test_the_cli_settings_file_is_read_relative_to_itself(tmp_path, ut1):
    from tamiz.flows.cmd_ingest import read_url_filter

    shutil.copytree(ut1, tmp_path / "conf" / "ut1")
    (tmp_path / "conf" / "uf.yaml").write_text("blocklist: ut1\ncategories: [phishing]\nblock_tlds: [xxx]\n",
                                               encoding="utf-8")
    cfg = read_url_filter(tmp_path / "conf" / "uf.yaml")
    assert cfg.blocklist == str(tmp_path / "conf" / "ut1")
    assert [blocked(cfg, u) for u in ("https://www.example.net/", "https://a.xxx/", "https://videos-xxx.example/")] \
        == ["phishing", "tld", None]


def test_cli_refuses_a_bad_url_filter_file_before_any_work(tmp_path, sample_dir):
    from typer.testing import CliRunner

    from tamiz.flows import cli

    cli._register()
    (tmp_path / "mios.txt").write_text("tienda.example\nhttps://malo.example\n", encoding="utf-8")
    (tmp_path / "uf.yaml").write_text("domains: [mios.txt]\n", encoding="utf-8")
    res = CliRunner().invoke(cli.app, ["ingest", str(sample_dir / "common_crawl"), "--out", str(tmp_path / "o"),
                                       "--url-filter", str(tmp_path / "uf.yaml")])
    out = " ".join(res.output.split())
    assert res.exit_code == 2 and "uf.yaml: url_filter.domains:" in out and "mios.txt, line 2:" in out, res.output
    assert not (tmp_path / "o").exists()
