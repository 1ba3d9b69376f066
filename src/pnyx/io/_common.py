"""What every reader shares: strict UTF-8 text, located CSV rows, value checks, natural id order."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from pnyx.data import MAX_UTILITY, RATING_LABELS, VOTE_LABELS, InputError, Participant, Profile, Scale, Statement


MAX_FIELD = 1 << 24
csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD))  # long free-text answers (the default is 128 KiB)


def read_text(path: Path) -> str:
    """The file's text, decoded as strict UTF-8 (a leading byte-order mark is dropped; UTF-16 with a
    byte-order mark is decoded too).

    Raises :class:`InputError` for a missing, unreadable or empty file, for a folder, for bytes that
    are not UTF-8 (naming the line of the first bad byte), for UTF-16 without a byte-order mark and
    for NUL bytes (a binary file, or a cell no text has).
    """
    where = str(path)
    if path.is_dir():
        raise InputError("a folder where a file was expected", path=where)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file" + (" (a broken link)" if path.is_symlink() else ""), path=where) from None
    except PermissionError:
        raise InputError("cannot read the file (permission denied)", path=where) from None
    except OSError as exc:  # a symlink loop, an I/O error
        raise InputError(f"cannot read the file ({exc.strerror or exc})", path=where) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return _nonempty(data.decode("utf-16"), where)
        except UnicodeDecodeError:
            raise InputError("not valid UTF-16 (it starts with a UTF-16 byte-order mark)", path=where) from None
    if b"\x00" in data:
        if _looks_utf16(data):
            raise InputError("looks like UTF-16 text without a byte-order mark: save it as UTF-8", path=where)
        at = data.index(b"\x00")
        raise InputError("NUL byte in the text (a binary file, or a corrupt text file)", path=where,
                         line=data[:at].count(b"\n") + 1)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", path=where, line=line) from None
    return _nonempty(text, where)


def _nonempty(text: str, where: str) -> str:
    if not text.strip():
        raise InputError("empty file", path=where)
    return text


def _looks_utf16(data: bytes) -> bool:
    """Mostly-ASCII UTF-16: every other byte NUL, on even (big-endian) or odd (little-endian) positions."""
    head = data[:4096]
    even, odd = head[0::2], head[1::2]
    return max(even.count(0), odd.count(0)) > 0.4 * len(head) / 2


def present(path: Path) -> bool:
    """Whether the file is there; a link that leads nowhere (broken, or a loop) is an error, not an absence."""
    if path.is_symlink() and not path.exists():
        raise InputError("a link that leads nowhere (broken, or a loop)", path=str(path))
    return path.is_file()


def columns_hint(columns: Sequence[str], limit: int = 5) -> str:
    """At most ``limit`` column names, and how many more: for messages about a header."""
    shown = ", ".join(c[:40] for c in columns[:limit])
    return shown + (f", … ({len(columns) - limit} more)" if len(columns) > limit else "")


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
            raise InputError(f"missing column (the header has: {columns_hint(columns)})", path=where, line=1, field=c)
    seen = set()
    for c in columns:
        if c and c in seen:
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


MAX_PARTICIPANTS = 10_000_000
MAX_STATEMENTS = 100_000
MAX_CELLS = 1_000_000_000
"""The largest profile a reader builds: pnyx holds dense participants × statements matrices (about 11 bytes a
cell), and a count in a file (a voter weight, a PrefLib count, ``num_cand``) would otherwise allocate them
before anything else could object."""


def check_size(participants: int, statements: int, *, path: Path | str, line: int | None = None,
               field: str | None = None) -> None:
    """Refuse a profile beyond :data:`MAX_PARTICIPANTS`, :data:`MAX_STATEMENTS` or :data:`MAX_CELLS`."""
    for count, limit, what in ((participants, MAX_PARTICIPANTS, "participants"),
                               (statements, MAX_STATEMENTS, "statements"),
                               (participants * statements, MAX_CELLS, "participant × statement cells")):
        if count > limit:
            raise InputError(f"{count:,} {what}: more than pnyx holds ({limit:,})", path=str(path), line=line,
                             field=field)


def require(value: str | None, *, path: Path, line: int, field: str) -> str:
    """A non-empty identifier or text field."""
    if value is None or not value.strip():
        raise InputError("empty value", path=str(path), line=line, field=field)
    return value.strip()


_VOTE_TEXT = {"1": 1.0, "0": 0.0, "-1": -1.0}
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def parse_json(text: str, *, path: Path | str, line: int | None = None, field: str | None = None) -> Any:
    """``json.loads(text)``, or an :class:`InputError` at ``path`` (and ``line``, for one line of a file)
    that says what is wrong: not JSON, nested too deeply, a number too long to convert."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError("JSON nested too deeply", path=str(path), line=line, field=field) from None
    except json.JSONDecodeError as exc:
        hint = "; truncated line?" if line and (exc.msg.startswith("Unterminated") or exc.pos >= len(text.rstrip())) else ""
        raise InputError(f"not valid JSON ({exc.msg}, column {exc.colno}{hint})", path=str(path),
                         line=exc.lineno if line is None else line, field=field) from None
    except ValueError:  # an integer of more digits than Python converts
        raise InputError("not valid JSON (a number too long)", path=str(path), line=line, field=field) from None


def parse_number(raw: object, *, path: Path | str, line: int, field: str) -> float:
    """A finite number: a JSON number, or text in plain decimal notation (``3``, ``-0.5``, ``2e3``; not
    Python's other spellings such as ``0_3``, full-width digits, ``nan`` or ``inf``)."""
    plain = (isinstance(raw, str) and _DECIMAL.fullmatch(raw.strip())) or (
        isinstance(raw, (int, float)) and not isinstance(raw, bool))
    try:
        value = float(raw) if plain else float("nan")  # type: ignore[arg-type]
    except OverflowError:  # an integer beyond any float
        value = float("inf")
    if not np.isfinite(value):
        shown = repr(raw) if len(repr(raw)) <= 40 else repr(raw)[:37] + "…"
        raise InputError(f"expected a number, got {shown}", path=str(path), line=line, field=field)
    return value


def parse_judgment(raw: object, scale: Scale, *, path: Path, line: int, field: str) -> float:
    """A rating (a number in [0, 4]) or a vote (−1, 0 or 1), from text or a JSON number."""
    if scale == "vote" and isinstance(raw, str) and raw in _VOTE_TEXT:
        return _VOTE_TEXT[raw]
    value = parse_number(raw, path=path, line=line, field=field)
    ok = 0.0 <= value <= 4.0 if scale == "rating" else value in VOTE_LABELS
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
