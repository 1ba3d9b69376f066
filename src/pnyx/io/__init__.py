r"""Readers and writers: every input format becomes a :class:`pnyx.data.Profile`.

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
``global-      Global Dialogues export folder, one question (``question=``)       a folder with
dialogues``                                                                       \*_verbatim_map.csv
=============  =================================================================  =========================

A pairwise-preference CSV (``participant_id,preferred,other``, or All Our Ideas' vote export) is read
by the ``csv`` reader (:mod:`pnyx.io.pairwise`).

Readers validate everything and raise :class:`pnyx.data.InputError` naming file, line and field;
what a rule leaves out is counted in ``Profile.excluded``.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any, Callable

from pnyx.data import InputError, Profile
from pnyx.io._common import csv_rows, present, read_ids
from pnyx.io.abc_yaml import read_abc_yaml
from pnyx.io.global_dialogues import is_global_dialogues, read_global_dialogues
from pnyx.io.jsonl import PARTICIPANTS_FILE, read_jsonl
from pnyx.io.polis import COMMENTS, read_polis
from pnyx.io.preflib import SUFFIXES as PREFLIB_SUFFIXES
from pnyx.io.preflib import read_preflib
from pnyx.io.pairwise import PAIRWISE
from pnyx.io.table import JUDGMENTS, OPINIONS, read_csv
from pnyx.io.writers import to_jsonable, write_csv, write_json, write_jsonl, write_profile

READERS: dict[str, Callable[..., Profile]] = {
    "jsonl": read_jsonl,
    "polis": read_polis,
    "csv": read_csv,
    "abcvoting": read_abc_yaml,
    "preflib": read_preflib,
    "global-dialogues": read_global_dialogues,
}
POLIS_HEADERS = ({"comment-id", "comment-body"}, {"comment-id", "voter-id"}, {"participant", "group-id", "n-votes"})

_BY_SUFFIX = {".jsonl": "jsonl", ".csv": "csv", ".yaml": "abcvoting", ".yml": "abcvoting", **dict.fromkeys(PREFLIB_SUFFIXES, "preflib")}


def detect_format(path: str | Path) -> str:
    """The name of the reader for ``path`` (see the table in the module docstring)."""
    path = Path(path)
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:  # e.g. a symlink loop
        raise InputError(f"cannot open ({exc.strerror or exc})", path=str(path)) from None
    if not exists:
        raise InputError("no such file or folder" + (" (a broken link)" if path.is_symlink() else ""), path=str(path))
    if is_dir:
        if present(path / COMMENTS):
            return "polis"
        if (path / PARTICIPANTS_FILE).is_file():
            return "jsonl"
        if is_global_dialogues(path):
            return "global-dialogues"
        if any((path / f).is_file() for f in (OPINIONS, JUDGMENTS, PAIRWISE)):
            return "csv"
        inner = [d.name for d in sorted(path.iterdir()) if d.is_dir() and (is_global_dialogues(d) or (d / COMMENTS).is_file())]
        hint = f"; did you mean {path / inner[0]}?" if len(inner) == 1 else ""
        raise InputError(f"folder holds none of {COMMENTS} (Polis export), {PARTICIPANTS_FILE} (pnyx JSONL), "
                         f"*_verbatim_map.csv (Global Dialogues), {OPINIONS}, {JUDGMENTS} or {PAIRWISE} (CSV){hint}",
                         path=str(path))
    if path.suffix.lower() == ".csv" and _polis_header(path):
        raise InputError(f"this is one file of a Polis export; pass the folder ({path.parent})", path=str(path))
    if re.search(r"_(verbatim_map|binary|preference|participants|participant_report)\.csv$", path.name) \
            and is_global_dialogues(path.parent):
        raise InputError(f"this is one file of a Global Dialogues export; pass the folder ({path.parent})", path=str(path))
    fmt = _BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"unknown format {path.suffix or '(no suffix)'!r}: pnyx reads {_formats()}; "
                         "name one with --format (or load(..., format=…))", path=str(path))
    return fmt


def load(path: str | Path, format: str | None = None, **options: Any) -> Profile:
    """Read ``path`` into a profile with the reader ``format`` (default: :func:`detect_format`).

    ``options`` go to the reader (``question=`` for Global Dialogues, ``keep_moderated_out=True``
    for Polis); ``None`` values are ignored.
    """
    if format is None:
        format = detect_format(path)
    elif format not in READERS:
        raise InputError(f"unknown format {format!r}: pnyx reads {_formats()}", path=str(path), field="format")
    options = {k: v for k, v in options.items() if v is not None}
    takes = inspect.signature(READERS[format]).parameters
    for name in options:
        if name not in takes or name == "path":
            raise InputError(f"the {format} reader takes no option {name!r}" +
                             (" (only Global Dialogues exports have questions)" if name == "question" else ""),
                             path=str(path), field=name)
    try:
        profile = READERS[format](path, **options)
    except RecursionError:
        raise InputError("nested too deeply to read", path=str(path)) from None
    _check_text(profile, str(path))
    return profile


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs and line breaks are fine in texts


def _check_text(profile: Profile, where: str) -> None:
    """What every reader's output must satisfy, whatever the format let through (e.g. JSON's ``\\u0000``):
    ids without control characters, statements with text, texts without control characters."""
    for kind, items in (("participant", profile.participants), ("statement", profile.statements)):
        for item in items:
            if _CONTROL.search(item.id):
                raise InputError(f"{kind} id {item.id!r} contains a control character", path=where)
    for s in profile.statements:
        if not s.text.strip():
            raise InputError(f"statement {s.id!r} has no text (only whitespace)", path=where)
        if _CONTROL_IN_TEXT.search(s.text):
            raise InputError(f"the text of statement {s.id!r} contains a control character", path=where)
    for p in profile.participants:
        for q, text in p.answers.items():
            if _CONTROL_IN_TEXT.search(text):
                raise InputError(f"participant {p.id!r}'s answer to {q!r} contains a control character", path=where)


def _polis_header(path: Path) -> bool:
    """Whether the CSV file's header is that of a file of a Polis export."""
    try:
        with path.open("rb") as f:
            first = f.read(65536).split(b"\n", 1)[0].decode("utf-8-sig", "replace")
    except OSError:
        return False  # the reader says why
    columns = {c.strip().strip('"') for c in first.split(",")}
    return any(h <= columns for h in POLIS_HEADERS)


def _formats() -> str:
    return ", ".join(READERS)


__all__ = ["READERS", "csv_rows", "read_ids", "detect_format", "load", "read_abc_yaml", "read_csv", "read_global_dialogues",
           "read_jsonl", "read_polis", "read_preflib",
           "to_jsonable", "write_csv", "write_json", "write_jsonl", "write_profile"]
