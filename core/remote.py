"""Inputs by URL: `s3://`, `gs://`, `http(s)://` and local paths, read through fsspec, streamed, retried.

Every input that tamiz reads goes through `open_input` (a local path is opened as it is; a URL becomes a
`RemoteFile`), `input_info` (size and ETag from one HEAD, never a read of the file) and `list_files`
(an `s3://bucket/prefix/` or a glob). What a remote read guarantees:

- **streaming**: a `RemoteFile` holds one chunk (`TAMIZ_REMOTE_CHUNK_MB`, 8 MiB by default) and fetches
  the next with a range request; nothing is copied to local disk and no file is held whole in memory;
- **timeouts on every request** (`TAMIZ_REMOTE_TIMEOUT`, seconds without a byte; 60 by default): a
  stalled server is a failed request, never a hang;
- **retries with backoff** (`TAMIZ_REMOTE_RETRIES`, 5 by default; `TAMIZ_REMOTE_BACKOFF`, the first wait
  in seconds, doubling up to 30 s) on 5xx, throttling (429, SlowDown), connection resets, timeouts and
  bodies shorter than they said; a retry asks again from the offset the reader is at (a range request),
  never from the start of the file, and checks first that the object's ETag did not change;
- **clear errors** for what no retry mends: `RemoteError` names the URL and says what to do (a missing
  object or bucket, refused access, no credentials, an unknown scheme, a missing fsspec backend).

Credentials come the usual way for each store (S3: the AWS environment variables, profiles and
instance roles that botocore reads; GCS: gcsfs's application default credentials). Public buckets are
read anonymously with `TAMIZ_S3_ANON=1` (Common Crawl's bucket). `TAMIZ_S3_ENDPOINT_URL` (or the AWS
SDK's `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`) points s3:// at another S3-compatible server (a
mirror, MinIO, the tests' local server). Credentials are never logged or written to any record.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# scheme -> (fsspec protocol, the package that provides it)
SCHEMES: dict[str, tuple[str, str]] = {
    "s3": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"),
    "gcs": ("gcs", "gcsfs"),
    "http": ("http", "aiohttp"),
    "https": ("https", "aiohttp"),
}
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/")  # https://host/x (or https:/host/x once pathlib folded //)


class RemoteError(OSError):
    """A remote input that cannot be read; the message names the URL and what to do."""


def url_scheme(text: str | Path) -> str | None:
    """The scheme of a URL ('s3', 'https', ...), 'file' for file:// URLs, None for a local path."""
    if isinstance(text, Path):
        return None
    m = _URL.match(text)
    if not m or len(m.group(1)) == 1:  # C:/x on Windows is a path
        return None
    return m.group(1).lower()


def is_url(text: str | Path) -> bool:
    """True for an input given by URL (s3://, gs://, http(s)://, or any other scheme, which is refused later)."""
    scheme = url_scheme(text)
    return scheme is not None and scheme != "file"


def local_path(text: str | Path) -> Path:
    """A local path from a path or a file:// URL."""
    if isinstance(text, str) and text.lower().startswith("file://"):
        return Path(text[len("file://"):])
    return Path(text)


def unfold(text: str) -> str:
    """`https:/host/x` (a URL that went through pathlib, which folds //) back to `https://host/x`."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*):/(?!/)", r"\1://", text)


def check_url(url: str) -> None:
    """ValueError naming the URL for a scheme tamiz cannot read, before any work starts."""
    scheme = url_scheme(url)
    if scheme is None or scheme == "file":
        return
    if scheme not in SCHEMES:
        raise ValueError(f"{url}: unknown URL scheme '{scheme}://' (tamiz reads s3://, gs://, http://, https:// "
                         "and local paths)")
    if "//" not in url[:len(scheme) + 3]:
        raise ValueError(f"{url}: not a URL (expected {scheme}://host/path)")


def basename(path: str | Path) -> str:
    """The file name of a path or URL (query and fragment dropped)."""
    text = str(path)
    if is_url(text):
        text = text.split("?", 1)[0].split("#", 1)[0].rstrip("/")
        return text.rsplit("/", 1)[-1]
    return Path(text).name


def join(base: str, *parts: str) -> str:
    """`base` and relative `parts` joined with '/', for URLs and local paths alike."""
    out = str(base).rstrip("/")
    for p in parts:
        out += "/" + p.strip("/")
    return out


@dataclass(frozen=True)
class RemoteSettings:
    """How remote reads behave; from the environment (`from_env`) so that every worker process agrees."""

    timeout: float = 60.0  # seconds a request may wait for its connection or for its next byte
    retries: int = 5  # retries of one request after its first try (so 6 tries in all)
    backoff: float = 1.0  # first wait before a retry, doubled each time, capped at backoff_max
    backoff_max: float = 30.0
    chunk_bytes: int = 8 << 20  # what one streaming range request fetches

    @classmethod
    def from_env(cls) -> "RemoteSettings":
        def num(name: str, default: float, kind: Callable[[str], Any] = float) -> Any:
            raw = os.environ.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r}: not a number") from None
            if value < 0:
                raise ValueError(f"{name}={raw!r}: must not be negative")
            return value

        chunk_mb = num("TAMIZ_REMOTE_CHUNK_MB", 8.0)
        if chunk_mb <= 0:
            raise ValueError(f"TAMIZ_REMOTE_CHUNK_MB={chunk_mb}: must be positive")
        return cls(timeout=num("TAMIZ_REMOTE_TIMEOUT", 60.0), retries=num("TAMIZ_REMOTE_RETRIES", 5, int),
                   backoff=num("TAMIZ_REMOTE_BACKOFF", 1.0), chunk_bytes=max(1, int(chunk_mb * (1 << 20))))

    def wait(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based): exponential, capped, with jitter."""
        base = min(self.backoff_max, self.backoff * (2 ** (attempt - 1)))
        return base * (0.5 + random.random() / 2)


def s3_endpoint() -> str | None:
    return (os.environ.get("TAMIZ_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL") or None)


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


_FS_LOCK = threading.Lock()
_FS_CACHE: dict[tuple, Any] = {}


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem for a URL, set up with tamiz's timeouts, and the path to give it."""
    check_url(url)
    scheme = url_scheme(url)
    assert scheme is not None and scheme in SCHEMES, url
    protocol, package = SCHEMES[scheme]
    settings = RemoteSettings.from_env()
    if protocol == "s3":
        # credentials change the client: keyed by a digest of where they come from (never kept or logged)
        creds = hashlib.sha256("\0".join(os.environ.get(k, "") for k in (
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
            "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")).encode()).hexdigest()
        key = ("s3", s3_endpoint(), _truthy("TAMIZ_S3_ANON"), settings.timeout, creds)
    else:
        key = (protocol, settings.timeout)
    with _FS_LOCK:
        fs = _FS_CACHE.get(key)
        if fs is None:
            fs = _make_filesystem(protocol, package, settings)
            _FS_CACHE[key] = fs
    path = url if protocol in ("http", "https") else url.split("://", 1)[1]
    return fs, path


def _make_filesystem(protocol: str, package: str, settings: RemoteSettings) -> Any:
    try:
        import fsspec
    except ImportError:  # pragma: no cover - a dependency of tamiz
        raise RemoteError("fsspec is not installed: pip install fsspec") from None
    try:
        if protocol == "s3":
            import s3fs

            kwargs: dict[str, Any] = {
                "anon": _truthy("TAMIZ_S3_ANON"),
                # botocore's own retries stay low: tamiz retries whole requests itself (from the right offset)
                "config_kwargs": {"connect_timeout": settings.timeout, "read_timeout": settings.timeout,
                                  "retries": {"max_attempts": 2, "mode": "standard"}},
                "skip_instance_cache": True,
            }
            if s3_endpoint():
                kwargs["endpoint_url"] = s3_endpoint()
            return s3fs.S3FileSystem(**kwargs)
        if protocol == "gcs":
            import gcsfs  # noqa: F401

            return fsspec.filesystem("gcs", skip_instance_cache=True, requests_timeout=settings.timeout)
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, connect=settings.timeout, sock_connect=settings.timeout,
                                        sock_read=settings.timeout)
        return fsspec.filesystem(protocol, skip_instance_cache=True, client_kwargs={"timeout": timeout})
    except ImportError:
        raise RemoteError(f"{protocol}:// inputs need the package {package}: pip install {package}") from None


# ---------------------------------------------------------------------------------------------------------
# errors: which ones a retry can mend, and what the others mean

_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeoutException",
                    "InternalError", "ServiceUnavailable", "503", "500", "502", "504", "429",
                    "RequestLimitExceeded", "TooManyRequests"}


def _chain(e: BaseException) -> list[BaseException]:
    out, seen = [], set()
    while e is not None and id(e) not in seen:
        out.append(e)
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return out


class _ShortRead(OSError):
    """A response body ended before the bytes it promised."""


def classify(e: BaseException, url: str) -> tuple[bool, Exception]:
    """(transient, the error to raise if it is not): what a failed request means."""
    for x in _chain(e):
        name = type(x).__name__
        if name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"):
            return False, RemoteError(
                f"{url}: no credentials for S3. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), "
                "or TAMIZ_S3_ANON=1 to read a public bucket anonymously")
        if name == "DefaultCredentialsError":
            return False, RemoteError(f"{url}: no credentials for Google Cloud Storage. Set "
                                      "GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`")
        status = getattr(x, "status", None)
        if isinstance(status, int):
            if status == 429 or status >= 500:
                return True, x if isinstance(x, Exception) else RemoteError(str(x))
            if status == 404:
                return False, RemoteError(f"{url}: not found (HTTP 404)")
            if status in (401, 403):
                return False, RemoteError(f"{url}: access refused (HTTP {status}); check the credentials or the URL")
            if status == 416:
                return False, RemoteError(f"{url}: the server refused the byte range (HTTP 416); the file is shorter "
                                          "than expected")
            return False, RemoteError(f"{url}: HTTP {status} {getattr(x, 'message', '')}".rstrip())
        response = getattr(x, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            if code in _TRANSIENT_CODES:
                return True, x if isinstance(x, Exception) else RemoteError(str(x))
            if code in ("NoSuchBucket",):
                return False, RemoteError(f"{url}: the bucket does not exist")
            if code in ("NoSuchKey", "404"):
                return False, RemoteError(f"{url}: no such object")
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                return False, RemoteError(f"{url}: access refused ({code}); check the credentials, or set "
                                          "TAMIZ_S3_ANON=1 for a public bucket")
    if isinstance(e, RemoteError):
        return False, e
    if isinstance(e, FileNotFoundError) and e.__cause__ is not None and not isinstance(e.__cause__, FileNotFoundError):
        # fsspec's HTTP filesystem turns every failed HEAD into FileNotFoundError: what really happened is the cause
        transient, error = classify(e.__cause__, url)
        if transient or not isinstance(error, RemoteError) or "HTTP" in str(error) or "access" in str(error):
            return transient, error
    if isinstance(e, FileNotFoundError):
        text = str(e)
        what = "the bucket does not exist" if "bucket" in text.lower() else "not found"
        return False, RemoteError(f"{url}: {what}")
    if isinstance(e, PermissionError):
        return False, RemoteError(f"{url}: access refused ({e}); check the credentials, or set TAMIZ_S3_ANON=1 for "
                                  "a public bucket")
    if isinstance(e, ValueError) and not isinstance(e, UnicodeError):
        return False, RemoteError(f"{url}: {e}")
    if isinstance(e, (OSError, TimeoutError, ConnectionError, EOFError)):
        return True, e
    names = {type(x).__name__ for x in _chain(e)}
    if names & {"ClientPayloadError", "ClientConnectionError", "ServerDisconnectedError", "ClientOSError",
                "ServerTimeoutError", "TimeoutError", "ReadTimeoutError", "ConnectTimeoutError",
                "EndpointConnectionError", "ResponseStreamingError", "IncompleteReadError", "ConnectionClosedError",
                "ProtocolError", "ContentLengthError", "TransferEncodingError"}:
        return True, e if isinstance(e, Exception) else RemoteError(str(e))
    return False, RemoteError(f"{url}: {type(e).__name__}: {e}")


def describe(e: BaseException) -> str:
    """What went wrong, from the innermost error that says more than fsspec's blanket FileNotFoundError."""
    chain = _chain(e)
    useful = [x for x in chain if not (isinstance(x, FileNotFoundError) and x.__cause__ is not None)]
    x = useful[-1] if useful else e
    if type(x).__name__ in ("ClientConnectorError", "ClientConnectorDNSError", "EndpointConnectionError",
                            "ConnectionRefusedError", "gaierror"):
        return f"cannot connect ({type(x).__name__}: {x})"
    return f"{type(x).__name__}: {x}"


def with_retries(url: str, what: str, call: Callable[[], T], settings: RemoteSettings | None = None) -> T:
    """`call()`, retried with backoff on transient failures; RemoteError naming the URL otherwise."""
    settings = settings or RemoteSettings.from_env()
    attempt = 0
    while True:
        try:
            return call()
        except Exception as e:  # noqa: BLE001 - classified below
            transient, error = classify(e, url)
            if not transient:
                raise error from e
            attempt += 1
            if attempt > settings.retries:
                raise RemoteError(f"{url}: {what} failed {attempt} times, last: {describe(e)}") from e
            wait = settings.wait(attempt)
            log.warning("%s: %s failed (%s); retry %d of %d in %.1f s", url, what, describe(e), attempt,
                        settings.retries, wait)
            time.sleep(wait)


# ---------------------------------------------------------------------------------------------------------
# what a remote file is, and reading it


@dataclass(frozen=True)
class RemoteInfo:
    url: str
    size: int
    etag: str  # "" where the store gives none (then size and Last-Modified stand in)

    def identity(self) -> str:
        """sha256 of (URL, size, ETag): what a remote input's completion record is keyed by, in place of
        the sha256 of its bytes (which would cost a second full read)."""
        return hashlib.sha256(f"{self.url}\0{self.size}\0{self.etag}".encode()).hexdigest()


def _etag(info: dict[str, Any]) -> str:
    for k in ("ETag", "etag", "Etag", "md5Hash", "generation", "Last-Modified", "LastModified", "last_modified"):
        v = info.get(k)
        if v:
            return str(v).strip('"')
    return ""


def _head(fs: Any, path: str, url: str) -> RemoteInfo:
    """One HEAD request (fsspec's cached listing dropped first), as a RemoteInfo."""
    forget_cached(fs, path)
    info = fs.info(path)
    if info.get("type") == "directory":
        raise RemoteError(f"{url}: a folder (prefix), not a file")
    size = info.get("size")
    if size is None:
        raise RemoteError(f"{url}: the server gives no size (Content-Length) for it")
    return RemoteInfo(url, int(size), _etag(info))


def input_info(url: str) -> RemoteInfo:
    """Size and ETag of a remote file (one HEAD request, retried). RemoteError if it is missing or a folder."""
    fs, path = filesystem(url)
    return with_retries(url, "HEAD", lambda: _head(fs, path, url))


def _fetch(fs: Any, path: str, url: str, start: int, length: int, parts: list[bytes], eof_ok: bool) -> None:
    """Append to `parts` the bytes of [start + what `parts` holds, start + length): range requests until
    the range is whole, so a call after a failure asks only for the rest. At the end of the file: return
    (`eof_ok`) or raise a transient short read."""
    got = sum(len(p) for p in parts)
    while got < length:
        data = fs.cat_file(path, start=start + got, end=start + length)
        if len(data) > length - got:
            raise RemoteError(f"{url}: the server ignored the byte range request (sent {len(data)} bytes for "
                              f"{length - got}); tamiz needs range requests to stream")
        if not data:
            if eof_ok:
                return
            raise _ShortRead(f"no bytes at offset {start + got}")
        parts.append(data)
        got += len(data)


def read_range(url: str, start: int, length: int) -> bytes:
    """`length` bytes of a remote file from `start` (one range request, retried; a retry after part of the
    body arrived asks only for the rest). Fewer bytes only at the end of the file."""
    fs, path = filesystem(url)
    parts: list[bytes] = []
    with_retries(url, f"GET bytes {start}-{start + length - 1}",
                 lambda: _fetch(fs, path, url, start, length, parts, eof_ok=True))
    return b"".join(parts)


class RemoteFile(io.RawIOBase):
    """A remote file as a seekable binary stream: one chunk in memory, range requests, retries from the
    current offset, and an error if the object changes (ETag) while it is read."""

    def __init__(self, url: str, info: RemoteInfo | None = None, settings: RemoteSettings | None = None,
                 chunk_bytes: int | None = None):
        super().__init__()
        self.url = url
        self.settings = settings or RemoteSettings.from_env()
        self.fs_path = filesystem(url)
        self.info = info or input_info(url)
        self.size = self.info.size
        self.chunk_bytes = chunk_bytes or self.settings.chunk_bytes
        self._pos = 0
        self._buf = b""
        self._buf_start = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"whence {whence}")
        if pos < 0:
            raise ValueError(f"{self.url}: negative seek position {pos}")
        self._pos = pos
        return pos

    def _check_unchanged(self) -> None:
        now = _head(*self.fs_path, self.url)
        if (now.size, now.etag) != (self.info.size, self.info.etag):
            raise RemoteError(f"{self.url}: the object changed while it was read (size {self.info.size} -> "
                              f"{now.size}, ETag {self.info.etag!r} -> {now.etag!r}); run the build again")

    def _fill(self, want: int) -> None:
        start = self._pos
        length = min(max(want, self.chunk_bytes), self.size - start)
        parts: list[bytes] = []
        tries = 0

        def call() -> None:
            nonlocal tries
            tries += 1
            if tries > 1:  # a retry: the object must be the one we started reading
                self._check_unchanged()
            _fetch(*self.fs_path, self.url, start, length, parts, eof_ok=False)

        with_retries(self.url, f"GET from byte {start}", call, self.settings)
        self._buf = b"".join(parts)
        self._buf_start = start

    def readinto(self, b: Any) -> int:
        n = len(b)
        if n == 0 or self._pos >= self.size:
            return 0
        off = self._pos - self._buf_start
        if not (0 <= off < len(self._buf)):
            self._fill(n)
            off = 0
        chunk = self._buf[off:off + n]
        b[:len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def close(self) -> None:
        self._buf = b""
        super().close()


def open_input(path: str | Path, chunk_bytes: int | None = None) -> BinaryIO:
    """A binary stream of a local file or a remote one (RemoteFile, buffered)."""
    if is_url(str(path)):
        raw = RemoteFile(str(path), chunk_bytes=chunk_bytes)
        return io.BufferedReader(raw, buffer_size=1 << 16)  # type: ignore[return-value]
    return open(local_path(path), "rb")


def forget_cached(fs: Any, path: str) -> None:
    """Forget what fsspec cached of `path` (listings): the store changes under a build."""
    if hasattr(fs, "invalidate_cache"):
        fs.invalidate_cache(path)


def input_size(f: Any) -> int:
    """The size of a file `open_input` opened (a remote one knows it from its HEAD: no second request)."""
    raw = getattr(f, "raw", f)
    if isinstance(raw, RemoteFile):
        return raw.size
    return os.fstat(f.fileno()).st_size


def exists(url: str) -> bool:
    fs, path = filesystem(url)
    forget_cached(fs, path)
    return bool(with_retries(url, "HEAD", lambda: fs.exists(path)))


def is_folder(url: str) -> bool:
    """True for an s3:// or gs:// prefix with objects below it (or a URL ending in '/')."""
    scheme = url_scheme(url)
    if scheme in ("http", "https"):
        return url.endswith("/")
    fs, path = filesystem(url)
    forget_cached(fs, path)
    return bool(with_retries(url, "LIST", lambda: fs.isdir(path)))


def list_files(url: str) -> list[str]:
    """The files under an s3:// / gs:// prefix, or matching a glob (`*`, `?`), as sorted URLs."""
    scheme = url_scheme(url)
    if scheme in ("http", "https"):
        raise ValueError(f"{url}: an HTTP server cannot be listed; name the files, or give a Common Crawl "
                         "path list (a crawl source in the dataset table)")
    fs, path = filesystem(url)
    forget_cached(fs, path.split("*", 1)[0].rstrip("/"))
    prefix = url.split("://", 1)[0] + "://"
    if any(c in path for c in "*?["):
        found = with_retries(url, "LIST", lambda: fs.glob(path))
    else:
        found = with_retries(url, "LIST", lambda: fs.find(path))
    return sorted(prefix + p for p in found if not basename(p).startswith("."))
