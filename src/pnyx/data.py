"""The data of a consultation: participants, statements, judgments and the utility profile.

Utilities live on one scale everywhere in pnyx, the paper's 0–4 rating scale; :mod:`pnyx.scale`
maps ratings and votes onto it (:data:`~pnyx.scale.RATING`, :data:`~pnyx.scale.VOTE`).

The :class:`Profile` is plain numpy inside. Validation with messages naming file, line and field
happens in the readers (:mod:`pnyx.io`); the core trusts a constructed profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from pnyx.blocks import blocks
from pnyx.scale import (  # noqa: F401  (re-exported: the data model speaks these)
    DEFAULT_APPROVAL_THRESHOLD, MAX_UTILITY, RATING_LABELS, VOTE_LABELS, Scale, get_scale)

OBSERVED = "observed"
FLOAT32_ENTRIES = 1 << 24
"""Profiles with at least this many participant × statement entries (16.8 million; e.g. 100,000 × 168)
keep utilities and uncertainties in float32: half the memory, and every utility a rating or vote
maps to (0–4 in quarter steps) is exact in it. Smaller profiles use float64."""


def utility_dtype(n: int, m: int) -> np.dtype:
    """float32 for profiles of at least :data:`FLOAT32_ENTRIES` entries, else float64."""
    return np.dtype(np.float32 if n * m >= FLOAT32_ENTRIES else np.float64)


class InputError(ValueError):
    """Bad input, located: the file, the line (or row) and the field at fault."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field, self.reason = path, line, field, message
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


@dataclass(frozen=True)
class Participant:
    id: str
    answers: dict[str, str] = field(default_factory=dict)
    """Free-text answers keyed by question id (empty answers are left out and counted by the reader)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """E.g. ``{"group": "1"}`` (Polis group-id), demographics; ``group`` is used by per-group audits."""

    @property
    def group(self) -> str | None:
        g = self.metadata.get("group")
        return None if g is None else str(g)

    def text(self) -> str:
        """All of the participant's answers as one text."""
        return "\n".join(a for a in self.answers.values() if a)


@dataclass(frozen=True)
class Statement:
    id: str
    text: str
    author: str | None = None
    source: str = "data"
    """Where the statement came from: ``data`` (in the input) or the generator that wrote it."""

    @property
    def cost(self) -> int:
        """Cost in the budgeted model (arXiv 2505.22939): the statement's length in words."""
        return len(self.text.split())


@dataclass(frozen=True)
class Judgment:
    """One observed judgment, in the data's own scale (a 0–4 rating or a −1/0/1 vote)."""

    participant: str
    statement: str
    value: float
    explanation: str | None = None


def to_utility(values: np.ndarray | float, scale: Scale | str) -> np.ndarray:
    """Map values in the data's own scale to utilities on the 0–4 scale (NaN stays NaN)."""
    return get_scale(scale).to_utility(values)


def to_data_scale(utilities: np.ndarray | float, scale: Scale | str) -> np.ndarray:
    """Inverse of :func:`to_utility`."""
    return get_scale(scale).to_data(utilities)


@dataclass
class Profile:
    """n participants × m statements: utilities (0–4), what was observed, and where each entry came from.

    ``utilities[i, j]`` is NaN where nothing is known yet. ``provenance[i, j]`` indexes
    ``provenance_labels`` (``"observed"`` or the backend and model that predicted the entry), −1 where
    the entry is unknown. ``uncertainty`` (optional) is a standard deviation on the utility scale.
    """

    participants: list[Participant]
    statements: list[Statement]
    scale: Scale
    utilities: np.ndarray
    observed: np.ndarray
    provenance: np.ndarray
    provenance_labels: list[str] = field(default_factory=lambda: [OBSERVED])
    uncertainty: np.ndarray | None = None
    explanations: dict[tuple[int, int], str] = field(default_factory=dict)
    """Free-text explanation of an observed judgment, keyed by (participant index, statement index)."""
    excluded: dict[str, int] = field(default_factory=dict)
    """What the reader left out, reason → count (nothing is dropped silently)."""
    source: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    """Reader-specific facts (e.g. Polis topic, raw vote count)."""
    pairwise: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    """Observed pairwise preferences, one row ``(participant, preferred, other)`` of indices per
    comparison: the participant prefers statement ``preferred`` to statement ``other``
    (:mod:`pnyx.pairwise` turns them into margins or utilities)."""

    def __post_init__(self) -> None:
        self.scale = get_scale(self.scale)
        self.pairwise = np.asarray(self.pairwise, dtype=np.int64).reshape(-1, 3)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_judgments(
        cls,
        participants: Sequence[Participant],
        statements: Sequence[Statement],
        judgments: Sequence[Judgment],
        scale: Scale | str,
        **kwargs: Any,
    ) -> "Profile":
        """Build a profile; ids must already be validated (unique, known) by the reader."""
        pidx = {p.id: i for i, p in enumerate(participants)}
        sidx = {s.id: j for j, s in enumerate(statements)}
        rows = np.fromiter((pidx[jd.participant] for jd in judgments), dtype=np.int64, count=len(judgments))
        cols = np.fromiter((sidx[jd.statement] for jd in judgments), dtype=np.int64, count=len(judgments))
        values = np.fromiter((jd.value for jd in judgments), dtype=float, count=len(judgments))
        explanations = {(int(i), int(j)): jd.explanation for i, j, jd in zip(rows, cols, judgments) if jd.explanation}
        return cls.from_arrays(participants, statements, rows, cols, values, scale, explanations=explanations, **kwargs)

    @classmethod
    def from_arrays(
        cls,
        participants: Sequence[Participant],
        statements: Sequence[Statement],
        rows: np.ndarray,
        cols: np.ndarray,
        values: np.ndarray,
        scale: Scale | str,
        **kwargs: Any,
    ) -> "Profile":
        """Build a profile from judgments as three arrays — participant index, statement index and
        value in the data's scale (a later entry for the same pair wins) — with no Python object per
        judgment. Utilities are float32 for large profiles (:func:`utility_dtype`)."""
        n, m = len(participants), len(statements)
        utilities = np.full((n, m), np.nan, dtype=utility_dtype(n, m))
        utilities[np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)] = to_utility(
            np.asarray(values, dtype=float), scale)
        observed = ~np.isnan(utilities)
        provenance = np.full((n, m), -1, dtype=np.int16)
        provenance[observed] = 0
        return cls(participants=list(participants), statements=list(statements), scale=scale, utilities=utilities,
                   observed=observed, provenance=provenance, **kwargs)

    # -- views --------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.participants)

    @property
    def m(self) -> int:
        return len(self.statements)

    @property
    def participant_ids(self) -> list[str]:
        return [p.id for p in self.participants]

    @property
    def statement_ids(self) -> list[str]:
        return [s.id for s in self.statements]

    def participant_index(self, pid: str) -> int:
        return self.participant_ids.index(pid)

    def statement_index(self, sid: str) -> int:
        return self.statement_ids.index(sid)

    def observed_values(self) -> np.ndarray:
        """Observed judgments in the data's own scale, NaN elsewhere."""
        return np.where(self.observed, to_data_scale(self.utilities, self.scale), np.nan)

    def groups(self) -> list[str | None]:
        return [p.group for p in self.participants]

    def provenance_of(self, i: int, j: int) -> str | None:
        k = int(self.provenance[i, j])
        return None if k < 0 else self.provenance_labels[k]

    # -- derived profiles (never mutate in place) ------------------------------------------------
    def hide(self, mask: np.ndarray) -> "Profile":
        """A copy with the entries under ``mask`` made unknown (for held-out evaluation)."""
        mask = np.asarray(mask, dtype=bool)
        utilities = self.utilities.copy()
        utilities[mask] = np.nan
        provenance = self.provenance.copy()
        provenance[mask] = -1
        return replace(
            self,
            utilities=utilities,
            observed=self.observed & ~mask,
            provenance=provenance,
            uncertainty=None if self.uncertainty is None else np.where(mask, np.nan, self.uncertainty),
            explanations={k: v for k, v in self.explanations.items() if not mask[k]},
        )

    def with_predictions(
        self,
        predicted: np.ndarray,
        label: str,
        *,
        uncertainty: np.ndarray | None = None,
        overwrite_observed: bool = False,
        rows: Sequence[int] | None = None,
        cols: Sequence[int] | None = None,
        reuse: bool = False,
    ) -> "Profile":
        """A copy whose unknown (or, if asked, all non-observed) entries take ``predicted`` where it is finite.

        ``predicted`` (and ``uncertainty``) cover the ``rows`` × ``cols`` of the profile (default: all);
        they are written in row blocks (views of the copies when the rows and columns are ranges), so no
        other n × m temporary is made. ``reuse``: the caller has no further use for ``predicted`` and
        ``uncertainty``; where one covers the whole profile in its dtype, it is overwritten (clipped, and the
        entries kept from this profile written in) and becomes the copy's array instead of a new n × m one."""
        n, m = self.utilities.shape
        rows = np.arange(n) if rows is None else np.asarray(rows, dtype=int)
        cols = np.arange(m) if cols is None else np.asarray(cols, dtype=int)
        predicted = np.asarray(predicted).reshape(rows.size, cols.size)
        if uncertainty is not None:
            uncertainty = np.asarray(uncertainty).reshape(rows.size, cols.size)
        whole = reuse and _block_index(rows, cols) == (slice(0, n), slice(0, m))

        def owned(a: np.ndarray | None) -> bool:
            return whole and a is not None and a.dtype == self.utilities.dtype and a.flags.c_contiguous \
                and a.flags.writeable

        labels = list(self.provenance_labels)
        if label not in labels:
            labels.append(label)
        code = labels.index(label)
        own_u, own_s = owned(predicted), owned(uncertainty)
        utilities = predicted if own_u else self.utilities.copy()
        provenance = self.provenance.copy()
        unc = self.uncertainty
        if uncertainty is not None:
            unc = uncertainty if own_s else (
                np.full((n, m), np.nan, dtype=self.utilities.dtype) if unc is None else unc.copy())
        for part in blocks(rows.size, cols.size):
            sub = _block_index(rows[part], cols)
            value = predicted[part]
            take = np.isfinite(value) & ~self.observed[sub]
            if not overwrite_observed:
                take &= np.isnan(self.utilities[sub])
            if own_u:  # the prediction is the copy: clip it, write back what is kept
                np.clip(value, 0.0, MAX_UTILITY, out=value)
                np.copyto(value, self.utilities[sub], where=~take)
            if own_s:
                kept = np.nan if self.uncertainty is None else self.uncertainty[sub]
                np.copyto(uncertainty[part], kept, where=~take)
            writes = [(provenance, code)]
            if not own_u:
                writes.append((utilities, np.clip(value, 0.0, MAX_UTILITY)))
            if uncertainty is not None and not own_s:
                writes.append((unc, uncertainty[part]))
            for target, new in writes:
                if isinstance(sub[0], slice):
                    np.copyto(target[sub], new, where=take, casting="unsafe")
                else:
                    block = target[sub]
                    np.copyto(block, new, where=take, casting="unsafe")
                    target[sub] = block
        return replace(self, utilities=utilities, provenance=provenance, provenance_labels=labels, uncertainty=unc)

    def add_statements(self, statements: Sequence[Statement]) -> "Profile":
        """A copy with new (unjudged) statement columns appended."""
        k = len(statements)
        pad = lambda a, v: np.concatenate([a, np.full((self.n, k), v, dtype=a.dtype)], axis=1)  # noqa: E731
        return replace(
            self,
            statements=self.statements + list(statements),
            utilities=pad(self.utilities, np.nan),
            observed=pad(self.observed, False),
            provenance=pad(self.provenance, -1),
            uncertainty=None if self.uncertainty is None else pad(self.uncertainty, np.nan),
        )

    def subset(self, participants: Sequence[int] | None = None, statements: Sequence[int] | None = None) -> "Profile":
        """A copy restricted to the given participant and statement indices (in that order)."""
        rows = np.arange(self.n) if participants is None else np.asarray(participants, dtype=int)
        cols = np.arange(self.m) if statements is None else np.asarray(statements, dtype=int)
        rpos = {int(i): a for a, i in enumerate(rows)}
        cpos = {int(j): b for b, j in enumerate(cols)}
        sub = np.ix_(rows, cols)
        return replace(
            self,
            participants=[self.participants[i] for i in rows],
            statements=[self.statements[j] for j in cols],
            utilities=self.utilities[sub],
            observed=self.observed[sub],
            provenance=self.provenance[sub],
            uncertainty=None if self.uncertainty is None else self.uncertainty[sub],
            explanations={(rpos[i], cpos[j]): t for (i, j), t in self.explanations.items() if i in rpos and j in cpos},
            pairwise=_reindex_pairwise(self.pairwise, rows, cols, self.n, self.m),
        )

    def summary(self) -> dict[str, Any]:
        """Counts for ``pnyx validate``."""
        return {
            "participants": self.n,
            "statements": self.m,
            "observed": int(self.observed.sum()),
            "pairwise": len(self.pairwise),
            "scale": self.scale.name,
            "excluded": dict(self.excluded),
        }


def _block_index(rows: np.ndarray, cols: np.ndarray) -> tuple:
    """An index of the rows × cols block: basic slices (a view) when both are ascending ranges, else np.ix_."""
    def as_slice(idx: np.ndarray) -> slice | None:
        if idx.size and idx[-1] - idx[0] == idx.size - 1 and (idx.size < 2 or np.all(np.diff(idx) == 1)):
            return slice(int(idx[0]), int(idx[-1]) + 1)
        return None

    r, c = as_slice(rows), as_slice(cols)
    return (r, c) if r is not None and c is not None else np.ix_(rows, cols)


def _reindex_pairwise(pairwise: np.ndarray, rows: np.ndarray, cols: np.ndarray, n: int, m: int) -> np.ndarray:
    """Comparisons whose participant and both statements are kept, in the new indices."""
    row_to = np.full(n, -1, dtype=np.int64)
    row_to[rows] = np.arange(len(rows))
    col_to = np.full(m, -1, dtype=np.int64)
    col_to[cols] = np.arange(len(cols))
    new = np.column_stack([row_to[pairwise[:, 0]], col_to[pairwise[:, 1]], col_to[pairwise[:, 2]]]) if len(pairwise) \
        else np.zeros((0, 3), dtype=np.int64)
    return new[(new >= 0).all(axis=1)]
