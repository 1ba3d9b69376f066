"""The four outputs of ``pnyx run``: ``slate.json``, ``assignment.csv``, ``audit.json``, ``report.html``;
and ``manifest.json``, written last, which vouches for them."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from pnyx.data import InputError

OUTPUTS = ("slate.json", "assignment.csv", "audit.json", "report.html")


def slate_document(run: Any) -> dict[str, Any]:
    """``slate.json``: the statements (the data's own id when taken from the data), whom each speaks for
    (the participants matched to it), its seats, and how the slate was made."""
    result = run.result
    profile = result.profile
    ids = profile.participant_ids
    statements = []
    for j in result.distinct:
        seats = [s for s, c in enumerate(result.slate) if c == j]
        members = np.flatnonzero(np.isin(result.matching, seats))
        st = profile.statements[j]
        statements.append({"id": st.id, "text": st.text, "source": st.source, "seats": len(seats),
                           "supporters": [ids[i] for i in members]})
    return {
        "statements": statements,
        "k": len(result.slate),
        "rule": result.rule,
        "backend": run.backend,
        "generators": run.generators,
        "seed": result.options.seed,
        "budget": result.info.get("budget"),
    }


def assignment_rows(run: Any) -> list[dict[str, Any]]:
    """``assignment.csv``: every participant, the slate statement that speaks for them (:attr:`Run.matching`:
    the process's matching, ⌊n/k⌋ or ⌈n/k⌉ per seat), its utility (0–4) and whether that utility was
    observed or predicted."""
    profile, slate = run.result.profile, np.asarray(run.result.slate)
    cols = slate[run.matching]
    return [{"participant": p.id, "statement": profile.statements[j].id,
             "utility": round(float(profile.utilities[i, j]), 4), "observed": bool(profile.observed[i, j])}
            for i, (p, j) in enumerate(zip(profile.participants, cols))]


MANIFEST = "manifest.json"
LOCK = ".pnyx.lock"
_STAGING = ".pnyx-writing-"
_held: dict[str, int] = {}  # lock files this process holds → open descriptor


class OutputBusyError(InputError):
    """Another process is writing the same output folder."""


@contextmanager
def output_lock(out: str | Path) -> Iterator[Path]:
    """Hold the folder ``out`` (created if needed) for one run: an exclusive ``flock`` on ``out/.pnyx.lock``,
    released when the block ends or the process dies. Re-entrant within a process.

    Raises
    ------
    OutputBusyError
        Another process holds it (``pnyx run`` refuses to mix two runs' outputs).
    InputError
        ``out`` is a file, or cannot be created or written (permission, read-only file system).
    """
    import fcntl

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError("is a file; --out names a folder", path=str(out), field="--out") from None
    except OSError as exc:
        raise InputError(f"cannot write here ({exc.strerror or exc})", path=str(out), field="--out") from None
    lock = out / LOCK
    key = str(lock.resolve())
    if key in _held:
        yield out
        return
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"cannot write here ({exc.strerror or exc})", path=str(out), field="--out") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OutputBusyError("another pnyx run is writing this folder; wait for it or choose another --out",
                              path=str(out), field="--out") from None
    _held[key] = fd
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield out
    finally:
        del _held[key]
        os.close(fd)  # releases the lock


def write_outputs(run: Any, out: str | Path, *, title: str | None = None) -> dict[str, Path]:
    """Write the four outputs and ``manifest.json`` into the folder ``out`` (created if needed); returns name → path of the four.

    Safe against interruption and a concurrent run: everything is rendered first and written into a
    fresh staging folder inside ``out``; then the previous run's manifest and outputs are removed,
    each new file is renamed into place, and ``manifest.json`` (the files' sizes and sha256) is
    renamed in last. A folder without a manifest holds no complete set of outputs; an interrupted
    write leaves no previous run's file beside a new one. The folder is held with :func:`output_lock`.
    """
    from pnyx.io import to_jsonable
    from pnyx.report.html import render_report

    out = Path(out)
    documents = {
        "slate.json": _json_bytes(slate_document(run)),
        "assignment.csv": _csv_bytes(assignment_rows(run), ["participant", "statement", "utility", "observed"]),
        "audit.json": _json_bytes(run.audit.to_json()),
        "report.html": render_report(run, title=title).encode("utf-8"),
    }
    manifest = {"files": {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                          for name, data in documents.items()},
                "seed": to_jsonable(run.result.options.seed), "complete": True}
    with output_lock(out):
        for stale in out.glob(_STAGING + "*"):  # left by an interrupted write
            shutil.rmtree(stale, ignore_errors=True)
        try:
            staging = Path(tempfile.mkdtemp(prefix=_STAGING, dir=out))
            for name, data in [*documents.items(), (MANIFEST, _json_bytes(manifest))]:
                with open(staging / name, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            for name in (MANIFEST, *OUTPUTS):  # the old set is no longer vouched for, then gone
                (out / name).unlink(missing_ok=True)
            for name in (*OUTPUTS, MANIFEST):
                os.replace(staging / name, out / name)
            staging.rmdir()
        except OSError as exc:
            raise InputError(f"cannot write the outputs ({exc.strerror or exc})", path=str(out), field="--out") from None
    return {name: out / name for name in OUTPUTS}


def _json_bytes(obj: Any) -> bytes:
    from pnyx.io import to_jsonable

    return (json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _csv_bytes(rows: list[dict[str, Any]], fieldnames: list[str]) -> bytes:
    from pnyx.io.writers import _cell

    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows({k: "" if v is None else _cell(v) for k, v in row.items()} for row in rows)
    return buffer.getvalue().encode("utf-8")
