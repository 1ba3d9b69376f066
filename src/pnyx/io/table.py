"""Generic CSV (UTF-8, first row = column names): a single file, or a folder of up to three files.

* opinions — ``participant_id,text[,question]``: one free-text answer per row. With a ``question``
  column answers are keyed by it (one per participant and question); without, they are numbered
  ``1, 2, …`` per participant. Blank texts are left out and counted as ``empty answers``.
* judgments — ``participant_id,statement_id,rating`` (a number from 0 to 4) or
  ``participant_id,statement_id,vote`` (−1, 0, 1), one per participant and statement; optional
  columns ``statement`` (the statement's text) and ``explanation``.
* statements — ``statement_id,text[,author]``.
* pairwise — ``participant_id,preferred,other`` (or All Our Ideas' vote export), see
  :mod:`pnyx.io.pairwise`: kept in ``Profile.pairwise``.

A single file is told apart by its header (``statement_id`` → judgments, ``preferred,other`` →
pairwise, ``text`` → opinions). A folder holds ``opinions.csv``, ``judgments.csv`` and/or
``pairwise.csv``, and optionally ``statements.csv``; then
opinions.csv lists the participants and statements.csv the statements, and judgments naming anyone
or anything else are errors. Otherwise participants and statements come in order of first
appearance, and a statement whose text is given nowhere takes its id as text (counted in
``info["statements_without_text"]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from pnyx.data import InputError, Judgment, Participant, Profile, Scale, Statement
from pnyx.io._common import csv_rows, natural_key, parse_judgment, require
from pnyx.io.pairwise import PAIRWISE, Comparisons, is_pairwise, read_comparisons

OPINIONS, JUDGMENTS, STATEMENTS = "opinions.csv", "judgments.csv", "statements.csv"
Rows = Iterator[tuple[int, dict[str, str]]]


def read_csv(path: str | Path) -> Profile:
    """Read an opinions, judgments or pairwise CSV file, or a folder of them (see the module docstring)."""
    path = Path(path)
    answers: dict[str, dict[str, str]] | None = None
    statements: dict[str, Statement] | None = None
    comparisons: Comparisons | None = None
    empty = 0
    judgments_file = None
    if path.is_dir():
        files = [path / name for name in (OPINIONS, JUDGMENTS, STATEMENTS, PAIRWISE)]
        if not files[0].is_file() and not files[1].is_file() and not files[3].is_file():
            raise InputError(f"folder has none of {OPINIONS}, {JUDGMENTS} or {PAIRWISE}", path=str(path))
        if files[0].is_file():
            answers, empty = _opinions(files[0], *csv_rows(files[0], ["participant_id", "text"]))
        if files[2].is_file():
            statements = _statements(files[2], csv_rows(files[2], ["statement_id", "text"])[1])
        if files[3].is_file():
            comparisons = read_comparisons(files[3], *csv_rows(files[3], []), statements=statements and set(statements),
                                           participants=answers and set(answers))
        judgments_file = files[1] if files[1].is_file() else None
    else:
        columns, rows = csv_rows(path, [])
        if is_pairwise(columns):
            comparisons = read_comparisons(path, columns, rows)
        elif "participant_id" not in columns:
            raise InputError("missing column (an opinions file has participant_id,text[,question]; a judgments file "
                             "participant_id,statement_id,rating (or vote); a pairwise file participant_id,preferred,other)",
                             path=str(path), line=1, field="participant_id")
        elif "statement_id" in columns:
            judgments_file = path
        elif "text" in columns:
            answers, empty = _opinions(path, columns, rows)
        else:
            raise InputError("missing columns: an opinions file has participant_id,text[,question]; a judgments file has "
                             "participant_id,statement_id,rating (or vote)", path=str(path), line=1)

    scale: Scale = "rating"
    judgments: list[Judgment] = []
    texts: dict[str, str] = {}
    if judgments_file is not None:
        scale, judgments, texts = _judgments(judgments_file, answers, statements)
    pairs = comparisons.rows if comparisons is not None else []
    if comparisons is not None:
        texts = {**comparisons.texts, **texts}
    active = dict.fromkeys([*(j.participant for j in judgments), *(p for p, _, _ in pairs)])
    # participants in the order of their ids, answers in the order of the question ids: the profile, and so
    # the slate, do not depend on the order of the file's rows
    participant_ids = dict.fromkeys(sorted((pid for pid in [*(answers or {}), *active] if pid in active or (answers or {}).get(pid)),
                                           key=natural_key))
    silent = len(answers or {}) - sum(1 for pid in (answers or {}) if pid in participant_ids)
    if not participant_ids:
        raise InputError("no participant with an answer, a judgment or a comparison", path=str(path))
    info: dict[str, Any] = {"format": "csv", "statements_without_text": 0}
    if comparisons is not None:
        info["pairwise_layout"] = comparisons.layout
    if statements is None:
        order = dict.fromkeys([*(j.statement for j in judgments), *(s for _, a, b in pairs for s in (a, b))])
        statements = {sid: Statement(sid, texts.get(sid, sid)) for sid in order}
        info["statements_without_text"] = len(order.keys() - texts.keys())
    pidx = {pid: i for i, pid in enumerate(participant_ids)}
    sidx = {sid: j for j, sid in enumerate(statements)}
    excluded = {k: v for k, v in (("empty answers", empty), ("participants with no answers and no judgments", silent)) if v}
    excluded.update(comparisons.excluded if comparisons is not None else {})
    return Profile.from_judgments(
        [Participant(pid, dict(sorted((answers or {}).get(pid, {}).items(), key=lambda qa: natural_key(qa[0]))))
         for pid in participant_ids], list(statements.values()), judgments,
        scale, excluded=excluded, source=str(path), info=info,
        pairwise=np.array([(pidx[p], sidx[a], sidx[b]) for p, a, b in pairs], dtype=np.int64).reshape(-1, 3),
    )


def _opinions(path: Path, columns: list[str], rows: Rows) -> tuple[dict[str, dict[str, str]], int]:
    answers: dict[str, dict[str, str]] = {}
    first_line: dict[tuple[str, str], int] = {}
    rows_of: dict[str, int] = {}
    empty = 0
    for line, row in rows:
        pid = require(row["participant_id"], path=path, line=line, field="participant_id")
        mine = answers.setdefault(pid, {})
        rows_of[pid] = rows_of.get(pid, 0) + 1
        question = (require(row["question"], path=path, line=line, field="question") if "question" in columns
                    else str(rows_of[pid]))
        if (pid, question) in first_line:
            raise InputError(f"participant {pid!r} answers question {question!r} twice (first on line {first_line[pid, question]})",
                             path=str(path), line=line, field="question")
        first_line[pid, question] = line
        if row["text"].strip():
            mine[question] = row["text"]
        else:
            empty += 1
    if not answers:
        raise InputError("no rows", path=str(path))
    return answers, empty


def _statements(path: Path, rows: Rows) -> dict[str, Statement]:
    statements: dict[str, Statement] = {}
    first_line: dict[str, int] = {}
    for line, row in rows:
        sid = require(row["statement_id"], path=path, line=line, field="statement_id")
        if sid in statements:
            raise InputError(f"duplicate statement id {sid!r} (first on line {first_line[sid]})", path=str(path), line=line,
                             field="statement_id")
        first_line[sid] = line
        text = require(row["text"], path=path, line=line, field="text")
        statements[sid] = Statement(sid, text, row.get("author", "").strip() or None)
    if not statements:
        raise InputError("no rows", path=str(path))
    return statements


def _judgments(
    path: Path, participants: dict[str, Any] | None, statements: dict[str, Statement] | None
) -> tuple[Scale, list[Judgment], dict[str, str]]:
    columns, rows = csv_rows(path, ["participant_id", "statement_id"])
    kinds = [c for c in ("rating", "vote") if c in columns]
    if len(kinds) != 1:
        raise InputError("a judgments file needs exactly one of the columns 'rating' (0–4) or 'vote' (-1/0/1)",
                         path=str(path), line=1, field="rating")
    scale: Scale = "rating" if kinds[0] == "rating" else "vote"
    texts: dict[str, tuple[str, str]] = {sid: (s.text, STATEMENTS) for sid, s in (statements or {}).items()}
    first_line: dict[tuple[str, str], int] = {}
    judgments: list[Judgment] = []
    for line, row in rows:
        pid = require(row["participant_id"], path=path, line=line, field="participant_id")
        sid = require(row["statement_id"], path=path, line=line, field="statement_id")
        if participants is not None and pid not in participants:
            raise InputError(f"unknown participant id {pid!r} (not in {OPINIONS})", path=str(path), line=line, field="participant_id")
        if statements is not None and sid not in statements:
            raise InputError(f"unknown statement id {sid!r} (not in {STATEMENTS})", path=str(path), line=line, field="statement_id")
        if (pid, sid) in first_line:
            raise InputError(f"participant {pid!r} judges statement {sid!r} twice (first on line {first_line[pid, sid]})",
                             path=str(path), line=line, field="statement_id")
        first_line[pid, sid] = line
        value = parse_judgment(row[kinds[0]], scale, path=path, line=line, field=kinds[0])
        text = row.get("statement", "").strip()
        if text:
            expected, source = texts.setdefault(sid, (text, f"line {line}"))
            if text != expected:
                raise InputError(f"text of statement {sid!r} differs from the one in {source}", path=str(path), line=line,
                                 field="statement")
        judgments.append(Judgment(pid, sid, value, row.get("explanation", "").strip() or None))
    if not judgments:
        raise InputError("no rows", path=str(path))
    return scale, judgments, {sid: text for sid, (text, _) in texts.items()}
