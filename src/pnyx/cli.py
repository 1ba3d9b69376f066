"""The ``pnyx`` command line: thin — parse, call the core, print."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

import pnyx
from pnyx.data import InputError

app = typer.Typer(help="pnyx: proportional slates of statements from free-form opinions.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def fail(exc: Exception) -> None:
    """Print a clear error and exit non-zero."""
    err.print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(code=2)


@app.command()
def version() -> None:
    """Print pnyx's version."""
    print(pnyx.__version__)


@app.command()
def validate(
    path: Path = typer.Argument(..., help="A data file or folder (pnyx JSONL, Polis export, CSV, abcvoting YAML, PrefLib)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Read PATH, check it, and report what it holds."""
    from pnyx.io import load

    try:
        profile = load(path)
    except InputError as exc:
        fail(exc)
    summary = profile.summary()
    if as_json:
        print(json.dumps(summary))
        return
    console.print(f"[bold]{path}[/]: {summary['participants']} participants, {summary['statements']} statements, "
                  f"{summary['observed']} observed judgments ({summary['scale']})")
    for reason, count in summary["excluded"].items():
        console.print(f"  excluded: {reason}: {count}")


if __name__ == "__main__":
    app()
