"""Readers and writers: every input format becomes a :class:`pnyx.data.Profile`.

``load(path)`` picks the reader from the path, ``load(path, format=...)`` names it:

=============  =================================================================  =========================
format         what                                                               detected by
=============  =================================================================  =========================
``jsonl``      pnyx JSONL: participants with answers and 0–4 ratings              ``.jsonl``, or a folder
                                                                                  with participants.jsonl
``polis``      Polis export folder                                                a folder with comments.csv
``csv``        generic CSV: opinions, judgments (and statements)                  ``.csv``, or a folder with
                                                                                  opinions.csv / judgments.csv
``abcvoting``  abcvoting YAML instance                                            ``.yaml`` / ``.yml``
``preflib``    PrefLib categorical or ordinal file, read as approvals             ``.cat .soc .soi .toc .toi``
=============  =================================================================  =========================

Readers validate everything and raise :class:`pnyx.data.InputError` naming file, line and field;
what a rule leaves out is counted in ``Profile.excluded``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from pnyx.data import InputError, Profile
from pnyx.io._common import csv_rows, read_ids
from pnyx.io.abc_yaml import read_abc_yaml
from pnyx.io.jsonl import PARTICIPANTS_FILE, read_jsonl
from pnyx.io.polis import COMMENTS, read_polis
from pnyx.io.preflib import SUFFIXES as PREFLIB_SUFFIXES
from pnyx.io.preflib import read_preflib
from pnyx.io.table import JUDGMENTS, OPINIONS, read_csv
from pnyx.io.writers import to_jsonable, write_csv, write_json, write_jsonl, write_profile

READERS: dict[str, Callable[..., Profile]] = {
    "jsonl": read_jsonl,
    "polis": read_polis,
    "csv": read_csv,
    "abcvoting": read_abc_yaml,
    "preflib": read_preflib,
}

_BY_SUFFIX = {".jsonl": "jsonl", ".csv": "csv", ".yaml": "abcvoting", ".yml": "abcvoting", **dict.fromkeys(PREFLIB_SUFFIXES, "preflib")}


def detect_format(path: str | Path) -> str:
    """The name of the reader for ``path`` (see the table in the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path=str(path))
    if path.is_dir():
        if (path / COMMENTS).is_file():
            return "polis"
        if (path / PARTICIPANTS_FILE).is_file():
            return "jsonl"
        if (path / OPINIONS).is_file() or (path / JUDGMENTS).is_file():
            return "csv"
        raise InputError(f"folder holds none of {COMMENTS} (Polis export), {PARTICIPANTS_FILE} (pnyx JSONL), "
                         f"{OPINIONS} or {JUDGMENTS} (CSV)", path=str(path))
    fmt = _BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"unknown format {path.suffix or '(no suffix)'!r}: pnyx reads {_formats()}; "
                         "name one with format=…", path=str(path))
    return fmt


def load(path: str | Path, format: str | None = None, **options: Any) -> Profile:
    """Read ``path`` into a profile with the reader ``format`` (default: :func:`detect_format`).

    ``options`` go to the reader (e.g. ``keep_moderated_out=True`` for Polis).
    """
    if format is None:
        format = detect_format(path)
    elif format not in READERS:
        raise InputError(f"unknown format {format!r}: pnyx reads {_formats()}", path=str(path))
    return READERS[format](path, **options)


def _formats() -> str:
    return ", ".join(READERS)


__all__ = ["READERS", "csv_rows", "read_ids", "detect_format", "load", "read_abc_yaml", "read_csv", "read_jsonl", "read_polis", "read_preflib",
           "to_jsonable", "write_csv", "write_json", "write_jsonl", "write_profile"]
