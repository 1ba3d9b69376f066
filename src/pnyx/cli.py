"""The ``pnyx`` command line: thin — parse, call the core, print."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np
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


_DATA_HELP = "A data file or folder (pnyx JSONL, Polis export, Global Dialogues export, CSV, abcvoting YAML, PrefLib)."
_QUESTION_HELP = "Global Dialogues: the question (its id, a unique prefix, or its number; `pnyx validate` lists them)."
_FORMAT_HELP = "jsonl, polis, global-dialogues, csv, abcvoting or preflib (default: from the path)."


@app.command()
def validate(
    path: Path = typer.Argument(..., help=_DATA_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FORMAT_HELP),
    question: Optional[str] = typer.Option(None, "--question", help=_QUESTION_HELP),
) -> None:
    """Read PATH, check it, and report what it holds (for a Global Dialogues export: its questions)."""
    from pnyx.io import detect_format, load
    from pnyx.io.global_dialogues import questions

    try:
        if question is None and (fmt or detect_format(path)) == "global-dialogues":
            listed = questions(path)
            if len(listed) > 1:
                return _print_questions(path, listed, as_json)
        profile = load(path, format=fmt, question=question)
    except InputError as exc:
        fail(exc)
    summary = {**profile.summary(), "format": profile.info.get("format")}
    if as_json:
        print(json.dumps(summary))
        return
    pairs = f", {summary['pairwise']} pairwise comparisons" if summary["pairwise"] else ""
    console.print(f"[bold]{escape(str(path))}[/]: {summary['participants']} participants, {summary['statements']} statements, "
                  f"{summary['observed']} observed judgments{pairs} ({summary['scale']}, {summary['format']})", soft_wrap=True)
    if profile.info.get("question"):
        console.print(f"  question {escape(profile.info['question'])}: {escape(profile.info['question_text'])}", soft_wrap=True)
    for reason, count in summary["excluded"].items():
        console.print(f"  excluded: {escape(reason)}: {count}", soft_wrap=True)


def _print_questions(path: Path, listed, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"format": "global-dialogues", "questions": [vars(q) for q in listed]}))
        return
    console.print(f"[bold]{escape(str(path))}[/]: Global Dialogues export, {len(listed)} questions "
                  "(read one with --question ID):", soft_wrap=True)
    for q in listed:
        number = f" (no. {q.number})" if q.number else ""
        console.print(f"  {q.id}{number}: {q.thoughts} thoughts, {q.votes} votes, {q.comparisons} comparisons — "
                      f"{escape(q.text)}", soft_wrap=True, highlight=False)


@app.command()
def run(
    data: Path = typer.Argument(..., help=_DATA_HELP),
    k: Optional[int] = typer.Option(None, "-k", "--k",
                                    help="Number of statements in the slate (with --budget: at most; default: as many as it buys)."),
    budget: Optional[int] = typer.Option(None, "--budget",
                                         help="Word budget for the whole slate (budgeted GSC, arXiv 2505.22939)."),
    backend: str = typer.Option("offline", "--backend",
                                help="Discriminative backend: offline, cf, text, similarity, hybrid, llm."),
    generators: Optional[str] = typer.Option(None, "--generators",
                                             help="Generative backends, comma-separated (default: by data and LLM setup)."),
    rule: str = typer.Option("gsc", "--rule", help="gsc, gsc-budgeted, or a classical rule over a fixed pool (pav, equal-shares, ...)."),
    out: Path = typer.Option(Path("pnyx-out"), "--out", help="Folder for slate.json, assignment.csv, audit.json, report.html."),
    seed: int = typer.Option(0, "--seed", help="Seed for every random choice (0 … 2³²−1)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Model-call cache (default: OUT/cache.sqlite)."),
    fresh_candidates: bool = typer.Option(False, "--fresh-candidates", help="Choose only among each round's new candidates."),
    accuracy: bool = typer.Option(True, "--accuracy/--no-accuracy", help="Measure the backend's accuracy on this data."),
    tie_tolerance: float = typer.Option(0.0, "--tie-tolerance", min=0.0, max=4.0,
                                        help="Scores within this of the best are near-ties (guarantee: ε-BJR)."),
    tiebreak: str = typer.Option("least-served", "--tiebreak",
                                 help="least-served (default), distinctive, seen-first (round 1: the statement "
                                      "most people judged, then least-served), or lowest (order of entry)."),
    distinct: bool = typer.Option(False, "--distinct", help="Choose every statement at most once (no extra seats)."),
    exclude_statements: Optional[str] = typer.Option(None, "--exclude-statements",
                                                     help="Statement ids that never compete: a comma-separated list or a file."),
    exclude_participants: Optional[str] = typer.Option(None, "--exclude-participants",
                                                       help="Participant ids to leave out (e.g. ids-to-toss.csv): a list or a file."),
    include_meta: bool = typer.Option(False, "--include-meta", help="Let meta statements (Polis is-meta) compete."),
    min_support: Optional[int] = typer.Option(None, "--min-support", min=0,
                                              help="Observed approvals a data statement needs to compete (default ⌈⌈n/k⌉/10⌉; 0: off)."),
    silent_authors: bool = typer.Option(False, "--count-silent-participants",
                                        help="Count participants with no judgment (e.g. authors who never voted)."),
    question: Optional[str] = typer.Option(None, "--question", help=_QUESTION_HELP),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FORMAT_HELP),
    queries: Optional[str] = typer.Option(None, "--queries", help="adaptive (the query planner) or exhaustive "
                                          "(every pair); default: adaptive for the llm backend, exhaustive otherwise."),
    query_budget: Optional[int] = typer.Option(None, "--query-budget", min=0,
                                               help="Adaptive queries: at most this many backend queries in all."),
    executor: str = typer.Option("local", "--executor", help=_EXECUTOR_HELP),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help=_RAY_HELP),
    bias_paraphrases: int = typer.Option(0, "--bias-paraphrases", min=0,
                                         help="--backend llm: audit its bias under N wordings of the rating prompt "
                                         "(2..5; N × 48 model calls at most; default 0: off)."),
) -> None:
    """Run the generative social choice process on DATA and write the slate, assignment, audit and report."""
    try:  # every option checked before the heavy imports and the data; --out held and --cache opened before any work
        _apart_from_data(out, data)
        names, options = _run_setup(k=k, budget=budget, backend=backend, generators=generators, rule=rule, out=out,
                                    seed=seed, cache=cache, keep_candidates=not fresh_candidates, seats=not distinct,
                                    tolerance=tie_tolerance, tiebreak=tiebreak)
    except InputError as exc:
        fail(exc)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from pnyx.io import load, read_ids
    from pnyx.pipeline import run as run_pipeline
    from pnyx.process import PoolPolicy, ProcessError
    from pnyx.report import write_outputs

    try:
        profile = _utilities_from_pairwise(load(data, format=fmt, question=question))
        k = _slate_size(k, budget, profile)
        options = replace(options, policy=PoolPolicy(
            exclude=frozenset(read_ids(exclude_statements, profile.statement_ids, what="statement",
                                       option="--exclude-statements") if exclude_statements else ()),
            include_meta=include_meta, min_support=min_support))
        excluded_ids = (read_ids(exclude_participants, profile.participant_ids, what="participant",
                                 option="--exclude-participants") if exclude_participants else [])
        accuracy = accuracy and _unmeasurable(profile, "vote-held-out" if profile.scale == "vote" else "") is None
        opened_cache = _hold_out(out, cache)
        if queries not in (None, "adaptive", "exhaustive"):
            raise InputError(f"unknown --queries {queries!r}; known: adaptive, exhaustive", field="--queries")
        where = _executor(executor, ray_address)
    except InputError as exc:
        fail(exc)
    with Progress(TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err, transient=True) as bars:
        tasks: dict[str, int] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bars.add_task(phase, total=total)
            bars.update(tasks[phase], completed=done, total=total)

        try:
            result = run_pipeline(profile, k, backend=backend, generators=names, options=options,
                                  exclude_participants=excluded_ids, silent_authors=silent_authors, cache=opened_cache,
                                  executor=where, measure_accuracy=accuracy, progress=progress,
                                  queries=queries, query_budget=query_budget, bias_paraphrases=bias_paraphrases)
            progress("report", 0, 1)
            paths = write_outputs(result, out)
            progress("report", 1, 1)
        except (ProcessError, InputError, ValueError, ExecutorError) as exc:
            fail(exc)
    audit, res = result.audit, result.result
    for s, j in enumerate(res.distinct, start=1):
        st = res.profile.statements[j]
        seats = [t for t, c in enumerate(res.slate) if c == j]
        extra = f", {len(seats)} seats" if len(seats) > 1 else ""
        members = int(np.isin(result.matching, seats).sum())
        console.print(f"{s}. [dim]({members} participants{extra}, {escape(st.id)})[/] {escape(st.text)}", highlight=False)
    for caveat in audit.caveats:
        console.print(f"[yellow]note:[/] {escape(caveat)}", highlight=False, soft_wrap=True)
    console.print(f"On the utilities used: {audit.bjr.sentence(res.profile.n / len(res.slate))}", highlight=False,
                  soft_wrap=True)
    if audit.queries:
        q = audit.queries
        console.print(f"adaptive queries: {q['calls']} of the {q['exhaustive_calls']} an exhaustive run makes; "
                      f"{q['settled_rounds']} of {len(q['rounds'])} rounds settled.", highlight=False)
    if audit.cbjr is not None:
        c = audit.cbjr
        console.print(f"cBJR {'holds' if c.satisfied else 'violated'}; the slate uses {c.params['words']} of "
                      f"{c.params['budget']} words.", highlight=False)
    for name in ("slate.json", "assignment.csv", "audit.json"):
        console.print(f"{name.split('.')[0]}: {escape(str(paths[name]))}", highlight=False, soft_wrap=True)
    console.print(f"report: {escape(str(paths['report.html']))}", highlight=False, soft_wrap=True)


@app.command("evaluate-slate")
def evaluate_slate(
    data: Path = typer.Argument(..., help="Judgments of the slate's statements by (fresh) participants."),
    slate: Optional[str] = typer.Option(None, "--slate", help="Comma-separated statement ids, or a slate.json written by "
                                        "`pnyx run` (default: all statements in DATA)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    question: Optional[str] = typer.Option(None, "--question", help=_QUESTION_HELP),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FORMAT_HELP),
) -> None:
    """Balanced assignment of DATA's participants to a slate: its total and the assigned ratings."""
    from pnyx.evaluate.slate import evaluate_slate as evaluate
    from pnyx.io import load

    try:
        result = evaluate(load(data, format=fmt, question=question), _slate_ids(slate))
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


def _backend(name: str, cache: Path, seed: int = 0, executor: str = "local", ray_address: str | None = None):
    """The backend ``name`` over the cache file ``cache``; unknown names, a missing offline model, a bad
    cache and an executor that cannot start are :class:`InputError` s, found before any work."""
    from pnyx.queries import DISCRIMINATIVE, get_discriminative

    DISCRIMINATIVE.check(name)
    _check_model([name], [])
    return get_discriminative(name, {"cache": _open_cache(cache), "seed": seed,
                                     "executor": _executor(executor, ray_address)})


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
    question: Optional[str] = typer.Option(None, "--question", help=_QUESTION_HELP),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FORMAT_HELP),
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
        _check_seed(seed)
        _check_out_file(out)
        model = _backend(backend, cache, seed, executor, ray_address)
        profile = load(data, format=fmt, question=question)
        if (why := _unmeasurable(profile, protocol)) is not None:
            raise InputError(why, path=str(data))
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
    question: Optional[str] = typer.Option(None, "--question", help=_QUESTION_HELP),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FORMAT_HELP),
    executor: str = typer.Option("local", "--executor", help=_EXECUTOR_HELP),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help=_RAY_HELP),
) -> None:
    """Predict judgments for given participant,statement pairs, in the data's own scale (votes: −1 … 1)."""
    from pnyx.evaluate.accuracy import predict_pairs
    from pnyx.io import load

    try:
        _check_out_file(out)
        model = _backend(backend, cache, 0, executor, ray_address)
        profile = load(data, format=fmt, question=question)
        rows = predict_pairs(profile, model, _read_pairs(pairs, profile))
    except (ValueError, ExecutorError) as exc:  # InputError, data a backend cannot use, an executor's failure
        fail(exc)
    if out is None:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    from pnyx.io import write_jsonl

    write_jsonl(rows, out)
    console.print(f"{len(rows)} predictions ({rows[0]['backend']}): {out}", highlight=False)


# -- the wider toolbox (pnyx.methods) --------------------------------------------------------------


@app.command()
def compare(
    table: Path = typer.Argument(..., help="CSV: one row per system (name first), one column per task, higher is better."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="CSV with columns task,weight (unlisted tasks weigh 1)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object keyed by rule id."),
) -> None:
    """Rank systems over tasks by Borda, Dowdall, Copeland, Minimax, plurality and Kemeny (Vote'n'Rank)."""
    from pnyx.io.leaderboard import read_leaderboard, read_weights
    from pnyx.methods.ranking import rank_systems

    try:
        systems, tasks, scores = read_leaderboard(table)
        w = read_weights(weights, tasks) if weights is not None else None
        result = rank_systems(scores, systems, w)
    except (InputError, OSError) as exc:
        fail(exc)
    if as_json:
        print(json.dumps({rule: r.to_dict() for rule, r in result.items()}))
        return
    for rule, r in result.items():
        extra = f" (Kemeny distance {r.info['distance']:g}, {r.info['status']})" if rule == "kemeny" else ""
        console.print(f"[bold]{rule:<9}[/] {escape(', '.join(r.winners))}{extra}", highlight=False, soft_wrap=True)


@app.command()
def explain(
    data: Path = typer.Argument(..., help="The data the slate was chosen on."),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FORMAT_HELP),
    slate: Path = typer.Option(..., "--slate", help="slate.json written by pnyx run."),
    statement: str = typer.Option(..., "--statement", help="Id of a slate statement that is in DATA."),
    by: str = typer.Option("groups", "--by",
                           help="groups (Polis group-id; EM groups if none), participants, or owen (participants within groups)."),
    permutations: int = typer.Option(200, "--permutations", min=2, help="Permutations when exact values are too costly."),
    seed: int = typer.Option(0, "--seed", help="Seed for EM groups and permutation sampling."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Shapley attribution of a slate statement's support to participants or groups."""
    from pnyx.io import load
    from pnyx.io._common import parse_json, read_text
    from pnyx.methods.extras import explain_slate_statement

    try:
        profile = load(data, format=fmt)
        chosen = parse_json(read_text(slate), path=slate, field="--slate")
        out = explain_slate_statement(profile, chosen, statement, by=by, permutations=permutations, seed=seed)
    except InputError as exc:
        fail(exc)
    if as_json:
        print(json.dumps(out))
        return
    console.print(f"[bold]{escape(out['statement']['text'])}[/] ({out['method']}, {out['evaluations']} coalitions; "
                  f"v(all) = {out['v_all']:.3g})", highlight=False, soft_wrap=True)
    order = sorted(range(len(out["players"])), key=lambda q: -out["values"][q])
    for q in order[:20]:
        se = f" ± {out['stderr'][q]:.2g}" if "stderr" in out else ""
        console.print(f"  {escape(out['players'][q]):<12} {out['values'][q]:9.3f}{se}", highlight=False)


# -- options checked before any work: pnyx run and the commands that write ---------------------------
# (kept apart from the commands' bodies; each raises InputError, which the commands print in one line)
SEED_MAX = 2**32 - 1
_SQLITE_MAGIC = b"SQLite format 3\x00"
_OFFLINE_FREE = {"llm"}  # backends and generators that never load the offline embedding model


def _check_seed(seed: int) -> None:
    if not 0 <= seed <= SEED_MAX:
        raise InputError(f"--seed must be between 0 and {SEED_MAX}, got {seed}", field="--seed")


def _check_model(backends: list[str], generators: list[str]) -> None:
    """One line naming the install command when an offline part is needed and the model is missing."""
    from pnyx.queries.embed import ModelMissingError, model_missing

    if set(backends) | set(generators) - _OFFLINE_FREE and (why := model_missing()):
        raise ModelMissingError(why)


def _writable(folder: Path, flag: str) -> None:
    """``folder`` (or, if it does not exist yet, its nearest existing ancestor) is a folder we can write into."""
    import tempfile

    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise InputError("is a file, not a folder", path=str(probe), field=flag)
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise InputError(f"cannot write here ({exc.strerror or exc})", path=str(probe), field=flag) from None


def _check_out_file(out: Optional[Path]) -> None:
    """``evaluate`` / ``predict --out``: a file path, not a folder, in a writable place."""
    if out is None:
        return
    if out.is_dir():
        raise InputError("is a folder; --out names a file (JSONL)", path=str(out), field="--out")
    _writable(out.parent, "--out")


def _check_cache(path: Path) -> None:
    """``--cache`` names an SQLite file, or a file that can be created."""
    if path.is_dir():
        raise InputError("is a folder; --cache names an SQLite file", path=str(path), field="--cache")
    if path.is_file():
        try:
            with open(path, "rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise InputError(f"cannot read the cache ({exc.strerror or exc})", path=str(path), field="--cache") from None
        if head and head != _SQLITE_MAGIC:
            raise InputError("not an SQLite file (pnyx's model-call cache); name another --cache or remove this one",
                             path=str(path), field="--cache")
    else:
        _writable(path.parent, "--cache")


def _open_cache(path: Path):
    """The model-call cache at ``path``: an SQLite file (created if missing), or a clear error."""
    import sqlite3

    from pnyx.queries.cache import Cache

    _check_cache(path)
    try:
        return Cache(path)
    except (sqlite3.Error, OSError) as exc:
        raise InputError(f"cannot open the cache ({exc})", path=str(path), field="--cache") from None


def _apart_from_data(out: Path, data: Path) -> None:
    """Refuse an ``--out`` that is the data's own folder: the outputs would replace input files (a JSONL
    folder's ``slate.json``) or be read back as input by the next run."""
    folder = data if data.is_dir() else data.parent
    if out.resolve() == folder.resolve():
        raise InputError("is the data's folder: the outputs (slate.json, assignment.csv, …) would overwrite or "
                         "join its input files; choose another folder", path=str(out), field="--out")


def _hold_out(out: Path, cache: Optional[Path]):
    """Hold ``--out`` for this run (released when the command ends: a second run into it is refused) and
    open the cache (default ``OUT/cache.sqlite``)."""
    import contextlib

    import click

    from pnyx.report import output_lock

    stack = contextlib.ExitStack()
    stack.enter_context(output_lock(out))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(stack.close)
    return _open_cache(cache or out / "cache.sqlite")


_FLAGS = {"budget": "--budget", "tiebreak": "--tiebreak"}
"""The ``pnyx run`` flag of the :class:`pnyx.process.ProcessOptions` fields whose errors it reports (``--tie-tolerance``
is refused out of its range by the option itself)."""


def _run_setup(*, k: Optional[int], budget: Optional[int], backend: str, generators: Optional[str], rule: str, out: Path,
               seed: int, cache: Optional[Path], keep_candidates: bool, seats: bool, tolerance: float, tiebreak: str):
    """``pnyx run``'s options, checked in order of cost (the paths before the imports that the names need),
    nothing created; returns the generator names (None: by data) and the process options (the data's
    pool policy still to come)."""
    _check_seed(seed)
    if k is None and budget is None:
        raise InputError("give -k (the number of statements) or --budget WORDS", field="-k")
    if k is not None and k < 1:
        raise InputError(f"-k must be at least 1, got {k}", field="-k")
    names = None if generators is None else [g.strip() for g in generators.split(",") if g.strip()]
    if names == []:
        raise InputError("--generators names no generator", field="--generators")
    if out.exists() and not out.is_dir():
        raise InputError("is a file; --out names a folder", path=str(out), field="--out")
    _writable(out, "--out")
    _check_cache(cache or out / "cache.sqlite")

    from pnyx.process import ProcessOptions

    try:
        options = ProcessOptions(rule=rule, budget=budget, keep_candidates=keep_candidates, seats=seats,
                                 tolerance=tolerance, tiebreak=tiebreak, seed=seed)
    except InputError as exc:  # named by its flag; an unknown rule keeps the registry's field, 'rule'
        if exc.field not in _FLAGS:
            raise
        raise InputError(exc.reason, field=_FLAGS[exc.field]) from None
    from pnyx.queries import DISCRIMINATIVE, GENERATIVE

    DISCRIMINATIVE.check(backend)
    for name in names or []:
        GENERATIVE.check(name)
    _check_model([backend], names if names is not None else ["extractive"])
    return names, options


def _slate_size(k: Optional[int], budget: Optional[int], profile) -> int:
    """-k checked against the data; with --budget and no -k, as many statements as the budget buys
    (the budget over the cheapest data statement's words, at most n and the number of statements)."""
    if k is None:
        cheapest = min((s.cost for s in profile.statements if s.cost > 0), default=1)
        k = max(1, min(profile.n, profile.m or profile.n, budget // cheapest))
    if k > profile.n:
        raise InputError(f"-k must be between 1 and the number of participants ({profile.n}), got {k}", field="-k")
    return k


def _utilities_from_pairwise(profile):
    """Data with pairwise comparisons and no other judgments: utilities from the Bradley–Terry conversion."""
    if len(profile.pairwise) and not profile.observed.any():
        from pnyx.pairwise import with_pairwise_utilities

        return with_pairwise_utilities(profile)
    return profile


def _unmeasurable(profile, protocol: str) -> Optional[str]:
    """Why a held-out accuracy cannot be measured on ``profile`` (None if it can)."""
    import numpy as np

    if not profile.observed.any():
        return "no observed judgments to hold out (accuracy needs ratings or votes)"
    if protocol == "vote-held-out" and profile.scale == "vote" and not (profile.utilities[profile.observed] != 2).any():
        return "vote-held-out needs agree or disagree votes; this data has only passes"
    return None if np.isfinite(profile.utilities[profile.observed]).all() else "observed judgments without a value"


def _slate_ids(slate: Optional[str]) -> Optional[list[str]]:
    """``--slate``: comma-separated ids, or a ``slate.json`` (its statements' ids)."""
    if slate is None:
        return None
    path = Path(slate)
    if slate.lower().endswith(".json") or path.is_file():
        from pnyx.io._common import parse_json, read_text

        doc = parse_json(read_text(path), path=slate, field="--slate")
        items = doc.get("statements") if isinstance(doc, dict) else None
        if not isinstance(items, list) or not all(isinstance(s, dict) and "id" in s for s in items):
            raise InputError("expected a slate.json: an object whose 'statements' list has an 'id' for each",
                             path=slate, field="statements")
        return [str(s["id"]) for s in items]
    return [s.strip() for s in slate.split(",") if s.strip()]
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
    new_admin_link: bool = typer.Option(False, "--new-admin-link", help="Replace the organiser secret, end every organiser session and print the new link."),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Worker processes serving requests (jobs run in the parent process)."),
    chooser: str = typer.Option("planner", "--chooser",
                                help="What participants rate next: planner (the query planner), least-rated or random."),
    per_participant: Optional[int] = typer.Option(None, "--per-participant", min=1,
                                                  help="At most this many judgments asked of each participant."),
    executor: str = typer.Option("local", "--executor", help=_EXECUTOR_HELP),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help=_RAY_HELP),
) -> None:
    """Run live consultations in the browser; prints the organiser's link on first start."""
    import uvicorn

    from pnyx.serve.app import WORKER_OPTIONS, create_app
    from pnyx.serve.chooser import CHOOSERS
    from pnyx.serve.jobs import JobRunner
    from pnyx.serve.service import has_admin_secret, server_key, set_admin_secret

    try:
        CHOOSERS.check(chooser)
        where = _executor(executor, ray_address)
    except (InputError, ExecutorError) as exc:
        fail(exc)
    database = _serve_db(db)
    with database.write() as s:
        server_key(s)  # made here, before any worker process needs it
        secret = set_admin_secret(s) if new_admin_link or not has_admin_secret(s) else None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if secret:
        print(f"organiser link (shown once; keep it secret): http://{shown}:{port}/a/{secret}", flush=True)
    else:
        print("organiser link: printed at first start (`pnyx serve --new-admin-link` makes a new one)", flush=True)
    print(f"serving on http://{shown}:{port}/ (database {database.url.split('@')[-1]}"
          f"{f', {workers} worker processes' if workers > 1 else ''})", flush=True)
    options = {"host": host, "port": port, "log_level": "warning", "timeout_graceful_shutdown": 2}
    if workers == 1:
        database.dispose()
        uvicorn.run(create_app(db, chooser=chooser, per_participant=per_participant, executor=where), **options)
        return
    runner = JobRunner(database, executor=where)  # the one job runner, in this (the parent) process
    runner.start()
    os.environ[WORKER_OPTIONS] = json.dumps({"db": db, "chooser": chooser, "per_participant": per_participant})
    try:
        uvicorn.run("pnyx.serve.app:worker_app", factory=True, workers=workers,  # a worker starting on a busy
                    timeout_worker_healthcheck=30, **options)  # machine may take more than uvicorn's 5 s
    finally:
        runner.stop()
        database.dispose()


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
# -- adaptive queries for people: the judgments a rating round should collect (pnyx.planner) ----------------
@app.command()
def plan(
    data: Path = typer.Argument(..., help="A data file or folder (the judgments collected so far)."),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FORMAT_HELP),
    k: int = typer.Option(..., "-k", "--k", min=1, help="Number of statements in the slate to be chosen."),
    per_participant: int = typer.Option(20, "--per-participant", min=1,
                                        help="Judgments per participant in all (those already in DATA count)."),
    out: Path = typer.Option(..., "--out", help="CSV of participant,statement pairs to collect (the data's ids)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the cheap predictor (cf)."),
) -> None:
    """The (participant, statement) pairs a rating round should collect, most useful first per participant."""
    import csv

    from pnyx.io import load
    from pnyx.planner import plan_ratings

    try:
        profile = load(data, format=fmt)
        if k > profile.n:
            raise InputError(f"-k must be at most the number of participants ({profile.n}), got {k}", field="-k")
        if not profile.observed.any():
            raise InputError("no judgments in the data: the planner needs some to predict from", path=str(data))
        pairs = plan_ratings(profile, k, per_participant, seed=seed)
    except ValueError as exc:
        fail(exc)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["participant", "statement", "priority"])
        last, rank = None, 0
        for i, j in pairs:
            rank = rank + 1 if i == last else 1
            last = i
            writer.writerow([profile.participant_ids[i], profile.statement_ids[j], rank])
    rows = len(pairs)
    console.print(f"{rows} judgments to collect from {profile.n} participants: {escape(str(out))}", highlight=False)


if __name__ == "__main__":
    app()
