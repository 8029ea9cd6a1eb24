"""Remote inputs (core/remote.py) and Common Crawl's columnar index and WET files (pipeline/commoncrawl.py),
on a Common Crawl-shaped tree built from the bundled sample WARCs (scripts/make_crawl_tree.py) and served
from 127.0.0.1.

Measures, in one run:

a. remote overhead: WARC records/s reading (and, separately, ingesting) the tree's 4 WARC files from local
   disk, over HTTP (tests.remote_servers.RangeHTTPServer) and from a local S3 (moto), in alternating order,
   median of several passes; with the default chunk (TAMIZ_REMOTE_CHUNK_MB=8) and a small one (64 KiB);
   then reading one ~20 MB file (the 4 files end to end, 10 times), where per-file requests no longer
   dominate, with 8 MiB and 1 MiB chunks; and the cost of one HEAD and one small GET on each server.
   The servers run in a child process, so this process's CPU time is the client's alone (a real store costs
   the reader nothing); wall time includes the servers' work and the loopback, which has no network latency.
b. index selection: bytes and requests the selection files fetch against the whole WARC files and the
   selected records' own bytes, and recall of Spanish documents (ids kept from the selection against ids
   kept from the whole files), for match "first" and "anywhere", on a tree with ~5% Spanish pages and on
   the full sample tree; whole files against selection with 20 ms added to every GET; and rows/s of the
   index scan (select_from_index against the same filter in pyarrow.compute).
c. WET against WARC + resiliparse on the same pages: documents kept, characters, documents in both, and
   two side-by-side excerpts.

Writes benchmarks/results/remote.json; the last line printed is the JSON.

    python benchmarks/bench_remote.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_results  # noqa: E402

SOURCE = "common_crawl"
BUCKET = "commoncrawl"
SMALL_CHUNK_MB = 1 / 16  # 64 KiB: ~8 range requests per sample WARC file (a 1 GB Common Crawl file takes 128 of 8 MiB)
LATENCY_S = 0.02  # added to every GET in the latency comparison (same-region S3 first-byte latency is of this order)
# Lines of the handbook's page template (navigation, footer) that main-content extraction should drop.
BOILERPLATE = ("Anterior", "Siguiente", "Inicio", "Prev", "Next", "Home", "Report a bug", "Informar un error")


# ---------------------------------------------------------------------------------------------------------
# the servers, in a child process: their CPU is not the reader's, and they get the other core


def _serve(root: str, conn) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.remote_servers import MotoS3Server, RangeHTTPServer

    with RangeHTTPServer(root) as http, MotoS3Server() as s3:
        s3.upload_tree(BUCKET, Path(root) / "full")
        s3.upload_tree(BUCKET, Path(root) / "big", prefix="big/")
        conn.send({"http": http.url, "s3_env": s3.env()})
        while True:
            cmd, args = conn.recv()
            if cmd == "stop":
                conn.send(None)
                return
            conn.send(http.stats if cmd == "stats" else getattr(http, cmd)(*args))


class Servers:
    """RangeHTTPServer over `root` and moto S3 holding `root/full` (and `root/big` under big/) in the bucket
    `commoncrawl`, in a child process; `call(name, *args)` runs a RangeHTTPServer method there (stats,
    reset_stats, fail, ...)."""

    def __init__(self, root: Path):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(str(root), child), daemon=True)

    def __enter__(self) -> Self:
        self.proc.start()
        info = self.conn.recv()
        self.http, self.s3_env = info["http"], info["s3_env"]
        return self

    def call(self, cmd: str, *args: Any) -> Any:
        self.conn.send((cmd, args))
        return self.conn.recv()

    def __exit__(self, *exc) -> None:
        self.call("stop")
        self.proc.join(timeout=10)


# ---------------------------------------------------------------------------------------------------------
# helpers


def read_all(inputs: list) -> tuple[int, int]:
    """(records, documents) of reading `inputs` (no extraction)."""
    from tamiz.pipeline.readers import read_documents
    from tamiz.pipeline.report import ReadReport

    records = docs = 0
    for x in inputs:
        report = ReadReport(str(x))
        for _ in read_documents(x, report, SOURCE):
            docs += 1
        records += report.records
    return records, docs


def ingest_all(inputs: list, out: Path) -> int:
    """Records ingested (read, extract, language ID, Parquet) from `inputs` into `out`."""
    from tamiz.pipeline.ingest import IngestConfig, ingest_file

    return sum(ingest_file(x, out, SOURCE, IngestConfig())["counts"]["records"] for x in inputs)


def kept_docs(out: Path) -> dict[str, dict]:
    """{id: {"text", "url"}} of the documents an ingest kept."""
    import pyarrow.parquet as pq

    docs: dict[str, dict] = {}
    for f in sorted((out / "docs").glob("*.parquet")):
        for row in pq.read_table(f, columns=["id", "text", "url"]).to_pylist():
            docs[row["id"]] = {"text": row["text"], "url": row["url"]}
    return docs


def drop_reasons(out: Path) -> dict[str, str]:
    """{id: drop reason} of the documents an ingest rejected."""
    import pyarrow.parquet as pq

    reasons: dict[str, str] = {}
    for f in sorted((out / "rejects").glob("*.parquet")):
        for row in pq.read_table(f, columns=["id", "metadata"]).to_pylist():
            reasons[row["id"]] = json.loads(row["metadata"] or "{}").get("drop_reason", "")
    return reasons


def timed(fn: Callable[[], int]) -> tuple[int, float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    n = fn()
    return n, time.perf_counter() - w0, time.process_time() - c0


def set_chunk(mb: float | None) -> None:
    if mb is None:
        os.environ.pop("TAMIZ_REMOTE_CHUNK_MB", None)
    else:
        os.environ["TAMIZ_REMOTE_CHUNK_MB"] = str(mb)


# ---------------------------------------------------------------------------------------------------------
# a. records/s: local disk, HTTP, S3


def compare_sources(sources: dict[str, list], run: Callable[[list], int], repeat: int) -> dict[str, Any]:
    """Median wall and client CPU seconds of `run(inputs)` per source, alternating the order every pass,
    after one untimed pass each (fsspec's filesystems, aiohttp's session and botocore's client are made once
    per process); the overhead of each remote source is its median wall time over local's, minus 1."""
    names = list(sources)
    for name in names:
        run(sources[name])
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    records = 0
    for i in range(repeat):
        order = names[i % len(names):] + names[:i % len(names)]
        if i % 2:
            order.reverse()
        for name in order:
            records, wall, cpu = timed(lambda inputs=sources[name]: run(inputs))
            walls[name].append(wall)
            cpus[name].append(cpu)
    out: dict[str, Any] = {"records": records}
    local = statistics.median(walls["local"])
    for name in names:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        out[name] = {"records_per_s": round(records / wall, 1), "records_per_client_cpu_s": round(records / cpu, 1),
                     "median_wall_s": round(wall, 4), "min_wall_s": round(min(walls[name]), 4)}
        if name != "local":
            out[name]["overhead_vs_local"] = round(wall / local - 1, 4)
    return out


def part_a(servers: Servers, tree: dict, big: Path, repeat: int, ingest_passes: int) -> dict[str, Any]:
    full = Path(tree["root"])
    sources = {
        "local": [full / p for p in tree["warc_paths"]],
        "http": [f"{servers.http}/full/{p}" for p in tree["warc_paths"]],
        "s3": [f"s3://{BUCKET}/{p}" for p in tree["warc_paths"]],
    }
    out: dict[str, Any] = {"passes": repeat, "ingest_passes": ingest_passes}
    for label, mb in (("default_chunk_8mib", None), ("chunk_64kib", SMALL_CHUNK_MB)):
        set_chunk(mb)
        servers.call("reset_stats")
        res = out[f"sample_read_{label}"] = compare_sources(sources, lambda x: read_all(x)[0], repeat)
        res["http_requests_per_file_pass"] = requests_per_file(servers, tree, repeat + 1)
        print(f"sample read {label}: {res}", flush=True)
    set_chunk(None)
    with tempfile.TemporaryDirectory() as tmp:
        runs = iter(range(10 ** 6))

        def ingest(inputs: list) -> int:  # a fresh folder every pass: a done shard would be skipped
            return ingest_all(inputs, Path(tmp) / str(next(runs)))

        servers.call("reset_stats")
        res = out["sample_ingest_default_chunk_8mib"] = compare_sources(sources, ingest, ingest_passes)
        res["http_requests_per_file_pass"] = requests_per_file(servers, tree, ingest_passes + 1)
    print(f"sample ingest: {out['sample_ingest_default_chunk_8mib']}", flush=True)

    # one larger file: per-file costs (HEAD requests, connection, client set-up) no longer dominate
    big_sources = {"local": [big], "http": [f"{servers.http}/big/{big.name}"], "s3": [f"s3://{BUCKET}/big/{big.name}"]}
    out["big_file_mb"] = round(big.stat().st_size / 1e6, 2)
    for label, mb in (("default_chunk_8mib", None), ("chunk_1mib", 1)):
        set_chunk(mb)
        res = out[f"big_read_{label}"] = compare_sources(big_sources, lambda x: read_all(x)[0], repeat)
        print(f"big read {label}: {res}", flush=True)
    set_chunk(None)
    out["request_ms"] = request_cost(sources)
    print(f"request cost: {out['request_ms']}", flush=True)
    return out


def requests_per_file(servers: Servers, tree: dict, passes: int) -> dict[str, float]:
    """HTTP requests (all, and GET) per WARC file and pass since the last reset_stats (HEAD answers count in
    `all`, the GET log has GETs only)."""
    gets = sum(len(servers.call("requests", f"full/{p}")) for p in tree["warc_paths"])
    alls = sum(s["requests"] for p, s in servers.call("stats").items() if p.startswith("full/"))
    n = len(tree["warc_paths"]) * passes
    return {"all": round(alls / n, 2), "get": round(gets / n, 2)}


def request_cost(sources: dict[str, list], n: int = 40) -> dict[str, Any]:
    """Median milliseconds of one HEAD (remote.input_info) and one 1 KiB range GET (remote.read_range)
    against each server, one request at a time: the fixed cost every request pays on the loopback."""
    from tamiz.core import remote

    out: dict[str, Any] = {}
    for name in ("http", "s3"):
        url = sources[name][0]
        head, get = [], []
        for i in range(n):
            t0 = time.perf_counter()
            remote.input_info(url)
            head.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            remote.read_range(url, 1024 * i, 1024)
            get.append(time.perf_counter() - t0)
        out[name] = {"head": round(statistics.median(head) * 1000, 2), "get_1kib": round(statistics.median(get) * 1000, 2)}
    return out


# ---------------------------------------------------------------------------------------------------------
# b. index selection: bytes, requests, recall


SELECTIONS = {"first": ("first", 0), "anywhere": ("anywhere", 0), "first_max_gap_64kib": ("first", 1 << 16)}


def crawl_spec(tree: dict, base: str, match: str, max_gap: int = 0):
    from tamiz.pipeline.commoncrawl import CrawlSpec

    return CrawlSpec.from_dict({"id": tree["crawl"], "base": base, "files": "warc",
                                "index": {"languages": ["spa"], "match": match, "max_gap": max_gap}})


def index_columns(tree: dict) -> dict[str, Any]:
    """Compressed bytes of the index columns a selection reads, of `url` among them, and of the whole file."""
    import pyarrow.parquet as pq

    from tamiz.pipeline.commoncrawl import INDEX_COLUMNS

    path = Path(tree["root"]) / tree["index_path"]
    meta = pq.ParquetFile(path).metadata
    size: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            col = meta.row_group(g).column(c)
            size[col.path_in_schema] = size.get(col.path_in_schema, 0) + col.total_compressed_size
    read = sum(size[c] for c in INDEX_COLUMNS)
    return {"file_bytes": path.stat().st_size, "all_columns_bytes": sum(size.values()), "read_columns_bytes": read,
            "url_column_bytes": size["url"], "url_share_of_read_columns": round(size["url"] / read, 3)}


def index_scan(tree: dict, tmp: Path, copies: int, repeat: int = 3) -> dict[str, Any]:
    """Rows/s of select_from_index (a Python loop over every row) on the full tree's index repeated `copies`
    times in one local file, against the same selection (match first) as pyarrow.compute expressions over
    the same columns; best of `repeat`."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from tamiz.pipeline.commoncrawl import HTML_MIMES, INDEX_COLUMNS, IndexSpec, select_from_index

    table = pq.read_table(Path(tree["root"]) / tree["index_path"])
    path = tmp / "index-x.parquet"
    pq.write_table(pa.concat_tables([table] * copies), path, compression="gzip", row_group_size=100_000)
    rows = table.num_rows * copies

    def vectorized() -> int:
        n = 0
        for b in pq.ParquetFile(path).iter_batches(batch_size=65536, columns=list(INDEX_COLUMNS)):
            mimes = pa.array(HTML_MIMES)
            html = pc.or_(pc.is_in(pc.utf8_lower(pc.fill_null(b["content_mime_detected"], "")), mimes),
                          pc.is_in(pc.utf8_lower(pc.fill_null(b["content_mime_type"], "")), mimes))
            first = pc.list_element(pc.split_pattern(pc.fill_null(b["content_languages"], ""), ","), 0)
            keep = pc.and_(pc.and_(pc.equal(b["fetch_status"], 200), html), pc.equal(first, "spa"))
            n += pc.sum(keep).as_py() or 0
        return n

    best_loop = best_vec = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        selected = select_from_index([str(path)], IndexSpec()).selected
        best_loop = min(best_loop, time.perf_counter() - t0)
        t0 = time.perf_counter()
        selected_vec = vectorized()
        best_vec = min(best_vec, time.perf_counter() - t0)
    return {"rows": rows, "select_from_index_rows_per_s": round(rows / best_loop),
            "pyarrow_compute_rows_per_s": round(rows / best_vec), "same_count": selected == selected_vec}


def part_b(servers: Servers, trees: dict[str, dict], whole_kept: dict[str, dict], tmp: Path) -> dict[str, Any]:
    from tamiz.pipeline.commoncrawl import plan_index

    out: dict[str, Any] = {}
    for tname, tree in trees.items():
        warcs = {f"{tname}/{p}" for p in tree["warc_paths"]}
        kept_whole = whole_kept[tname]
        res: dict[str, Any] = {"index_rows": tree["index_rows"], "spanish_rows": tree["spanish_rows"],
                               "spanish_rows_any_label": tree["spanish_rows_any"],
                               "spanish_share": tree["spanish_share"], "warc_bytes": tree["warc_bytes"],
                               "spanish_record_bytes": tree["spanish_record_bytes"],
                               "es_docs_kept_from_whole_files": len(kept_whole), "index_columns": index_columns(tree)}
        for variant, (match, gap) in SELECTIONS.items():
            servers.call("reset_stats")
            folder = tmp / f"plan-{tname}-{variant}"
            selection, counts = plan_index(crawl_spec(tree, f"{servers.http}/{tname}/", match, gap), folder)
            index_bytes = servers.call("bytes_sent")
            servers.call("reset_stats")
            t0 = time.perf_counter()
            ingest_all(selection, folder / "ingest")
            seconds = time.perf_counter() - t0
            stats = servers.call("stats")
            fetched = sum(s["bytes"] for p, s in stats.items() if p in warcs)
            gets = sum(len(servers.call("requests", p)) for p in warcs)
            kept_sel = kept_docs(folder / "ingest")
            both = kept_sel.keys() & kept_whole.keys()
            missed = sorted(kept_whole.keys() - kept_sel.keys(), key=lambda k: kept_whole[k]["url"])
            res[variant] = {
                "selected_records": counts["selected"], "selected_bytes": counts["selected_bytes"],
                "index_and_path_list_bytes_fetched": index_bytes,
                "warc_bytes_fetched": fetched, "warc_get_requests": gets,
                "all_requests": sum(s["requests"] for s in stats.values()),
                "fetched_over_spanish_record_bytes": round(fetched / tree["spanish_record_bytes"], 4),
                "fetched_over_whole_warc_bytes": round(fetched / tree["warc_bytes"], 4),
                "es_docs_kept_from_selection": len(kept_sel),
                "selected_but_dropped_by_language_id": counts["selected"] - len(kept_sel),
                "es_docs_in_both": len(both),
                "recall_vs_whole_files": round(len(both) / max(1, len(kept_whole)), 4),
                "kept_from_selection_not_from_whole_files": len(kept_sel.keys() - kept_whole.keys()),
                "missed_examples": [kept_whole[k]["url"] for k in missed[:5]],
                "ingest_seconds": round(seconds, 3),
            }
            print(f"index {tname} {variant}: {res[variant]}", flush=True)
        out[tname] = res
    return out


def part_b_latency(servers: Servers, tree: dict, tmp: Path) -> dict[str, Any]:
    """Reading the whole WARC files against reading the selection files (match first; ranges as they are
    and merged across gaps up to 64 KiB), with LATENCY_S added to every GET (the server sends the headers,
    waits, then the body; HEAD requests are not delayed)."""
    from tamiz.pipeline.commoncrawl import plan_index

    inputs = {"whole_files": [f"{servers.http}/full/{p}" for p in tree["warc_paths"]]}
    for variant in ("first", "first_max_gap_64kib"):
        match, gap = SELECTIONS[variant]
        inputs[f"selection_{variant}"] = plan_index(crawl_spec(tree, f"{servers.http}/full/", match, gap),
                                                    tmp / f"plan-latency-{variant}")[0]
    out: dict[str, Any] = {"latency_per_get_s": LATENCY_S}
    for added in (0.0, LATENCY_S):
        servers.call("clear_faults")
        for p in tree["warc_paths"] if added else ():
            servers.call("fail", f"full/{p}", "stall", -1, 0, added)
        row = {}
        for name, files in inputs.items():
            servers.call("reset_stats")
            t0 = time.perf_counter()
            _, docs = read_all(files)
            wall = time.perf_counter() - t0
            gets = sum(len(servers.call("requests", f"full/{p}")) for p in tree["warc_paths"])
            row[name] = {"read_s": round(wall, 3), "html_pages": docs, "get_requests": gets}
        out[f"added_{round(added * 1000)}ms"] = row
    servers.call("clear_faults")
    print(f"latency: {out}", flush=True)
    return out


# ---------------------------------------------------------------------------------------------------------
# c. WET against WARC + resiliparse


def part_c(wet: dict[str, dict], warc: dict[str, dict], warc_dropped: dict[str, str]) -> dict[str, Any]:
    def summary(docs: dict[str, dict]) -> dict[str, Any]:
        chars = [len(d["text"]) for d in docs.values()]
        lines = sum(1 for d in docs.values() for ln in d["text"].splitlines()
                    if ln.strip().lstrip("•·*-").strip() in BOILERPLATE)  # WET keeps menus as "  • Anterior"
        return {"es_docs_kept": len(docs), "total_chars": sum(chars),
                "mean_chars_per_doc": round(sum(chars) / max(1, len(chars)), 1),
                "median_chars_per_doc": statistics.median(chars) if chars else 0,
                "boilerplate_lines_kept": lines}

    both = sorted(wet.keys() & warc.keys(), key=lambda k: warc[k]["url"])
    ratio = [len(wet[k]["text"]) / max(1, len(warc[k]["text"])) for k in both]
    # two pages of different sites, the first of each by URL
    picks, hosts = [], set()
    for k in both:
        host = warc[k]["url"].split("/")[2]
        if host not in hosts:
            hosts.add(host)
            picks.append(k)
        if len(picks) == 2:
            break
    return {
        "wet": summary(wet), "warc_resiliparse": summary(warc),
        "docs_in_both": len(both), "only_wet": len(wet.keys() - warc.keys()), "only_warc": len(warc.keys() - wet.keys()),
        "median_wet_over_warc_chars_same_page": round(statistics.median(ratio), 3) if ratio else None,
        # pages kept from WET only, and why the WARC + resiliparse ingest dropped them
        "only_wet_examples": sorted(f"{wet[k]['url']} ({warc_dropped.get(k, '?')})" for k in wet.keys() - warc.keys())[:8],
        "excerpts": [{"url": warc[k]["url"], "wet": wet[k]["text"][:300], "warc_resiliparse": warc[k]["text"][:300]}
                     for k in picks],
    }


# ---------------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer passes (under a minute)")
    ap.add_argument("--repeat", type=int, default=7, help="timed passes per source for reads (ingest: 5)")
    args = ap.parse_args()
    ingest_passes = 5
    if args.quick:
        args.repeat, ingest_passes = 2, 1
    logging_quiet()
    from tamiz.pipeline.langid import load_model
    from tests.remote_servers import build_sample_tree

    t_start = time.perf_counter()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_1min_at_start": round(os.getloadavg()[0], 2)},
    }
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        srv = tmp / "srv"
        trees = {"full": build_sample_tree(srv / "full").summary,
                 "es5": build_sample_tree(srv / "es5", spanish_share=0.05).summary}
        for name, t in trees.items():
            t["root"] = str(srv / name)
        # the 4 WARC files end to end, 10 times: one valid WARC file of ~20 MB (Common Crawl's are ~1 GB)
        big = srv / "big" / "CC-MAIN-sample-x10-00000.warc.gz"
        big.parent.mkdir(parents=True)
        big.write_bytes(b"".join((srv / "full" / p).read_bytes() for p in trees["full"]["warc_paths"]) * 10)
        results["input"] = {name: {k: t[k] for k in ("index_rows", "wet_records", "spanish_rows", "spanish_share",
                                                     "warc_bytes", "spanish_record_bytes")} for name, t in trees.items()}
        load_model()  # loading fastText once is not per-record cost
        with Servers(srv) as servers:
            os.environ.update(servers.s3_env)
            for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "TAMIZ_S3_ANON"):
                os.environ.pop(k, None)
            results["a_remote_overhead"] = part_a(servers, trees["full"], big, args.repeat, ingest_passes)

            # whole-file ingests, locally: the reference for recall (b) and the WARC side of (c)
            whole: dict[str, dict] = {}
            for name, t in trees.items():
                ingest_all([Path(t["root"]) / p for p in t["warc_paths"]], tmp / f"whole-{name}")
                whole[name] = kept_docs(tmp / f"whole-{name}")
            results["b_index_selection"] = part_b(servers, trees, whole, tmp)
            results["b_latency"] = part_b_latency(servers, trees["full"], tmp)
        results["b_index_scan"] = index_scan(trees["full"], tmp, 100 if args.quick else 1000)
        print(f"index scan: {results['b_index_scan']}", flush=True)
        ingest_all([Path(trees["full"]["root"]) / p for p in trees["full"]["wet_paths"]], tmp / "wet-full")
        results["c_wet_vs_warc"] = part_c(kept_docs(tmp / "wet-full"), whole["full"], drop_reasons(tmp / "whole-full"))
    results["machine"]["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    results["seconds"] = round(time.perf_counter() - t_start, 1)
    write_results("remote", results, args.quick)
    print(json.dumps(results, ensure_ascii=False))


def logging_quiet() -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)


if __name__ == "__main__":
    main()
