"""`--out s3://bucket/prefix` for `tamiz run`, scheduled builds and the single-stage commands: the build's
one copy is the store; this process and every worker keep their own mirror of it (core/mirror.py), and
this process publishes what it writes per stage and when the command ends, finished, failed or
interrupted."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from tamiz.core import mirror, objectstore, remote


def out_url(out: str | Path) -> str | None:
    """The store URL an `--out` names (typer's Path folds s3:// into s3:/), or None for a local folder."""
    text = remote.unfold(str(out)) if isinstance(out, Path) else str(out)
    return text if objectstore.is_remote(text) else None


def local_folder(out: str | Path) -> Path:
    """The folder a command or build writes into: `out` itself, or the working folder of a store URL
    (ValueError for a URL whose scheme tamiz cannot write, or whose filesystem is not installed)."""
    url = out_url(out)
    if url is None:
        return Path(out)
    remote.check_url(url)
    remote.filesystem(url)
    return objectstore.work_folder(url)


def _push(m: "mirror.Mirror", url: str, folder: str) -> None:
    from tamiz.flows.console import console

    done = m.upload_changes()
    where = f"{url.rstrip('/')}/{folder}" if folder else url
    console.print(f"published {where}: {done['uploaded']} file(s) uploaded by this process", highlight=False)


@contextlib.contextmanager
def stage_output(out: str | Path) -> Iterator[Path]:
    """For a single-stage command: the local folder it writes into (`out`, or a store URL's working
    folder, whose files are published as the command ends, whatever the outcome)."""
    with build_output(out) as (local, _):
        yield local


@contextlib.contextmanager
def build_output(out: str | Path) -> Iterator[tuple[Path, object]]:
    """For a whole build (`tamiz run`, scheduled builds): the local folder to build in, and the hook to
    give the plan (`plan.on_stage_done`, None for a local folder) that publishes each stage as it
    finishes.

    With a store URL the build's one copy is the store, and this process, like every worker, keeps its
    own mirror of it (core/mirror.py): nothing is downloaded up front; workers upload what they write as
    each task ends; this process uploads what it writes (layouts, cutoffs, the tokenizer, manifests)
    before the tasks that read it and as each stage ends, and everything left when the build stops,
    whatever the outcome."""
    from tamiz.flows.console import console, fail

    url = out_url(out)
    if url is None:
        yield Path(out), None
        return
    ctx = None
    try:
        local = local_folder(url)
        ctx = mirror.activated(url, local)
        m = ctx.__enter__()
        m.listing(local)  # the store answers (bucket, credentials) before any work starts
    except (ValueError, OSError) as e:
        if ctx is not None:
            ctx.__exit__(None, None, None)
        fail(f"--out {url}: {e}")
    console.print(f"output: {url} (this process's working folder {local})", highlight=False)
    try:
        yield local, (lambda stage: _push(m, url, stage))
    finally:
        try:
            _push(m, url, "")
        finally:
            ctx.__exit__(None, None, None)
