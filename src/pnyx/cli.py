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

app = typer.Typer(help="pnyx: proportional slates of statements from free-form opinions.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def fail(exc: Exception) -> None:
    """Print a clear error and exit non-zero."""
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


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
                                 cache=Cache(cache or out / "cache.sqlite"), measure_accuracy=accuracy,
                                 progress=progress)
            progress("report", 0, 1)
            paths = write_outputs(result, out)
            progress("report", 1, 1)
        except (ProcessError, InputError, ValueError) as exc:
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


def _backend(name: str, cache: Path):
    from pnyx.queries import get_discriminative
    from pnyx.queries.cache import Cache

    try:
        return get_discriminative(name, {"cache": Cache(cache)})
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
        model = _backend(backend, cache)
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task(f"{protocol} ({backend})", total=None)
            on_fold = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
            if protocol == "vote-held-out":
                report = vote_held_out(profile, model, frac=frac, seed=seed, progress=on_fold)
            else:
                report = statement_held_out(profile, model, progress=on_fold)
    except ValueError as exc:  # InputError, or data a backend cannot work with (e.g. no judgments)
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
) -> None:
    """Predict judgments for given participant,statement pairs, in the data's own scale (votes: −1 … 1)."""
    from pnyx.evaluate.accuracy import predict_pairs
    from pnyx.io import load

    try:
        profile = load(data)
        rows = predict_pairs(profile, _backend(backend, cache), _read_pairs(pairs, profile))
    except ValueError as exc:  # InputError, or data a backend cannot work with (e.g. no judgments)
        fail(exc)
    if out is None:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    from pnyx.io import write_jsonl

    write_jsonl(rows, out)
    console.print(f"{len(rows)} predictions ({rows[0]['backend']}): {out}", highlight=False)


# -- live consultations: serve, export, delete-participant (pnyx.serve) --------------------------------
_DB_HELP = "Database: a SQLite file (default pnyx.db, created) or postgresql://user@host/name."


def _serve_db(db: str):
    try:
        from pnyx.serve.db import Database
    except ImportError as exc:  # the web stack is the optional extra "serve"
        fail(InputError(f"pnyx serve needs its extra: pip install 'pnyx[serve]' ({exc})"))
    try:
        return Database(db)
    except InputError as exc:
        fail(exc)
    except Exception as exc:  # noqa: BLE001 - an unreachable server or unreadable file: one line, not a traceback
        fail(InputError(f"cannot open the database: {type(exc).__name__}: {str(exc).splitlines()[0]}", field="--db"))


@app.command()
def serve(
    db: str = typer.Option("pnyx.db", "--db", help=_DB_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    new_admin_link: bool = typer.Option(False, "--new-admin-link", help="Replace the organiser secret and print the new link."),
) -> None:
    """Run live consultations in the browser; prints the organiser's link on first start."""
    import uvicorn

    from pnyx.serve.app import create_app
    from pnyx.serve.service import has_admin_secret, set_admin_secret

    database = _serve_db(db)
    with database.write() as s:
        secret = set_admin_secret(s) if new_admin_link or not has_admin_secret(s) else None
    database.dispose()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if secret:
        print(f"organiser link (shown once; keep it secret): http://{shown}:{port}/a/{secret}", flush=True)
    else:
        print("organiser link: printed at first start (`pnyx serve --new-admin-link` makes a new one)", flush=True)
    print(f"serving on http://{shown}:{port}/ (database {database.url.split('@')[-1]})", flush=True)
    uvicorn.run(create_app(db), host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)


@app.command("export")
def export_consultation(
    db: str = typer.Argument(..., help=_DB_HELP),
    consultation: int = typer.Argument(..., help="Consultation id (as on the organiser's page)."),
    out: Path = typer.Argument(..., help="Folder for polis/, jsonl/ and runs/."),
) -> None:
    """Export a consultation: Polis CSVs, pnyx JSONL, and every run's four outputs (participants by number)."""
    from pnyx.serve import service

    database = _serve_db(db)
    try:
        with database.read() as s:
            paths = service.export(s, service.get_consultation(s, consultation), out)
    except InputError as exc:
        fail(exc)
    for name, path in paths.items():
        console.print(f"{name}: {escape(str(path))}", highlight=False, soft_wrap=True)


@app.command("delete-participant")
def delete_participant(
    db: str = typer.Argument(..., help=_DB_HELP),
    consultation: int = typer.Argument(..., help="Consultation id."),
    participant: int = typer.Argument(..., help="The participant's number (as in exports)."),
) -> None:
    """Delete a participant and everything they contributed (their statements, judgments, flags, sessions)."""
    from pnyx.serve import service

    database = _serve_db(db)
    try:
        with database.write() as s:
            counts = service.delete_participant(s, service.get_consultation(s, consultation), participant)
    except InputError as exc:
        fail(exc)
    console.print(f"deleted participant {participant}: " + ", ".join(f"{v} {k}" for k, v in counts.items()),
                  highlight=False)


if __name__ == "__main__":
    app()
