"""PrefLib files (https://preflib.org/format): categorical ``.cat`` and ordinal ``.soc/.soi/.toc/.toi``.

A file is a header of ``# KEY: value`` lines (``NUMBER ALTERNATIVES`` and ``ALTERNATIVE NAME i``
are used, ``NUMBER VOTERS`` and ``NUMBER UNIQUE PREFERENCES``/``ORDERS`` are checked) followed by
``count: preference`` lines; a preference is a comma-separated list of alternatives or ``{…}`` sets
(a category, or a class of tied alternatives). Alternatives are those named by ``ALTERNATIVE NAME``
lines (PrefLib numbers them 1 … m; some writers start at 0), else 1 … m.

Read as approvals the way abcvoting's ``read_preflib_file`` does by default (``top_ranks=1``): a
voter approves the first category, or the top indifference class of a ranking. Approval → utility 4,
else 0, every entry observed. A line of count c gives c participants, numbered ``"1"``, ``"2"``, … in
file order; alternative ``a`` is statement ``"a"`` with its ``ALTERNATIVE NAME`` as text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from pnyx.data import InputError, Participant, Profile, Statement
from pnyx.io._common import approval_profile, check_size, read_text

SUFFIXES = (".cat", ".soc", ".soi", ".toc", ".toi")
_ITEM = r"\s*(?:\{\s*(?:\d+(?:\s*,\s*\d+)*)?\s*\}|\d+)\s*"
_PREFERENCE = re.compile(rf"{_ITEM}(?:,{_ITEM})*")
_HEADER = re.compile(r"#\s*([^:]+?)\s*:\s*(.*)")


def read_preflib(path: str | Path) -> Profile:
    """Read a PrefLib file as approval ballots (see the module docstring)."""
    path = Path(path)
    where = str(path)
    lines = read_text(path).splitlines()
    header: dict[str, str] = {}
    header_line: dict[str, int] = {}
    for line, raw in enumerate(lines, start=1):
        match = _HEADER.fullmatch(raw.strip())
        if match:
            key = match.group(1).upper()
            header[key], header_line[key] = match.group(2).strip(), line
    if "NUMBER ALTERNATIVES" not in header:
        raise InputError("missing header line '# NUMBER ALTERNATIVES: m'", path=where, line=1)
    m = _header_int(header, header_line, "NUMBER ALTERNATIVES", path=path)
    check_size(0, m, path=where, line=header_line["NUMBER ALTERNATIVES"], field="NUMBER ALTERNATIVES")
    names = {int(k.rsplit(" ", 1)[1]): v for k, v in header.items() if re.fullmatch(r"ALTERNATIVE NAME \d+", k)}
    alternatives = list(names) or list(range(1, m + 1))  # some writers number from 0
    if len(alternatives) != m:
        raise InputError(f"{len(alternatives)} ALTERNATIVE NAME lines for {m} alternatives", path=where,
                         line=header_line["NUMBER ALTERNATIVES"], field="NUMBER ALTERNATIVES")
    column = {a: j for j, a in enumerate(alternatives)}

    ballots: list[tuple[int, list[int]]] = []  # (count, columns of the approved alternatives)
    n = 0  # participants so far
    for line, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        count, sep, preference = text.partition(":")
        if not sep or not count.strip().isdigit() or int(count) < 1:
            raise InputError(f"expected 'count: preference' with a positive count, got {text!r}", path=where, line=line)
        if not _PREFERENCE.fullmatch(preference):
            raise InputError(f"malformed preference {preference.strip()!r} (truncated line?)", path=where, line=line)
        groups = [[int(a) for a in re.findall(r"\d+", g)] for g in re.findall(r"\{[^}]*\}|\d+", preference)]
        seen = [a for g in groups for a in g]
        unknown = [a for a in seen if a not in column]
        if unknown:
            raise InputError(f"unknown alternative {unknown[0]} (alternatives: {alternatives[0]} … {alternatives[-1]})",
                             path=where, line=line)
        if len(set(seen)) != len(seen):
            raise InputError("an alternative appears twice in one preference", path=where, line=line)
        ballots.append((int(count), [column[a] for a in groups[0]] if groups else []))
        n += int(count)
        check_size(n, m, path=where, line=line)
    if not ballots:
        raise InputError("no preferences", path=where)

    for key, actual in (("NUMBER VOTERS", n), ("NUMBER UNIQUE PREFERENCES", len(ballots)), ("NUMBER UNIQUE ORDERS", len(ballots))):
        if key in header and _header_int(header, header_line, key, path=path) != actual:
            raise InputError(f"the header says {key} {header[key]} but the file lists {actual} (truncated file?)",
                             path=where, line=len(lines))

    approved = np.zeros((n, m), dtype=bool)
    row = 0
    for count, top in ballots:
        approved[row: row + count, top] = True
        row += count
    participants = [Participant(str(i)) for i in range(1, n + 1)]
    statements = [Statement(str(a), names.get(a) or f"alternative {a}") for a in alternatives]
    info: dict[str, Any] = {"format": "preflib", "data_type": header.get("DATA TYPE", path.suffix.lstrip(".")), "header": header}
    return approval_profile(participants, statements, approved, source=where, info=info)


def _header_int(header: dict[str, str], header_line: dict[str, int], key: str, *, path: Path) -> int:
    value = header[key]
    if not value.isdigit():
        raise InputError(f"expected a whole number, got {value!r}", path=str(path), line=header_line[key], field=key)
    return int(value)
