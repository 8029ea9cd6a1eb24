"""Outputs on object storage (`--out s3://bucket/prefix`): where each process's working folder is, and
`pull`, which copies a published build into a local folder.

Object stores have no rename, so tamiz never lets a half-written stage look finished there. The build
itself runs through `tamiz.core.mirror`: every process (the build's own and each Dask worker) keeps
its own local working folder (`work_folder(url)`: `$TAMIZ_WORK_DIR/<name>`, by default
`~/.cache/tamiz/work/<name>`) and uploads what it writes, completion records, then manifests, then
`.stage-done.json` last, after the stage was unpublished (its manifest deleted). Readers of a stage in
the store read only what its manifest names (`tamiz.pipeline.inputs`), so objects uploaded before the
manifest are invisible until it arrives, and a kill at any point leaves either the old published
stage, no published stage, or the new one: never a mix.

Each object is one PUT (s3fs streams the file from disk), visible whole or not at all. Dot files
(locks, temporary files) are never uploaded, except `.stage-done.json`.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from tamiz.core import remote


def is_remote(out: str | Path) -> bool:
    return remote.is_url(str(out))


def work_folder(url: str) -> Path:
    """The local working folder of a build whose output is `url` (one per URL)."""
    root = Path(os.environ.get("TAMIZ_WORK_DIR") or Path.home() / ".cache" / "tamiz" / "work")
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", url.split("://", 1)[-1].rstrip("/"))[-60:].strip("._") or "build"
    return root / f"{tail}-{hashlib.sha256(url.rstrip('/').encode()).hexdigest()[:12]}"


_MD5_SEEN: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> md5: a file is read once per process


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
