"""Real servers on 127.0.0.1 for tests and benchmarks: Common Crawl "where it lives", served locally.

* `RangeHTTPServer`: one folder over HTTP/1.1 (GET, HEAD, byte ranges, ETag), with per-path
  request and byte counts and injected faults (reset, 503, stall, truncate, 404).
* `MotoS3Server`: moto's S3 over real HTTP, with `upload_tree` and the `env()` a client needs.
* Fixtures: `crawl_tree` (scripts/make_crawl_tree.py over the bundled sample WARCs, built once),
  `http_crawl` (that tree over HTTP), `s3_crawl` (that tree in the bucket `commoncrawl`), `s3_env`
  (a test's environment pointing at `s3_crawl`), and the autouse `remote_servers_reset` (every
  live HTTP server's faults and counts cleared around each test).

A test module uses them with ``from tests.remote_servers import *`` (or
``pytest_plugins = ["tests.remote_servers"]``); both need the repository root on sys.path, which
``python -m pytest`` run from the root gives.
"""

from __future__ import annotations

import email.utils
import logging
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_WARCS = ROOT / "data" / "sample" / "common_crawl"
CRAWL = "CC-MAIN-2024-26"
BUCKET = "commoncrawl"
FAULT_KINDS = ("reset", "503", "stall", "truncate", "404")
CHUNK = 1 << 16

__all__ = ["BUCKET", "CRAWL", "FAULT_KINDS", "CrawlTree", "Fault", "MotoS3Server", "RangeHTTPServer",
           "crawl_tree", "http_crawl", "remote_servers_reset", "s3_crawl", "s3_env"]


# ---------------------------------------------------------------------------------------------
# HTTP


@dataclass
class Fault:
    """What the next `times` requests for one path get (-1: every request until cleared)."""

    kind: str
    times: int = 1
    after_bytes: int = 0  # reset, stall, truncate: body bytes sent before the fault
    seconds: float = 5.0  # stall: how long the server pauses
    skip: int = 0  # GET requests answered normally before the fault starts


@dataclass
class _PathStats:
    log: list[dict] = field(default_factory=list)  # {"start", "end", "status"} of each GET, in order
    requests: int = 0
    bytes: int = 0  # response body bytes written (file bytes and error bodies; counted just before each write)
    statuses: dict[int, int] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 1024  # socketserver's 5 drops connections (SYN retried after 1 s) under parallel reads

    def __init__(self, owner: RangeHTTPServer):
        self.owner = owner
        self.open_sockets: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request, client_address):
        with self.owner._lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.owner._lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real object stores
    server_version = "tamiz-range/1"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection's thread ends after this
    disable_nagle_algorithm = True  # else headers then body wait on the client's delayed ACK: 40 ms a request
    server: _Server

    def log_message(self, format, *args):  # quiet
        pass

    def do_GET(self):
        self._serve(head=False)

    def do_HEAD(self):
        self._serve(head=True)

    # -- one request ------------------------------------------------------------------------

    def _serve(self, head: bool) -> None:
        owner = self.server.owner
        rel, full = owner._resolve(self.path)
        fault = owner._take_fault(rel, head)
        if not head and rel:
            m = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
            owner._log(rel, int(m.group(1)) if m else 0, int(m.group(2)) if m and m.group(2) else None,
                       int(fault.kind) if fault and fault.kind in ("404", "503") else None)
        if full is None:
            return self._plain(403 if rel is None else 404, rel or "", head)
        if fault and fault.kind in ("404", "503"):
            return self._plain(int(fault.kind), rel, head, {"Retry-After": "0"} if fault.kind == "503" else {})
        if not full.is_file():
            return self._plain(404, rel, head)
        st = full.stat()
        size = st.st_size
        headers = {"Accept-Ranges": "bytes", "ETag": f'"{st.st_size:x}-{st.st_mtime_ns:x}"',
                   "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True),
                   "Content-Type": "application/octet-stream"}
        rng = parse_range(self.headers.get("Range"), size)
        if rng == "unsatisfiable":
            return self._plain(416, rel, head, {"Content-Range": f"bytes */{size}"})
        start, end = rng if rng else (0, size - 1)
        length = end - start + 1
        owner._count(rel, 206 if rng else 200, 0)  # counted before answering: a client that has its answer sees it

        self.send_response(206 if rng else 200)
        if rng:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        for k, v in {**headers, "Content-Length": str(length)}.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self._body(rel, full, start, length, fault)

    def _body(self, rel: str, full: Path, start: int, length: int, fault: Fault | None) -> None:
        sent = 0
        cut = min(fault.after_bytes, length) if fault else length
        try:
            with open(full, "rb") as f:
                f.seek(start)
                while sent < cut:
                    sent += self._write(rel, f.read(min(CHUNK, cut - sent)))
                if fault and fault.kind == "stall":
                    self.server.owner._stop.wait(fault.seconds)
                    while sent < length:
                        sent += self._write(rel, f.read(min(CHUNK, length - sent)))
        except (BrokenPipeError, ConnectionResetError):  # the client gave up: nothing to do
            self.close_connection = True
        if fault and fault.kind == "truncate":
            self.close_connection = True  # the server closes cleanly (FIN) short of Content-Length
        elif fault and fault.kind == "reset":
            self._abort()

    def _write(self, rel: str, data: bytes) -> int:
        self.server.owner._count(rel, None, len(data))  # before the write, as the request count
        self.wfile.write(data)
        return len(data)

    def _abort(self) -> None:
        """Abort the TCP connection: with SO_LINGER 0, close sends RST instead of FIN."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the file object holds a reference: close it so the socket closes now
        self.connection.close()

    def _plain(self, status: int, rel: str, head: bool, extra: dict[str, str] | None = None) -> None:
        body = f"{status} {self.responses.get(status, ('',))[0]}\n".encode()
        self.server.owner._count(rel, status, 0 if head else len(body))
        self.send_response(status)
        for k, v in {"Content-Type": "text/plain", "Content-Length": str(len(body)), **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(first, last) byte of a single ``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` range; None to
    answer with the whole file (no Range, or one this server ignores as RFC 9110 allows:
    malformed, several ranges); "unsatisfiable" for a 416."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header or "")
    if not m or not (m.group(1) or m.group(2)):
        return None
    if not m.group(1):  # the last n bytes
        n = int(m.group(2))
        return (max(0, size - n), size - 1) if n and size else "unsatisfiable"
    first = int(m.group(1))
    if m.group(2) and int(m.group(2)) < first:
        return None
    if first >= size:
        return "unsatisfiable"
    return first, min(int(m.group(2)) if m.group(2) else size - 1, size - 1)


class RangeHTTPServer:
    """Serve one folder read-only on 127.0.0.1 (a free port), in a background thread.

        with RangeHTTPServer(root) as srv:
            srv.url                          # http://127.0.0.1:PORT
            srv.fail("a/b.warc.gz", "reset", after_bytes=1000)
            srv.stats["a/b.warc.gz"]         # {"requests": 1, "bytes": 1000, "statuses": {200: 1}}

    Paths are relative to the folder, without a leading slash. `..` anywhere is refused (403) and
    nothing outside the folder is served (symbolic links included).
    """

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise ValueError(f"root: {root} is not a folder")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._faults: dict[str, list[Fault]] = {}
        self._stats: dict[str, _PathStats] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- life ---------------------------------------------------------------------------------

    def start(self) -> RangeHTTPServer:
        self._stop.clear()
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"RangeHTTPServer {self.url}", daemon=True)
        self._thread.start()
        _LIVE.add(self)
        return self

    def stop(self) -> None:
        _LIVE.discard(self)
        if self._server is None:
            return
        self._stop.set()  # wakes stalled responses
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            sockets = list(self._server.open_sockets)
        for s in sockets:  # wake handler threads waiting on idle keep-alive connections
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def url_for(self, path: str) -> str:
        return f"{self.url}/{path.lstrip('/')}"

    # -- faults -------------------------------------------------------------------------------

    def fail(self, path: str, kind: str, times: int = 1, after_bytes: int = 0, seconds: float = 5.0,
             skip: int = 0) -> None:
        """Make the next `times` GET requests for `path` fail with `kind` (times=-1: all of them).

        reset: headers and `after_bytes` body bytes, then the TCP connection is aborted (RST).
        503: "503 Service Unavailable" with Retry-After: 0. 404: "404 Not Found".
        stall: headers and `after_bytes` bytes, a pause of `seconds`, then the rest.
        truncate: the full Content-Length is declared, `after_bytes` bytes sent, then a clean close.
        `skip`: the first `skip` GET requests for the path are answered normally (the fault then hits
        a request in the middle of a file read in several range requests).
        Faults of one path queue up in order. A HEAD request gets (and uses up) a 404 or 503
        fault; it is answered normally, and uses nothing up, when the next fault is of another kind.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind: {kind!r} is not one of {FAULT_KINDS}")
        if times == 0 or times < -1:
            raise ValueError(f"times: {times!r} must be positive, or -1 for every request")
        if after_bytes < 0 or seconds < 0:
            raise ValueError(f"after_bytes, seconds: {after_bytes!r}, {seconds!r} must not be negative")
        with self._lock:
            self._faults.setdefault(path.lstrip("/"), []).append(Fault(kind, times, after_bytes, seconds, skip))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, rel: str | None, head: bool) -> Fault | None:
        with self._lock:
            queue = self._faults.get(rel or "")
            if not queue or (head and queue[0].kind not in ("404", "503")):
                return None
            fault = queue[0]
            if fault.skip > 0:
                if not head:
                    fault.skip -= 1
                return None
            if fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    queue.pop(0)
            return fault

    # -- counts -------------------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, dict]:
        """{path: {"requests", "bytes", "statuses"}} since the start or the last reset_stats()."""
        with self._lock:
            return {p: {"requests": s.requests, "bytes": s.bytes, "statuses": dict(s.statuses)}
                    for p, s in sorted(self._stats.items())}

    def bytes_sent(self, path: str | None = None) -> int:
        with self._lock:
            if path is not None:
                return self._stats[path.lstrip("/")].bytes if path.lstrip("/") in self._stats else 0
            return sum(s.bytes for s in self._stats.values())

    def requests(self, path: str) -> list[dict]:
        """The GET requests for `path` in arrival order: {"start", "end", "status"} (the byte range asked;
        status: the injected 404/503, else None)."""
        with self._lock:
            s = self._stats.get(path.lstrip("/"))
            return [dict(x) for x in s.log] if s else []

    def _log(self, rel: str, start: int, end: int | None, status: int | None) -> None:
        with self._lock:
            self._stats.setdefault(rel, _PathStats()).log.append({"start": start, "end": end, "status": status})

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()

    def _count(self, rel: str, status: int | None, nbytes: int) -> None:
        with self._lock:
            s = self._stats.setdefault(rel, _PathStats())
            if status is not None:
                s.requests += 1
                s.statuses[status] = s.statuses.get(status, 0) + 1
            s.bytes += nbytes

    # -- paths --------------------------------------------------------------------------------

    def _resolve(self, url_path: str) -> tuple[str | None, Path | None]:
        """(relative path, file) for a request path; (None, None) for a refused one; (rel, None) outside."""
        rel = unquote(urlsplit(url_path).path).lstrip("/")
        if ".." in rel.split("/") or "\\" in rel or "\0" in rel:
            return None, None
        full = (self.root / rel).resolve()
        if not full.is_relative_to(self.root):
            return rel, None
        return rel, full


_LIVE: set[RangeHTTPServer] = set()


# ---------------------------------------------------------------------------------------------
# S3


class MotoS3Server:
    """moto's S3 API over real HTTP on 127.0.0.1 (a free port).

    moto keeps its buckets in process-wide memory: two servers in one process share them.
    """

    key, secret, region = "testing", "testing", "us-east-1"

    def __init__(self):
        self._server = None
        self.endpoint_url = ""

    def start(self) -> MotoS3Server:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.key,
                            aws_secret_access_key=self.secret, region_name=self.region)

    def filesystem(self):
        """An s3fs filesystem on this server (a fresh instance, not fsspec's cached one)."""
        import s3fs

        return s3fs.S3FileSystem(key=self.key, secret=self.secret, endpoint_url=self.endpoint_url,
                                 client_kwargs={"region_name": self.region}, skip_instance_cache=True)

    def upload_tree(self, bucket: str, root: str | Path, prefix: str = "") -> list[str]:
        """Create `bucket` (if needed) and upload every file under `root` to `prefix` + its relative path."""
        client = self.client()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
        keys = []
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            key = prefix + path.relative_to(root).as_posix()
            client.upload_file(str(path), bucket, key)
            keys.append(key)
        return keys

    def env(self) -> dict[str, str]:
        """What a client process needs to reach this server: botocore (and s3fs through it) reads
        AWS_ENDPOINT_URL_S3 (and AWS_ENDPOINT_URL); tamiz reads TAMIZ_S3_ENDPOINT_URL. The config
        files point nowhere so a developer's ~/.aws never leaks in."""
        return {
            "AWS_ACCESS_KEY_ID": self.key, "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url, "AWS_ENDPOINT_URL": self.endpoint_url,
            "TAMIZ_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_CONFIG_FILE": "/nonexistent/tamiz-aws-config", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/tamiz-aws-credentials",
            "AWS_EC2_METADATA_DISABLED": "true",
        }


# ---------------------------------------------------------------------------------------------
# Fixtures


@dataclass(frozen=True)
class CrawlTree:
    """A built tree: its folder and build_crawl_tree's summary (paths are relative to `root`)."""

    root: Path
    summary: dict

    @property
    def crawl(self) -> str:
        return self.summary["crawl"]

    @property
    def warc_paths(self) -> list[str]:
        return self.summary["warc_paths"]

    @property
    def wet_paths(self) -> list[str]:
        return self.summary["wet_paths"]

    @property
    def index_path(self) -> str:
        return self.summary["index_path"]

    def index_rows(self) -> list[dict]:
        import pyarrow.parquet as pq

        return pq.read_table(self.root / self.index_path).to_pylist()


def build_sample_tree(dest: Path, **kwargs) -> CrawlTree:
    """scripts/make_crawl_tree.py over the bundled sample WARC files."""
    from scripts.make_crawl_tree import build_crawl_tree

    summary = build_crawl_tree(dest, sorted(SAMPLE_WARCS.glob("*.warc.gz")), **kwargs)
    return CrawlTree(Path(dest), summary)


@pytest.fixture(scope="session")
def crawl_tree(tmp_path_factory) -> CrawlTree:
    """The sample WARCs as a Common Crawl tree (every record kept), built once per session."""
    return build_sample_tree(tmp_path_factory.mktemp("crawl-tree"))


@pytest.fixture(scope="session")
def http_crawl(crawl_tree):
    """`crawl_tree` over HTTP: ``http_crawl.url`` stands for https://data.commoncrawl.org."""
    with RangeHTTPServer(crawl_tree.root) as srv:
        yield srv


@pytest.fixture(scope="session")
def s3_crawl(crawl_tree):
    """`crawl_tree` in the bucket ``commoncrawl`` of a local S3 (``s3_crawl.endpoint_url``)."""
    with MotoS3Server() as srv:
        srv.upload_tree(BUCKET, crawl_tree.root)
        yield srv


@pytest.fixture
def s3_env(s3_crawl, monkeypatch):
    """This test's environment points S3 clients (botocore, s3fs, tamiz) at `s3_crawl`."""
    for k, v in s3_crawl.env().items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    return s3_crawl


@pytest.fixture(autouse=True)
def remote_servers_reset():
    """Every live RangeHTTPServer starts a test with no faults and zeroed counts, and ends it with no faults."""
    for srv in list(_LIVE):
        srv.clear_faults()
        srv.reset_stats()
    yield
    for srv in list(_LIVE):
        srv.clear_faults()
