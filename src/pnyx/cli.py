"""The ``pnyx`` command line: thin — parse, call the core, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

import pnyx
from pnyx.data import InputError
from pnyx.queries.executor import ExecutorError

app = typer.Typer(help="pnyx: proportional slates of statements from free-form opinions.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def fail(exc: Exception) -> None:
    """Print a clear error and exit non-zero."""
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


_EXECUTOR_HELP = "Where model calls run: local (this process) or ray (tasks on a Ray cluster; pip install 'pnyx[ray]')."
_RAY_HELP = "Address of the Ray cluster for --executor ray (host:port of the head; default: RAY_ADDRESS, else a local one)."


def _executor(name: str, address: str | None):
    """The executor named on the command line (InputError for an unknown one or an address without ray)."""
    from pnyx.queries.executor import get_executor

    if address and name != "ray":
        raise InputError("--ray-address needs --executor ray", field="--ray-address")
    return get_executor(name, address=address) if name == "ray" else get_executor(name)


@app.command()
def version() -> None:
    """Print pnyx's version."""
    print(pnyx.__version__)


@app.command()
def validate(
    path: Path = typer.Argument(..., help="A data file or folder (pnyx JSONL, Polis export, CSV, abcvoting YAML, PrefLib)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    fmt: Optional[str] = typer.Option(None, "--format", help="jsonl, polis, csv, abcvoting or preflib (default: from the path)."),
) -> None:
    """Read PATH, check it, and report what it holds."""
    from pnyx.io import load

    try:
        profile = load(path, format=fmt)
    except InputError as exc:
        fail(exc)
    summary = {**profile.summary(), "format": profile.info.get("format")}
    if as_json:
        print(json.dumps(summary))
        return
    console.print(f"[bold]{escape(str(path))}[/]: {summary['participants']} participants, {summary['statements']} statements, "
                  f"{summary['observed']} observed judgments ({summary['scale']}, {summary['format']})", soft_wrap=True)
    for reason, count in summary["excluded"].items():
        console.print(f"  excluded: {escape(reason)}: {count}", soft_wrap=True)


@app.command()
def run(
    data: Path = typer.Argument(..., help="A data file or folder (pnyx JSONL, Polis export, CSV, abcvoting YAML, PrefLib)."),
    k: int = typer.Option(..., "-k", "--k", min=1, help="Number of statements in the slate."),
    budget: Optional[int] = typer.Option(None, "--budget", min=1,
                                         help="Word budget for the whole slate (budgeted GSC, arXiv 2505.22939)."),
    backend: str = typer.Option("offline", "--backend", help="Discriminative backend: offline, cf, text, hybrid, llm."),
    generators: Optional[str] = typer.Option(None, "--generators",
                                             help="Generative backends, comma-separated (default: by data and LLM setup)."),
    rule: str = typer.Option("gsc", "--rule", help="gsc, gsc-budgeted, or a classical rule over a fixed pool (pav, equal-shares, ...)."),
    out: Path = typer.Option(Path("pnyx-out"), "--out", help="Folder for slate.json, assignment.csv, audit.json, report.html."),
    seed: int = typer.Option(0, "--seed", help="Seed for every random choice."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Model-call cache (default: OUT/cache.sqlite)."),
    fresh_candidates: bool = typer.Option(False, "--fresh-candidates", help="Choose only among each round's new candidates."),
    accuracy: bool = typer.Option(True, "--accuracy/--no-accuracy", help="Measure the backend's accuracy on this data."),
    executor: str = typer.Option("local", "--executor", help=_EXECUTOR_HELP),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help=_RAY_HELP),
) -> None:
    """Run the generative social choice process on DATA and write the slate, assignment, audit and report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pnyx.io import load
    from pnyx.process import ProcessError
    from pnyx.process import run as run_process
    from pnyx.queries import DISCRIMINATIVE, GENERATIVE, load_builtins
    from pnyx.queries.cache import Cache
    from pnyx.report import write_outputs
    from pnyx.rules import RULES

    try:
        profile = load(data)
        load_builtins()
        names = None if generators is None else [g.strip() for g in generators.split(",") if g.strip()]
        for kind, registry, asked in (("rule", RULES, [rule]), ("backend", DISCRIMINATIVE, [backend]),
                                      ("generator", GENERATIVE, names or [])):
            for name in asked:
                if name not in registry:
                    raise InputError(f"unknown {kind} {name!r}; known: {', '.join(sorted(registry))}", field=f"--{kind}")
        if not 1 <= k <= profile.n:
            raise InputError(f"-k must be between 1 and the number of participants ({profile.n}), got {k}", field="-k")
        where = _executor(executor, ray_address)
    except InputError as exc:
        fail(exc)
    with Progress(TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as bars:
        tasks: dict[str, int] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bars.add_task(phase, total=total)
            bars.update(tasks[phase], completed=done, total=total)

        try:
            result = run_process(profile, k, backend=backend, generators=names, rule=rule, budget=budget,
                                 keep_candidates=not fresh_candidates, seed=seed,
                                 cache=Cache(cache or out / "cache.sqlite"), executor=where,
                                 measure_accuracy=accuracy, progress=progress)
            progress("report", 0, 1)
            paths = write_outputs(result, out)
            progress("report", 1, 1)
        except (ProcessError, InputError, ValueError, ExecutorError) as exc:
            fail(exc)
    for s, (st, members) in enumerate(zip(result.result.statements, result.result.supporters), start=1):
        console.print(f"{s}. [dim]({len(members)} participants, {escape(st.id)})[/] {escape(st.text)}", highlight=False)
    bjr = "holds" if result.audit["bjr"]["satisfied"] else "violated"
    console.print(f"BJR {bjr} on the utilities used.", highlight=False)
    if "cbjr" in result.audit:
        c = result.audit["cbjr"]
        console.print(f"cBJR {'holds' if c['satisfied'] else 'violated'}; the slate uses {c['words']} of "
                      f"{c['budget']} words.", highlight=False)
    for name in ("slate.json", "assignment.csv", "audit.json"):
        console.print(f"{name.split('.')[0]}: {escape(str(paths[name]))}", highlight=False, soft_wrap=True)
    console.print(f"report: {escape(str(paths['report.html']))}", highlight=False, soft_wrap=True)


@app.command("evaluate-slate")
def evaluate_slate(
    data: Path = typer.Argument(..., help="Judgments of the slate's statements by (fresh) participants."),
    slate: Optional[str] = typer.Option(None, "--slate", help="Comma-separated statement ids (default: all statements in DATA)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Balanced assignment of DATA's participants to a slate: its total and the assigned ratings."""
    from pnyx.evaluate.slate import evaluate_slate as evaluate
    from pnyx.io import load

    try:
        result = evaluate(load(data), None if slate is None else [s.strip() for s in slate.split(",") if s.strip()])
    except InputError as exc:
        fail(exc)
    if as_json:
        print(json.dumps({"n": result.n, "total": result.total, "assigned_ratings": result.assigned_ratings,
                          "left_out": result.left_out}))
        return
    console.print(f"{result.n} participants judged every one of the {len(result.slate)} slate statements "
                  f"({result.left_out} left out)", highlight=False)
    console.print(f"total: {result.total:g}", highlight=False)
    counts = ", ".join(f"{level}: {result.assigned_ratings[level]}" for level in reversed(result.assigned_ratings))
    console.print(f"assigned ratings: {counts}", highlight=False)
    if result.scale == "rating":
        good = result.assigned_ratings["3"] + result.assigned_ratings["4"]
        console.print(f'{good} of {result.n} "mostly" or "perfectly"', highlight=False)
    else:
        console.print(f"{result.assigned_ratings['1']} of {result.n} agree with their assigned statement", highlight=False)



# -- predicted utilities: evaluate and predict (pnyx.queries, pnyx.evaluate.accuracy) ------------------
_BACKEND_HELP = "Discriminative backend: offline (default: the best no-network combination), cf, text, llm, hybrid."


_CACHE_HELP = "Model-call cache (SQLite; a killed run resumes from it without repeating calls)."


def _backend(name: str, cache: Path, executor: str = "local", ray_address: str | None = None):
    from pnyx.queries import get_discriminative
    from pnyx.queries.cache import Cache

    try:
        return get_discriminative(name, {"cache": Cache(cache), "executor": _executor(executor, ray_address)})
    except KeyError as exc:
        fail(InputError(exc.args[0], field="--backend"))


@app.command()
def evaluate(
    data: Path = typer.Argument(..., help="A data file or folder with observed judgments."),
    protocol: str = typer.Option("statement-held-out", "--protocol", help="statement-held-out or vote-held-out."),
    backend: str = typer.Option("offline", "--backend", help=_BACKEND_HELP),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the held-out predictions here (JSONL)."),
    frac: float = typer.Option(0.1, "--frac", min=0.0, max=1.0, help="vote-held-out: share of agree/disagree votes hidden."),
    seed: int = typer.Option(0, "--seed", help="vote-held-out: seed of the hidden votes."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    cache: Path = typer.Option(Path(".pnyx-cache/cache.sqlite"), "--cache", help=_CACHE_HELP),
    executor: str = typer.Option("local", "--executor", help=_EXECUTOR_HELP),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help=_RAY_HELP),
) -> None:
    """How right are a backend's predictions on DATA? Hide judgments, predict them, score against baselines."""
    from rich.progress import Progress
    from rich.table import Table

    from pnyx.evaluate.accuracy import statement_held_out, vote_held_out
    from pnyx.io import load

    if protocol not in ("statement-held-out", "vote-held-out"):
        fail(InputError(f"unknown protocol {protocol!r}; choose statement-held-out or vote-held-out", field="--protocol"))
    try:
        profile = load(data)
        model = _backend(backend, cache, executor, ray_address)
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task(f"{protocol} ({backend})", total=None)
            on_fold = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
            if protocol == "vote-held-out":
                report = vote_held_out(profile, model, frac=frac, seed=seed, progress=on_fold)
            else:
                report = statement_held_out(profile, model, progress=on_fold)
    except (ValueError, ExecutorError) as exc:  # InputError, data a backend cannot use, an executor's failure
        fail(exc)
    if out is not None:
        from pnyx.io import write_jsonl

        write_jsonl(report.predictions, out)
    if as_json:
        from pnyx.io import to_jsonable

        print(json.dumps(to_jsonable({"protocol": report.protocol, "backend": report.backend, "metrics": report.metrics,
                                      "baselines": report.baselines, "info": report.info})))
        return
    rows = {report.backend: report.metrics, **report.baselines}
    names = [k for k in report.metrics if k != "n"]
    table = Table(title=f"{protocol}: {report.metrics['n']} held-out judgments of {data.name}")
    table.add_column("predictor")
    for name in names:
        table.add_column(name, justify="right")
    for predictor, metrics in rows.items():
        table.add_row(predictor, *(f"{metrics[k]:.3f}" for k in names))
    console.print(table)
    if report.info.get("sample"):
        ci = ", ".join(f"{name} {lo:.3f}–{hi:.3f}" for name, (lo, hi) in report.info["ci95"].items())
        console.print(f"a sample of {report.metrics['n']} held-out judgments (seed {report.info['seed']}); "
                      f"95 % confidence interval: {ci}", highlight=False)
    if out is not None:
        console.print(f"predictions: {out}", highlight=False)


def _read_pairs(path: Path, profile) -> list[tuple[int, int]]:
    """(participant index, statement index) for each row of a ``participant,statement`` CSV."""
    from pnyx.io import csv_rows

    pidx = {pid: i for i, pid in enumerate(profile.participant_ids)}
    sidx = {sid: j for j, sid in enumerate(profile.statement_ids)}
    _, rows = csv_rows(path, ("participant", "statement"))
    pairs = []
    for line, row in rows:
        for field, index in (("participant", pidx), ("statement", sidx)):
            if row[field].strip() not in index:
                raise InputError(f"unknown {field} {row[field]!r} (not in the data)", path=str(path), line=line, field=field)
        pairs.append((pidx[row["participant"].strip()], sidx[row["statement"].strip()]))
    if not pairs:
        raise InputError("no pairs", path=str(path))
    return pairs


@app.command()
def predict(
    data: Path = typer.Argument(..., help="A data file or folder with observed judgments."),
    pairs: Path = typer.Option(..., "--pairs", help="CSV with columns participant,statement (the data's ids)."),
    backend: str = typer.Option("offline", "--backend", help=_BACKEND_HELP),
    out: Optional[Path] = typer.Option(None, "--out", help="Write predictions here (JSONL; default: standard output)."),
    cache: Path = typer.Option(Path(".pnyx-cache/cache.sqlite"), "--cache", help=_CACHE_HELP),
    executor: str = typer.Option("local", "--executor", help=_EXECUTOR_HELP),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help=_RAY_HELP),
) -> None:
    """Predict judgments for given participant,statement pairs, in the data's own scale (votes: −1 … 1)."""
    from pnyx.evaluate.accuracy import predict_pairs
    from pnyx.io import load

    try:
        profile = load(data)
        rows = predict_pairs(profile, _backend(backend, cache, executor, ray_address), _read_pairs(pairs, profile))
    except (ValueError, ExecutorError) as exc:  # InputError, data a backend cannot use, an executor's failure
        fail(exc)
    if out is None:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    from pnyx.io import write_jsonl

    write_jsonl(rows, out)
    console.print(f"{len(rows)} predictions ({rows[0]['backend']}): {out}", highlight=False)


if __name__ == "__main__":
    app()
