"""`--out s3://bucket/prefix` for the single-stage commands: the stage runs in a local working folder that
`tamiz.core.objectstore` pulls from the store first and publishes to it at the end (manifest last),
whether the command finished, failed or was interrupted. `tamiz run` does the same per stage
(flows/cmd_build.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from tamiz.core import objectstore, remote


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


def _pull(url: str) -> Path:
    """The working folder of `url`, with what the store already holds copied in; one line and exit 2
    when the store cannot be read (an unknown scheme, a missing bucket, no credentials)."""
    from tamiz.flows.console import console, fail

    try:
        local = local_folder(url)
        got = objectstore.pull(url, local)
    except (ValueError, OSError) as e:
        fail(f"--out {url}: {e}")
    console.print(f"output: {url} (working folder {local})", highlight=False)
    if got["downloaded"]:
        console.print(f"  {got['downloaded']} file(s) of an earlier run copied from {url}", highlight=False)
    return local


def _push(local: Path, url: str, folder: str) -> None:
    from tamiz.flows.console import console

    done = objectstore.push(local, url, folder)
    where = f"{url.rstrip('/')}/{folder}" if folder else url
    console.print(f"published {where}: {done['uploaded']} file(s) uploaded, {done['unchanged']} unchanged"
                  + (f", {done['deleted']} removed" if done["deleted"] else ""), highlight=False)


@contextlib.contextmanager
def stage_output(out: str | Path) -> Iterator[Path]:
    """For a single-stage command: the local folder it writes into (`out`, or a store URL's working
    folder, pulled first and published when the command ends, whatever the outcome)."""
    with build_output(out) as (local, _):
        yield local


@contextlib.contextmanager
def build_output(out: str | Path) -> Iterator[tuple[Path, object]]:
    """For a whole build (`tamiz run`, scheduled builds): the local folder to build in, and the hook to
    give the plan (`plan.on_stage_done`, None for a local folder) that publishes each stage as it
    finishes. The store's earlier state is pulled first; everything is published again at the end,
    whatever the outcome."""
    url = out_url(out)
    if url is None:
        yield Path(out), None
        return
    local = _pull(url)
    try:
        yield local, (lambda stage: _push(local, url, stage))
    finally:
        _push(local, url, "")
