"""Writers: JSON and CSV for profiles and results (UTF-8; unknown values as JSON ``null`` / empty CSV cells)."""

from __future__ import annotations

import csv
import dataclasses
import enum
import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from pnyx.data import Profile, to_data_scale
from pnyx.scale import Scale

PROFILE_CSV_COLUMNS = ("participant", "statement", "utility", "value", "observed", "provenance")


def to_jsonable(obj: Any) -> Any:
    """Plain JSON data from numpy arrays and scalars, dataclasses, pydantic models, paths, enums, sets.

    NaN and infinities become ``None``; dict keys become strings (tuple keys are joined with ``,``).
    """
    if isinstance(obj, dict):
        return {",".join(map(str, k)) if isinstance(k, tuple) else str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in (sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj)]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if isinstance(obj, Scale):
        return obj.name
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "model_dump"):  # pydantic
        return to_jsonable(obj.model_dump())
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


@contextmanager
def _replacing(path: Path, **open_args: Any) -> Iterator[IO[str]]:
    """A text file written under a temporary name beside ``path`` and renamed over it when complete:
    readers see the old file or the new one, never a part (an error or a kill leaves ``path`` as it was)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # as open() would create it (mkstemp makes 0600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", **open_args) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as indented UTF-8 JSON (through :func:`to_jsonable`), atomically; returns the path."""
    path = Path(path)
    text = json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    with _replacing(path) as f:
        f.write(text)
    return path


def write_jsonl(rows: Iterable[Any], path: str | Path) -> Path:
    """Write one JSON object per line (through :func:`to_jsonable`), atomically; returns the path."""
    path = Path(path)
    with _replacing(path) as f:
        f.writelines(json.dumps(to_jsonable(row), ensure_ascii=False) + "\n" for row in rows)
    return path


def write_csv(rows: Iterable[Mapping[str, Any]], path: str | Path, fieldnames: Sequence[str]) -> Path:
    """Write dict rows as CSV with the given columns (a key outside them is an error), atomically; returns the path."""
    path = Path(path)
    with _replacing(path, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fieldnames))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else _cell(v) for k, v in row.items()})
    return path


def _cell(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    return "" if isinstance(value, float) and not math.isfinite(value) else value


def profile_rows(profile: Profile) -> Iterable[dict[str, Any]]:
    """Long format, one row per known entry: participant, statement, utility (0–4), value (the data's own
    scale), observed, provenance."""
    values = to_data_scale(profile.utilities, profile.scale)
    for i, j in zip(*np.nonzero(~np.isnan(profile.utilities))):
        yield {
            "participant": profile.participants[i].id,
            "statement": profile.statements[j].id,
            "utility": float(profile.utilities[i, j]),
            "value": float(values[i, j]),
            "observed": bool(profile.observed[i, j]),
            "provenance": profile.provenance_of(i, j),
        }


def write_profile(profile: Profile, path: str | Path) -> Path:
    """Write a profile: ``.csv`` in long format (:func:`profile_rows`), ``.json`` as one object holding
    participants, statements and the n × m ``utilities`` / ``observed`` / ``provenance`` matrices."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return write_csv(profile_rows(profile), path, PROFILE_CSV_COLUMNS)
    if path.suffix.lower() != ".json":
        raise ValueError(f"{path}: write_profile writes .json or .csv, not {path.suffix or 'no suffix'!r}")
    return write_json(
        {
            "scale": profile.scale.name,
            "source": profile.source,
            "participants": profile.participants,
            "statements": [{**dataclasses.asdict(s), "cost": s.cost} for s in profile.statements],
            "utilities": profile.utilities,
            "observed": profile.observed,
            "provenance": profile.provenance,
            "provenance_labels": profile.provenance_labels,
            "uncertainty": profile.uncertainty,
            "explanations": [
                {"participant": profile.participants[i].id, "statement": profile.statements[j].id, "text": t}
                for (i, j), t in sorted(profile.explanations.items())
            ],
            "pairwise": [{"participant": profile.participants[i].id, "preferred": profile.statements[a].id,
                          "other": profile.statements[b].id} for i, a, b in profile.pairwise.tolist()],
            "excluded": profile.excluded,
            "info": profile.info,
        },
        path,
    )
