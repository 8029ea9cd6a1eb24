"""Shared console helpers: the summary table and clear one-line errors for the CLI."""

from __future__ import annotations

import os
import sys
from typing import Iterable, Sequence

import typer
from rich.console import Console
from rich.table import Table

def _width(stream) -> int | None:
    """A terminal's own width; 200 columns elsewhere (a pipe, a log file, CI), where rich would assume 80
    and cut the tables' headers ("tokeniz…"). COLUMNS, when set, wins."""
    if os.environ.get("COLUMNS") or stream.isatty():
        return None
    return 200


console = Console(stderr=False, width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    t = Table(title=title, title_justify="left", show_lines=False)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in r])
    console.print(t)


def warn(message: str) -> None:
    """Print `message` as a warning on stderr, in full (never cut to the terminal's width)."""
    err_console.print(f"[bold yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> "typer.Exit":
    """Print `message` as an error and exit with `code` (2: bad usage/input, 1: the run failed)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
