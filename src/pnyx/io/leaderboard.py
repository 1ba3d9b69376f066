"""Leaderboard tables for ``pnyx compare``: one row per system (its name in the first column), one
column per task, higher is better (the layout Vote'n'Rank uses); weights as ``task,weight`` rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pnyx.data import InputError
from pnyx.io._common import csv_rows, parse_number


def read_leaderboard(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(system names, task names, systems × tasks scores); every score must be a finite number."""
    columns, rows = csv_rows(Path(path), [])
    if len(columns) < 2:
        raise InputError("a leaderboard needs a name column and at least one task column", path=str(path), line=1)
    name_col, tasks = columns[0], columns[1:]
    systems, scores = [], []
    for line, row in rows:
        name = row[name_col].strip()
        if not name:
            raise InputError("empty system name", path=str(path), line=line, field=name_col)
        if name in systems:
            raise InputError(f"system {name!r} appears twice", path=str(path), line=line, field=name_col)
        vals = [parse_number(row[t], path=path, line=line, field=t) for t in tasks]
        systems.append(name)
        scores.append(vals)
    if len(systems) < 2:
        raise InputError("a leaderboard needs at least two systems", path=str(path))
    return systems, tasks, np.array(scores)


def read_weights(path: Path, tasks: list[str]) -> np.ndarray:
    """One weight per task from a ``task,weight`` CSV (tasks not listed weigh 1)."""
    _, rows = csv_rows(Path(path), ["task", "weight"])
    w = dict.fromkeys(tasks, 1.0)
    for line, row in rows:
        t = row["task"].strip()
        if t not in w:
            raise InputError(f"unknown task {t!r}; the table's tasks: {', '.join(tasks)}", path=str(path), line=line,
                             field="task")
        w[t] = parse_number(row["weight"], path=path, line=line, field="weight")
        if w[t] < 0:
            raise InputError(f"weight {row['weight']!r} is not a non-negative number", path=str(path), line=line,
                             field="weight")
    return np.array([w[t] for t in tasks])
