"""A build on object storage that no two processes share a disk for: every process keeps its own mirror.

With `--out s3://bucket/build`, the build's one true copy is the store. The build's own process (the
parent) and every Dask worker each keep a **local mirror** of it: a working folder (`work_folder(url)`,
under each machine's own `TAMIZ_WORK_DIR`) holding only the files that process wrote or read. Nothing
assumes that a file another process wrote is on this disk:

- **a task on a worker** gets its arguments with the parent's working folder rewritten to the worker's
  own (`localize`). Before it runs, the files under the build that its arguments name are fetched from
  the store (`fetch_args`); files it reads by listing a folder (the dedup stages read every shard's
  signatures, keys and links) come through `glob` and `ensure`, which list and fetch from the store.
  After it succeeds, every file it wrote (core/atomic.py reports each one: `written`) is uploaded
  (`upload_changes`), the shard's completion record (`_shards/*.json`) last: a record in the store
  means its outputs are there. Processes that do share a disk (the local cluster's workers and the
  parent) each upload only what they wrote, so nothing goes up twice;
- **a shard finished before** is recognised from the store: `done_in_store` reads its record there and
  checks that every output it names is there with its size, without downloading any;
- **the parent** writes only what is its own (the layout of dedup, the filter's cutoffs, the
  tokenizer, each stage's manifest and report) and uploads it before the tasks that read it are
  submitted, and when a stage ends (`upload_changes`, manifests last). A stage is unpublished
  (`unpublish`: its `manifest.json` and `.stage-done.json` deleted in the store) before its tasks
  start, so a reader never sees an old manifest beside new objects (core/objectstore.py has the rule).

Without an active mirror (a local `--out`) every function here does nothing, and the build reads and
writes its folder as it always did.

A file is known to equal its object when this process last fetched or uploaded it with the object's
present size and ETag and has not changed it since; otherwise by size and MD5 (single-part ETags), else
it is fetched again. The objects of one build are written once per content (shards are named by their
input's sha256 and their config), so that check runs at most once per file and process.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from tamiz.core import atomic, remote

_ACTIVE: "Mirror | None" = None
_OPENED: dict[str, "Mirror"] = {}  # a worker's mirror of each build it ran tasks of, kept between tasks


@dataclass(frozen=True)
class MirrorSpec:
    """What a worker needs to open its own mirror of a build: the store URL, and the parent's working folder
    (to rewrite the paths in a task's arguments). Small, and safe to send to a worker."""

    url: str
    origin: str

    @contextlib.contextmanager
    def opened(self) -> Iterator["Mirror"]:
        """This process's mirror of the build, active while the block runs."""
        from tamiz.core.objectstore import work_folder

        global _ACTIVE
        before = _ACTIVE
        if before is not None and before.url == self.url:
            yield before  # the parent itself (a task run in process), or a worker's mirror already open
            return
        m = _OPENED.get(self.url)
        if m is None or m.root != Path(os.path.abspath(work_folder(self.url))):
            m = _OPENED[self.url] = Mirror(self.url, work_folder(self.url))
        _ACTIVE = m
        try:
            yield m
        finally:
            _ACTIVE = before


def active() -> "Mirror | None":
    return _ACTIVE


def _on_written(path: Path) -> None:
    if _ACTIVE is not None:
        _ACTIVE.written(path)


atomic.WRITTEN_HOOKS.append(_on_written)


@contextlib.contextmanager
def activated(url: str, root: str | Path) -> Iterator["Mirror"]:
    """The parent's mirror: `root` (the working folder of `url`) mirrors the build at `url`."""
    global _ACTIVE
    before = _ACTIVE
    _ACTIVE = Mirror(url, Path(root))
    try:
        yield _ACTIVE
    finally:
        _ACTIVE = before


# ------------------------------------------------------------------ what the rest of tamiz calls

def ensure(path: str | Path) -> None:
    """Make sure the build file `path` is on this disk as the store holds it (nothing without a mirror, or
    for a path outside the build)."""
    if _ACTIVE is not None:
        _ACTIVE.fetch(Path(path))


def glob(folder: str | Path, pattern: str) -> list[Path]:
    """The files matching `pattern` in `folder` (not below it), sorted; with a mirror, those the store holds
    there, fetched to this disk (the files other processes wrote are not here otherwise)."""
    folder = Path(folder)
    if _ACTIVE is None or _ACTIVE.rel(folder) is None:
        return sorted(p for p in folder.glob(pattern) if p.is_file())
    return _ACTIVE.fetch_folder(folder, pattern)


def names(folder: str | Path, pattern: str) -> list[Path]:
    """Like `glob`, without fetching: the paths, for a parent that hands them to tasks (which fetch them)."""
    folder = Path(folder)
    if _ACTIVE is None or _ACTIVE.rel(folder) is None:
        return sorted(p for p in folder.glob(pattern) if p.is_file())
    return sorted(folder / name for name in _ACTIVE.listing(folder) if fnmatch.fnmatchcase(name, pattern))


def unpublish(folder: str | Path) -> None:
    """Before a stage writes `folder`: its manifest and stage record leave the store."""
    if _ACTIVE is not None:
        _ACTIVE.unpublish(Path(folder))


def upload_changes() -> None:
    """What this process wrote since its last upload goes to the store (manifests last)."""
    if _ACTIVE is not None:
        _ACTIVE.upload_changes()


def spec() -> MirrorSpec | None:
    """What a task needs to open its own mirror on a worker; None without one."""
    return None if _ACTIVE is None else MirrorSpec(_ACTIVE.url, str(_ACTIVE.root))


# --------------------------------------------------------------------------------- the mirror

def _upload_order(rel: str) -> tuple[int, str]:
    name = rel.rsplit("/", 1)[-1]
    if name == ".stage-done.json":
        return (3, rel)
    if name == "manifest.json":
        return (2, rel)
    if "/_shards/" in f"/{rel}":
        return (1, rel)
    return (0, rel)


class Mirror:
    """One process's local copy of part of a build on object storage (see the module docstring)."""

    def __init__(self, url: str, root: Path):
        self.url = url.rstrip("/")
        self.root = Path(os.path.abspath(root))
        self.root.mkdir(parents=True, exist_ok=True)
        self.fs, base = remote.filesystem(self.url)
        self.base = base.rstrip("/")
        # rel -> (size, etag) of the object this process last fetched or uploaded, and the local file's
        # (size, mtime_ns) just after: both unchanged means the local file is the object
        self._synced: dict[str, tuple[tuple[int, str], tuple[int, int]]] = {}
        self._written: dict[str, None] = {}  # files written here since the last upload, in order
        self._listings: dict[str, dict[str, dict[str, Any]]] = {}  # folder -> its objects, for `identity`

    # ---- names
    def rel(self, path: str | Path) -> str | None:
        """`path` relative to the mirror's root (POSIX), or None when it lies outside the build."""
        p = os.path.abspath(path)
        r = os.path.relpath(p, self.root)
        if r == os.curdir:
            return ""
        if r == os.pardir or r.startswith(os.pardir + os.sep):
            return None
        return Path(r).as_posix()

    def _key(self, rel: str) -> str:
        return f"{self.base}/{rel}" if rel else self.base

    def _url(self, rel: str) -> str:
        return f"{self.url}/{rel}" if rel else self.url

    def localize(self, value: Any, origin: str) -> Any:
        """`value` (a task's arguments: paths, strings, lists, tuples, dicts) with the parent's working folder
        `origin` replaced by this mirror's root."""
        origin = origin.rstrip("/")
        if origin == str(self.root):
            return value

        def swap(text: str) -> str:
            if text == origin or text.startswith(origin + "/"):
                return str(self.root) + text[len(origin):]
            return text

        return _walk(value, swap)

    def globalize(self, value: Any, origin: str) -> Any:
        """The inverse of `localize`, for what a task returns."""
        origin = origin.rstrip("/")
        root = str(self.root)
        if origin == root:
            return value

        def swap(text: str) -> str:
            if text == root or text.startswith(root + "/"):
                return origin + text[len(root):]
            return text

        return _walk(value, swap)

    def call(self, fn: Any, origin: str) -> Any:
        """`fn` as a task runs it here: its arguments localized and their files fetched, its outputs
        uploaded when it succeeds (the completion record last), its result in the parent's paths."""

        def run(*args: Any) -> Any:
            args = self.localize(args, origin)
            self.fetch_args(args)
            result = fn(*args)
            self.upload_changes()
            return self.globalize(result, origin)

        return run

    # ---- reading
    def _info(self, rel: str) -> dict[str, Any] | None:
        key = self._key(rel)

        def call() -> dict[str, Any] | None:
            remote.forget_cached(self.fs, key)
            try:
                info = self.fs.info(key)
            except FileNotFoundError:
                return None
            return info if info.get("type", "file") == "file" else None

        return remote.with_retries(self._url(rel), "HEAD", call)

    def listing(self, folder: Path) -> dict[str, dict[str, Any]]:
        """The objects directly in `folder` (a path under the root), by file name, with size and ETag."""
        rel = self.rel(folder)
        key = self._key(rel or "")

        def call() -> dict[str, dict[str, Any]]:
            remote.forget_cached(self.fs, key)
            try:
                found = self.fs.ls(key, detail=True)
            except FileNotFoundError:
                return {}
            out = {}
            for info in found:
                if info.get("type") != "file":
                    continue
                name = str(info["name"]).rstrip("/").rsplit("/", 1)[-1]
                if name and not name.startswith("."):
                    out[name] = info
            return out

        return remote.with_retries(self._url(rel or ""), "LIST", call)

    def tree(self, folder: Path) -> list[tuple[str, int]]:
        """Every object below `folder` (dot files aside, `.stage-done.json` too) as (path relative to
        `folder`, size), sorted."""
        rel = self.rel(folder) or ""
        key = self._key(rel)

        def call() -> list[tuple[str, int]]:
            remote.forget_cached(self.fs, key)
            try:
                found = self.fs.find(key, detail=True)
            except FileNotFoundError:
                return []
            out = []
            for name, info in found.items():
                sub = str(name)[len(key) + 1:]
                if str(name).startswith(key + "/") and not sub.rsplit("/", 1)[-1].startswith("."):
                    out.append((sub, _size(info)))
            return sorted(out)

        return remote.with_retries(self._url(rel), "LIST", call)

    def identity(self, path: Path) -> str | None:
        """A build file's identity in the store: the sha256 of its path, size and ETag (as a remote input's,
        core/remote.py), from one listing of its folder per stage; None when the store does not hold it."""
        import hashlib

        rel = self.rel(path)
        if rel is None:
            return None
        folder = Path(path).parent
        listing = self._listings.get(str(folder))
        if listing is None or Path(path).name not in listing:
            listing = self._listings[str(folder)] = self.listing(folder)
        info = listing.get(Path(path).name)
        if info is None:
            return None
        ident = f"{rel}\0{_size(info)}\0{remote._etag(info)}"
        return hashlib.sha256(ident.encode()).hexdigest()

    def _same(self, rel: str, local: Path, info: dict[str, Any]) -> bool:
        if not local.is_file():
            return False
        st = local.stat()
        obj = (_size(info), remote._etag(info))
        if self._synced.get(rel) == (obj, (st.st_size, st.st_mtime_ns)):
            return True
        from tamiz.core.objectstore import _same as same_by_md5

        if same_by_md5(local, info):
            self._synced[rel] = (obj, (st.st_size, st.st_mtime_ns))
            return True
        return False

    def fetch(self, path: Path, info: dict[str, Any] | None = None) -> bool:
        """Fetch the build file `path` from the store unless this disk has it as stored. Returns whether
        the store holds it (a path outside the build: whether it exists here)."""
        rel = self.rel(path)
        if rel is None or rel == "":
            return Path(path).exists()
        info = info if info is not None else self._info(rel)
        if info is None:
            return False
        local = self.root / rel
        if self._same(rel, local, info):
            return True
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.tmp-mirror")
        remote.with_retries(self._url(rel), "GET", lambda: self.fs.get_file(self._key(rel), str(tmp)))
        os.replace(tmp, local)
        st = local.stat()
        self._synced[rel] = ((_size(info), remote._etag(info)), (st.st_size, st.st_mtime_ns))
        return True

    def fetch_folder(self, folder: Path, pattern: str) -> list[Path]:
        got = []
        for name, info in sorted(self.listing(folder).items()):
            if fnmatch.fnmatchcase(name, pattern):
                self.fetch(folder / name, info)
                got.append(folder / name)
        return got

    def fetch_args(self, value: Any) -> None:
        """Fetch every file under the build that a task's arguments name and the store holds (folders and
        files the task will write are not objects, and are left alone)."""
        seen: set[str] = set()

        def visit(text: str) -> str:
            rel = self.rel(text) if text.startswith("/") else None
            if rel and rel not in seen:
                seen.add(rel)
                self.fetch(Path(text))
            return text

        _walk(value, visit)

    def done_in_store(self, record_path: Path) -> bool:
        """Fetch a shard's completion record from the store when every output it names is there with its
        size (the outputs stay in the store: a later task that reads one fetches it). False when the store
        has no record, or misses an output."""
        import json

        if not self.fetch(record_path):
            return False
        try:
            rec = json.loads(Path(record_path).read_text(encoding="utf-8"))
            folder = self.rel(Path(record_path).parent.parent)
            for out in rec.get("outputs", []):
                info = self._info(f"{folder}/{out['path']}" if folder else out["path"])
                if info is None or _size(info) != out["bytes"]:
                    return False
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return True

    # ---- writing
    def written(self, path: Path) -> None:
        """Called by core/atomic for every file it puts in place in this process: one under the build is
        uploaded by the next `upload_changes`."""
        rel = self.rel(path)
        if not rel:
            return
        name = rel.rsplit("/", 1)[-1]
        if not name.startswith(".") or name == ".stage-done.json":  # locks and temporaries stay here
            self._written[rel] = None

    def upload_changes(self) -> dict[str, int]:
        """Upload every file this process wrote under the build since the last upload (completion records,
        then manifests, then stage records last). Files other processes wrote on the same disk are theirs
        to upload; files this process deleted stay in the store, where only a manifest names what counts."""
        n = 0
        for rel in sorted(self._written, key=_upload_order):
            local = self.root / rel
            if local.is_file():  # else written, then removed again (a stage's stale file)
                st = local.stat()
                remote.with_retries(self._url(rel), "PUT", lambda: self.fs.put_file(str(local), self._key(rel)))
                info = self._info(rel)
                if info is not None:
                    self._synced[rel] = ((_size(info), remote._etag(info)), (st.st_size, st.st_mtime_ns))
                n += 1
            del self._written[rel]  # only once it is up: an upload that fails leaves the rest for the next one
        return {"uploaded": n}

    def unpublish(self, folder: Path) -> None:
        rel = self.rel(folder)
        if rel is None:
            return
        for name in ("manifest.json", ".stage-done.json"):
            key_rel = f"{rel}/{name}" if rel else name

            def rm(key_rel: str = key_rel) -> None:
                try:
                    self.fs.rm_file(self._key(key_rel))
                except FileNotFoundError:
                    pass

            remote.with_retries(self._url(key_rel), "DELETE", rm)


def _size(info: dict[str, Any]) -> int:
    """An object's size from its listing entry (0 is a size: an empty quarantine file is an output)."""
    size = info.get("size", info.get("Size"))
    return -1 if size is None else int(size)


def _walk(value: Any, fn) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, Path):
        return type(value)(fn(str(value)))
    if isinstance(value, tuple):
        return tuple(_walk(v, fn) for v in value)
    if isinstance(value, list):
        return [_walk(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, fn) for k, v in value.items()}
    return value
