"""Outputs on object storage (`--out s3://bucket/prefix`): a local working folder, published by manifest.

Object stores have no rename, so tamiz never lets a half-written stage look finished there:

- the build runs in a local **working folder** (`work_folder(url)`: `$TAMIZ_WORK_DIR/<name>`, by default
  `~/.cache/tamiz/work/<name>`), exactly as a local build does, with its atomic writes and completion
  records;
- before it starts, `pull` copies into the working folder what the store already holds (a build
  started on another machine, or whose working folder was lost), so finished stages and shards are
  recognised as done and skipped;
- after each stage (and when the build stops, finished or not), `push` publishes the stage folder:
  it first **unpublishes** (deletes the folder's `manifest.json` and `.stage-done.json` in the store),
  then uploads every file that differs (size and MD5/ETag), then the shards' completion records, then
  the manifest, then `.stage-done.json`. Readers of a stage in the store read only what its manifest
  names (`tamiz.pipeline.inputs`), so objects uploaded before the manifest are invisible until it
  arrives, and a kill at any point leaves either the old published stage, no published stage, or
  the new one: never a mix.

Each object is one PUT (s3fs streams the file from disk), visible whole or not at all. Dot files
(locks, temporary files) are never uploaded, except `.stage-done.json`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Any

from tamiz.core import remote

log = logging.getLogger(__name__)

PUBLISH_LAST = ("manifest.json", ".stage-done.json")


def is_remote(out: str | Path) -> bool:
    return remote.is_url(str(out))


def work_folder(url: str) -> Path:
    """The local working folder of a build whose output is `url` (one per URL)."""
    root = Path(os.environ.get("TAMIZ_WORK_DIR") or Path.home() / ".cache" / "tamiz" / "work")
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", url.split("://", 1)[-1].rstrip("/"))[-60:].strip("._") or "build"
    return root / f"{tail}-{hashlib.sha256(url.rstrip('/').encode()).hexdigest()[:12]}"


_MD5_SEEN: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> md5: a build pushes each stage,
#                                                   then everything: unchanged files are not read again


def _md5(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _MD5_SEEN:
        h = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _MD5_SEEN[key] = h.hexdigest()
    return _MD5_SEEN[key]


def _listing(url: str) -> dict[str, dict[str, Any]]:
    """Objects under `url` by relative key, with their size and ETag."""
    fs, path = remote.filesystem(url)
    path = path.rstrip("/")

    def call() -> dict[str, dict[str, Any]]:
        remote.forget_cached(fs, path)
        try:
            found = fs.find(path, detail=True)
        except FileNotFoundError:
            return {}
        return {k[len(path) + 1:]: v for k, v in found.items() if k.startswith(path + "/")}

    return remote.with_retries(url, "LIST", call)


def _same(local: Path, info: dict[str, Any]) -> bool:
    if not local.is_file() or local.stat().st_size != int(info.get("size") or -1):
        return False
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    return bool(etag) and "-" not in etag and etag == _md5(local)


def _publishable(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return not name.startswith(".") or name == ".stage-done.json"


def pull(url: str, local: str | Path) -> dict[str, int]:
    """Copy what the store holds under `url` into the local working folder (objects that differ only)."""
    local = Path(local)
    local.mkdir(parents=True, exist_ok=True)
    fs, base = remote.filesystem(url)
    base = base.rstrip("/")
    got = skipped = 0
    for rel, info in sorted(_listing(url).items()):
        if not _publishable(rel) or ".." in rel.split("/") or rel.startswith("/") or "\\" in rel or "\0" in rel:
            continue  # a key that would land outside the working folder is never written
        target = local / rel
        if _same(target, info):
            skipped += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-pull")
        remote.with_retries(f"{url.rstrip('/')}/{rel}", "GET", lambda: fs.get_file(f"{base}/{rel}", str(tmp)))
        os.replace(tmp, target)
        got += 1
    return {"downloaded": got, "unchanged": skipped}


def _order(rel: str) -> tuple[int, str]:
    name = rel.rsplit("/", 1)[-1]
    if name == ".stage-done.json":
        return (3, rel)
    if name == "manifest.json":
        return (2, rel)
    if "/_shards/" in f"/{rel}":
        return (1, rel)
    return (0, rel)


def push(local: str | Path, url: str, folder: str = "") -> dict[str, int]:
    """Publish the local `folder` (relative to the working folder; "" for all of it) to the store:
    unpublish its manifests first, upload what differs, manifests and stage records last; objects the
    local folder no longer has are deleted after the new manifest is in place."""
    local = Path(local)
    root = local / folder if folder else local
    if not root.exists():
        return {"uploaded": 0, "unchanged": 0, "deleted": 0}
    fs, base = remote.filesystem(url)
    base = base.rstrip("/")
    prefix = f"{folder.strip('/')}/" if folder else ""
    there = {k: v for k, v in _listing(url).items() if k.startswith(prefix)}
    files = sorted((p.relative_to(local).as_posix() for p in root.rglob("*") if p.is_file()), key=_order)
    files = [f for f in files if _publishable(f)]
    changed = [f for f in files if f not in there or not _same(local / f, there[f])]
    # unpublish: the manifest and stage record of every folder above a changed file go first
    above: set[str] = set()
    for f in changed:
        parts = f.split("/")[:-1]
        above.update("/".join(parts[:i]) for i in range(len(parts) + 1))
    for rel in sorted(there):
        name = rel.rsplit("/", 1)[-1]
        if name in PUBLISH_LAST and (rel.rsplit("/", 1)[0] if "/" in rel else "") in above:
            remote.with_retries(f"{url.rstrip('/')}/{rel}", "DELETE", lambda: fs.rm_file(f"{base}/{rel}"))
            if rel in files and rel not in changed:
                changed.append(rel)
    changed.sort(key=_order)
    for rel in changed:
        remote.with_retries(f"{url.rstrip('/')}/{rel}", "PUT", lambda: fs.put_file(str(local / rel), f"{base}/{rel}"))
    kept = set(files)
    gone = [rel for rel in there if _publishable(rel) and rel not in kept]
    for rel in gone:
        remote.with_retries(f"{url.rstrip('/')}/{rel}", "DELETE", lambda: fs.rm_file(f"{base}/{rel}"))
    return {"uploaded": len(changed), "unchanged": len(files) - len(changed), "deleted": len(gone)}
