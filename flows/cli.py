"""The `tamiz` command line. Thin: each command validates its options, runs a flow and prints a summary.

Commands live in `flows/cmd_*.py`; each module defines `register(app)`.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

import tamiz.flows  # noqa: F401  (sets Prefect's local-run defaults before anything imports prefect)

app = typer.Typer(
    name="tamiz",
    help=(
        "tamiz (Spanish for 'sieve') turns web crawls (WARC) and curated sources (books, reference\n"
        "text) into training data for small Spanish language models: extract, keep Spanish, filter,\n"
        "deduplicate, mix by the weights of a dataset table, train a tokenizer, write packed Arrow\n"
        "shards and pretrain a model.\n\n"
        "The data commands (run, ingest, filter, dedup, mix, shard, serve) run Prefect flows whose tasks\n"
        "run on a local Dask cluster of worker processes (or an existing one with --dask-address); the\n"
        "tokenizer and model commands (tokenizer, train, predict, generate, score, export, report) are\n"
        "plain programs. Every command ends with a summary table; Ctrl-C stops it and a rerun resumes."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("tamiz")
        except PackageNotFoundError:  # run from a source tree that was never installed
            v = "unknown (not installed)"
        typer.echo(f"tamiz {v}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print tamiz's version and exit."),
) -> None:
    """(Keeps typer in multi-command mode.)"""


# Each module registers its commands on `app`; keep this list in pipeline order.
COMMAND_MODULES = [
    "tamiz.flows.cmd_ingest",
    "tamiz.flows.cmd_filter",
    "tamiz.flows.cmd_dedup",
    "tamiz.flows.cmd_mix",
    "tamiz.flows.cmd_tokenizer",
    "tamiz.flows.cmd_train",
    "tamiz.flows.cmd_finetune",
    "tamiz.flows.cmd_build",
    "tamiz.flows.cmd_ablate",
]


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register()
    from tamiz.flows import interrupt
    from tamiz.core.lock import FolderLocked

    interrupt.install()  # Ctrl-C: one line, exit 130 within seconds, workers and server stopped

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except FolderLocked as e:  # any command writing into a folder another build is writing into
        from tamiz.flows.console import err_console

        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
