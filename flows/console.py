"""Shared console helpers: the summary table and clear one-line errors for the CLI."""

from __future__ import annotations

from typing import Iterable, Sequence

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=False)
err_console = Console(stderr=True)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    t = Table(title=title, title_justify="left", show_lines=False)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in r])
    console.print(t)


def fail(message: str, code: int = 2) -> "typer.Exit":
    """Print `message` as an error and exit with `code` (2: bad usage/input, 1: the run failed)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
