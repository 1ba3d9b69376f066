"""Pairwise preferences in CSV: pnyx's own layout and All Our Ideas' vote export.

* pnyx — ``participant_id,preferred,other``: the participant prefers statement ``preferred`` to
  statement ``other`` (ids; texts from a ``statements.csv`` beside it, else the id is the text).
* All Our Ideas (``votes.csv`` of a wikisurvey) — ``Session ID`` (or ``Voter ID``), ``Winner ID``,
  ``Loser ID`` and optionally ``Winner Text``, ``Loser Text``, ``Valid``: rows without a loser
  ("I can't decide") and rows marked not valid are left out and counted.

Each row is one comparison; a participant may compare a pair more than once (all are kept; margins
count each participant once per pair, :func:`pnyx.pairwise.margins`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from pnyx.data import InputError
from pnyx.io._common import require

PAIRWISE = "pairwise.csv"
PNYX_COLUMNS = ("participant_id", "preferred", "other")
AOI_PARTICIPANT = ("Session ID", "Voter ID", "Session Identifier")
_FALSE = {"false", "f", "0", "no"}


@dataclass
class Comparisons:
    """Comparisons read from a file, in the data's ids."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)
    """``(participant, preferred, other)``."""
    texts: dict[str, str] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)
    layout: str = "pnyx"


def is_pairwise(columns: list[str]) -> bool:
    """Whether a CSV header is one of the pairwise layouts."""
    return {"preferred", "other"} <= set(columns) or {"Winner ID", "Loser ID"} <= set(columns)


def read_comparisons(path: Path, columns: list[str], rows: Iterator[tuple[int, dict[str, str]]], *,
                     statements: set[str] | None = None, participants: set[str] | None = None) -> Comparisons:
    """The comparisons of a pairwise CSV (header ``columns``, ``rows`` from :func:`pnyx.io.csv_rows`).

    ``statements`` / ``participants``: the known ids when another file lists them (an id outside
    them is an error naming the line).
    """
    aoi = "Winner ID" in columns
    if aoi:
        who = next((c for c in AOI_PARTICIPANT if c in columns), None)
        if who is None:
            raise InputError(f"an All Our Ideas vote export needs a voter column ({' or '.join(AOI_PARTICIPANT)})",
                             path=str(path), line=1, field=AOI_PARTICIPANT[0])
        win, lose = "Winner ID", "Loser ID"
    else:
        for c in PNYX_COLUMNS:
            if c not in columns:
                raise InputError("missing column (a pairwise file has participant_id,preferred,other)", path=str(path),
                                 line=1, field=c)
        who, win, lose = PNYX_COLUMNS
    out = Comparisons(layout="allourideas" if aoi else "pnyx")
    for line, row in rows:
        if aoi and row.get("Valid", "").strip().lower() in _FALSE:
            out.excluded["comparisons marked not valid"] = out.excluded.get("comparisons marked not valid", 0) + 1
            continue
        pid = require(row[who], path=path, line=line, field=who)
        a = require(row[win], path=path, line=line, field=win)
        if aoi and not row[lose].strip():
            out.excluded["comparisons without a loser"] = out.excluded.get("comparisons without a loser", 0) + 1
            continue
        b = require(row[lose], path=path, line=line, field=lose)
        if a == b:
            raise InputError(f"statement {a!r} compared with itself", path=str(path), line=line, field=lose)
        for sid, col in ((a, win), (b, lose)):
            if statements is not None and sid not in statements:
                raise InputError(f"unknown statement id {sid!r} (not in statements.csv)", path=str(path), line=line, field=col)
        if participants is not None and pid not in participants:
            raise InputError(f"unknown participant id {pid!r} (not in opinions.csv)", path=str(path), line=line, field=who)
        if aoi:
            for sid, col in ((a, "Winner Text"), (b, "Loser Text")):
                text = row.get(col, "").strip().strip("'").strip()
                if text:
                    out.texts.setdefault(sid, text)
        out.rows.append((pid, a, b))
    if not out.rows:
        raise InputError("no comparisons", path=str(path))
    return out
