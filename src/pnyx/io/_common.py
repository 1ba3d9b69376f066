"""What every reader shares: strict UTF-8 text, located CSV rows, value checks, natural id order."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from pnyx.data import MAX_UTILITY, RATING_LABELS, VOTE_LABELS, InputError, Participant, Profile, Scale, Statement


def read_text(path: Path) -> str:
    """The file's text, decoded as strict UTF-8 (a leading byte-order mark is dropped).

    Raises :class:`InputError` for a missing or empty file and for bytes that are not UTF-8, naming
    the line of the first bad byte.
    """
    if not path.is_file():
        raise InputError("not a file" if path.exists() else "no such file", path=str(path))
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", path=str(path), line=line) from None
    if not text.strip():
        raise InputError("empty file", path=str(path))
    return text


def csv_rows(path: Path, required: Sequence[str]) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header of a CSV file and an iterator over ``(line, row)``, ``line`` being where the row starts.

    Checks that the ``required`` columns exist, that the header has no duplicate column, and that
    every row has exactly as many fields as the header (a truncated last line has fewer).
    """
    reader = csv.reader(io.StringIO(read_text(path), newline=""), strict=True)
    where = str(path)
    try:
        columns = [c.strip() for c in next(reader)]
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", path=where, line=1) from None
    for c in required:
        if c not in columns:
            raise InputError(f"missing column (the header has: {', '.join(columns)})", path=where, line=1, field=c)
    seen = set()
    for c in columns:
        if c in seen:
            raise InputError("duplicate column", path=where, line=1, field=c)
        seen.add(c)

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        end = reader.line_num
        while True:
            start = end + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InputError(f"malformed CSV ({exc}; truncated line?)", path=where, line=start) from None
            end = reader.line_num
            if not fields:
                continue  # a blank line
            if len(fields) != len(columns):
                raise InputError(
                    f"{len(fields)} fields where the header has {len(columns)} (truncated line?)", path=where, line=start
                )
            yield start, dict(zip(columns, fields))

    return columns, rows()


def require(value: str | None, *, path: Path, line: int, field: str) -> str:
    """A non-empty identifier or text field."""
    if value is None or not value.strip():
        raise InputError("empty value", path=str(path), line=line, field=field)
    return value.strip()


_VOTE_TEXT = {"1": 1.0, "0": 0.0, "-1": -1.0}


def parse_judgment(raw: object, scale: Scale, *, path: Path, line: int, field: str) -> float:
    """A rating (a number in [0, 4]) or a vote (−1, 0 or 1), from text or a JSON number."""
    if scale == "vote" and isinstance(raw, str) and raw in _VOTE_TEXT:
        return _VOTE_TEXT[raw]
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)  # type: ignore[arg-type]
        ok = not isinstance(raw, bool) and (0.0 <= value <= 4.0 if scale == "rating" else value in VOTE_LABELS)
    except (TypeError, ValueError):
        raise InputError(f"expected a number, got {raw!r}", path=str(path), line=line, field=field) from None
    if not ok:
        expected = "ratings are numbers from 0 to 4" if scale == "rating" else "votes are -1 (disagree), 0 (pass) or 1 (agree)"
        raise InputError(f"{scale} {raw!r} out of range: {expected}", path=str(path), line=line, field=field)
    return value


def check_label(label: str, rating: float, *, path: Path, line: int, field: str) -> None:
    """A rating's label must be the scale's label for that rating (:data:`pnyx.data.RATING_LABELS`)."""
    expected = RATING_LABELS.get(int(rating)) if rating == int(rating) else None
    if expected is not None and label.strip().lower() != expected:
        raise InputError(f"label {label!r} does not match rating {rating:g} ({expected!r})", path=str(path), line=line, field=field)


def natural_key(identifier: str) -> tuple[int, float, str]:
    """Sort numeric ids numerically and before the others, which sort as text ("2" < "10" < "a")."""
    return (0, float(identifier), "") if re.fullmatch(r"-?\d+(\.\d+)?", identifier) else (1, 0.0, identifier)


def approval_profile(
    participants: Sequence[Participant], statements: Sequence[Statement], approved: np.ndarray, **kwargs: Any
) -> Profile:
    """A fully observed profile from a boolean approval matrix: approval → utility 4, else 0."""
    approved = np.asarray(approved, dtype=bool)
    return Profile(
        participants=list(participants),
        statements=list(statements),
        scale="rating",
        utilities=np.where(approved, MAX_UTILITY, 0.0),
        observed=np.ones(approved.shape, dtype=bool),
        provenance=np.zeros(approved.shape, dtype=np.int16),
        **kwargs,
    )


def read_ids(value: str, known: Sequence[str], *, what: str, option: str) -> list[str]:
    """Ids from ``value``: a file (one id per line, the first CSV column; a header line is skipped) or a
    comma-separated list. Every id must be in ``known``.

    Raises
    ------
    InputError
        An id that is not in the data (naming the file and line where there is one).
    """
    import csv as _csv

    path = Path(value)
    known_set = set(known)
    if path.is_file():
        rows = [(line, row[0].strip()) for line, row in enumerate(_csv.reader(read_text(path).splitlines()), start=1)
                if row and row[0].strip()]
        if rows and rows[0][1] not in known_set and len(rows) > 1:
            rows = rows[1:]  # a header
        where = {"path": str(path)}
    else:
        rows = [(None, v.strip()) for v in value.split(",") if v.strip()]
        where = {}
    for line, ident in rows:
        if ident not in known_set:
            raise InputError(f"{what} {ident!r} is not in the data", line=line, field=option, **where)
    return [ident for _, ident in rows]
