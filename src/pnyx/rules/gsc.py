"""The Generative Social Choice round rule over a fixed pool, plain and budgeted.

* ``gsc`` — Fish, Gölz, Parkes, Procaccia, Rusak, Shapira & Wüthrich, "Generative Social Choice"
  (arXiv 2309.01291, §4, the process behind Theorem 1): k rounds; round j serves r_j of the
  participants still unmatched (⌈n/k⌉ in the first n mod k rounds, ⌊n/k⌋ after, so the r_j sum to
  n). A candidate's score is the r_j-th largest utility among the unmatched; the best candidate is
  kept and its r_j unmatched participants with the highest utility for it are matched and removed.
* ``gsc-budgeted`` — Boehmer, Fish & Procaccia, "Generative Social Choice: The Next Generation"
  (arXiv 2505.22939, the budgeted process): statement α costs c(α) (words), the slate may cost B.
  For each utility level ℓ from the highest down, and for each group size j from large to small, the
  affordable statement with cost ≤ j·B/n and the most unmatched supporters at level ℓ
  (u_i(α) ≥ ℓ) is taken if it has at least ⌈c(α)·n/B⌉ of them; then that many supporters (highest
  utility first) are matched and removed and the same j is tried again, else j decreases. Over a
  fixed pool the candidate set only changes where j crosses some ⌈c(α)·n/B⌉, so only those j are
  visited.

Ties (:class:`~pnyx.rules.base.Tie`, all recorded):

* between candidates, by ``tiebreak``, among the candidates whose score is within ``tolerance`` of
  the best (each with the group of r participants it would be matched to):
  ``"least-served"`` (the default) keeps the one whose group the slate so far serves least (the
  lowest mean, over the group, of each member's best utility among the slate statements), then the
  largest *distinctive support*; ``"distinctive"`` the largest distinctive support — the mean utility
  of its group minus the mean utility of everyone else — so that each round speaks for a part of the
  population the others do not; ``"seen-first"`` in the first round (nothing on the slate yet) the
  candidate with the most observed judgments (``seen``: on vote data, the statement the most participants
  voted on, typically an early one everyone was shown), then distinctive support, and in later rounds as
  ``"least-served"`` — an option measured in ``benchmarks/portrayal.py``: on the shared Polis data more
  held-out coverage than least-served and less portrayal at k = 5 (benchmarks/README.md, Portrayal);
  ``"lowest"`` the lowest column (the order of entry). A column not yet
  on the slate goes before one that is (``repeated``). Any choice among exact ties keeps the paper's guarantee (BJR, its
  Theorem 1: the argument only uses that the chosen score is the best). A tolerance ε > 0 weakens it
  to ε-BJR: no coalition of ≥ n/k participants all rate a pool statement more than ε above what each
  gets from the statement matched to them (``check("bjr", …, d=ε)``).
* between participants at the cut-off utility of the matched group, those with the lowest mean
  utility over the round's candidates go first (they have the fewest alternatives left), then the
  lowest row.

Unknown utilities (NaN) are refused by ``gsc``/``gsc_round``; the budgeted rule counts them as
the lowest possible (−∞): such a participant is never counted as a supporter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from pnyx.blocks import blocks, column_counts
from pnyx.data import InputError
from pnyx.rules.base import RuleResult, Tie, lowest, register, tie, utilities
from pnyx.validation import check_utilities

TIEBREAKS = ("least-served", "distinctive", "seen-first", "lowest")
_SERVED_FIRST = ("a column not yet on the slate, then the group the slate serves least, then the largest distinctive "
                 "support, then the lowest column")
TIEBREAK_RULES = {
    "least-served": _SERVED_FIRST,
    "distinctive": "a column not yet on the slate, then the largest distinctive support, then the lowest column",
    "seen-first": _SERVED_FIRST,
    "seen-first, first round": "a column not yet on the slate, then the most observed judgments, then the largest "
                               "distinctive support, then the lowest column",
    "lowest": "lowest column index",
}
"""How each tiebreak decides among near-tied candidates, as the tie records (``Tie.broken_by``) and the report say it."""
_EXACT = 1e-9  # scores this close (relative) are the same number up to float noise


def near_tie_floor(best: float, tolerance: float) -> float:
    """The lowest score that is a near-tie of ``best``: within ``tolerance``, or equal to it up to float noise
    (relative 1e-9). Every near-tie of the rules here is a score at or above this."""
    return best - tolerance - _EXACT * (1.0 + abs(best))


def round_sizes(n: int, k: int) -> list[int]:
    """Participants matched per round: ⌈n/k⌉ for the first n mod k rounds, ⌊n/k⌋ after."""
    return [n // k + (1 if t < n % k else 0) for t in range(k)]


@dataclass
class GSCRound:
    candidate: int
    """Column of U kept this round."""
    score: float
    """Its r-th largest utility among the unmatched."""
    matched: np.ndarray
    """The r participants matched to it (row indices, by decreasing utility)."""
    ties: list[Tie] = field(default_factory=list)
    scores: np.ndarray | None = None
    """Every column's score this round."""
    distinctive: dict[int, float] = field(default_factory=dict)
    """Distinctive support of each candidate within ``tolerance`` of the best (column → value)."""
    served: dict[int, float] = field(default_factory=dict)
    """``least-served``: for the same candidates, how well the slate so far serves their group."""
    seen: dict[int, float] = field(default_factory=dict)
    """``seen-first``, first round: for the same candidates, their observed judgments."""


_SAMPLE = 20_000
"""Rows of the seeded sample from which a column's threshold is guessed (:class:`_Tops`; at most a quarter of n)."""

_SPARE = 0.5
"""The rule keeps about (1 + _SPARE)·r unmatched rows of each column it scores, so that the next rounds select
among those instead of reading the column again."""

_CHUNK = 8
"""The lazy rule scores this many columns, in order of their bounds, before it counts which of the others can
reach the best score so far (:func:`_reaching`)."""


def _reaching(U: np.ndarray, cols: np.ndarray, unmatched: np.ndarray, floor: float, scratch: np.ndarray) -> np.ndarray:
    """For each of ``cols``, how many unmatched rows have a utility of at least ``floor``: a column's r-th largest
    utility among the unmatched is at least ``floor`` when this is at least r. Compared at ``floor`` rounded to U's
    precision: no value of U lies between the two, so the count is never smaller. One pass over U's rows, every
    column counted (reading some of a row's columns costs about as much as reading all of them); ``scratch``: a
    boolean array of a block of U's rows (:func:`pnyx.blocks.blocks`), kept by a caller that counts every round."""
    low = U.dtype.type(floor)
    out = np.zeros(U.shape[1], dtype=np.int64)
    for part in blocks(U.shape[0], U.shape[1]):
        hit = np.greater_equal(U[part], low, out=scratch[:part.stop - part.start])
        hit &= unmatched[part, None]
        out += column_counts(hit)
    return out[cols]


def _least(U: np.ndarray, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each of ``cols``, the least utility among ``rows``, a block of (whole) rows at a time."""
    out = np.full(cols.size, np.inf)
    for part in blocks(rows.size, U.shape[1]):
        np.minimum(out, U[rows[part]][:, cols].min(axis=0), out=out)
    return out


def _top(values: np.ndarray, rows: np.ndarray, r: int, rank) -> tuple[np.ndarray, Tie | None]:
    """The r ≥ 1 rows with the largest values, and the participant tie at the cut, if any.

    At the cut, the rows with the lowest ``rank(rows)`` (distinct integers, asked only when there is a
    tie: the order of fewest alternatives, then lowest row) are taken, by selection.
    """
    u = values.size
    cut = np.partition(values, u - r)[u - r]
    above = np.flatnonzero(values > cut)
    at = np.flatnonzero(values == cut)
    need = r - above.size
    at_cut = None
    if at.size > need:
        take = at[np.argpartition(rank(rows[at]), need - 1)[:need]]
        at_cut = Tie(None, rows[at].tolist(), np.sort(rows[take]).tolist(),
                     "fewest alternatives (lowest mean utility over the candidates), then lowest row",
                     kind="participants", value=float(cut))
    else:
        take = at
    chosen = np.concatenate([above[np.argsort(-values[above], kind="stable")], np.sort(take)])
    return rows[chosen], at_cut


def transposed(U: np.ndarray) -> np.ndarray:
    """U.T as a C-ordered copy (each statement's column contiguous), written in blocks of rows: what
    :func:`gsc_round` and :func:`near_ties` read, made once by a caller that runs several rounds over one U."""
    W = np.empty((U.shape[1], U.shape[0]), dtype=U.dtype)
    for at in range(0, U.shape[0], 256):
        W[:, at:at + 256] = U[at:at + 256].T
    return W


class _Tops:
    """For each column asked about, every unmatched row whose utility is at least some threshold (rows ascending,
    with their utilities): while at least r of those rows are unmatched, the r-th largest utility among the
    unmatched and the group a round matches are found among them.

    ``W`` is U.T, C-ordered (:func:`transposed`), or None: then each column is copied from U when first read, so a
    caller that reads few of U's columns pays for few (the rule over a fixed pool). ``unmatched`` is read, not
    copied: the rule clears it as it matches participants and the sets shrink when next asked. Thresholds are
    guessed from a seeded sample of rows, at the rank four standard deviations beyond the sample's share of
    (1 + ``spare``)·r (so rarely too high); a column with fewer than r unmatched rows at or above its threshold is
    taken whole.
    """

    def __init__(self, U: np.ndarray, W: np.ndarray | None, unmatched: np.ndarray, spare: float = 0.0,
                 totals: dict[int, float] | None = None):
        self.U, self.unmatched, self.spare = U, unmatched, spare
        n, m = U.shape
        self.W = np.empty((m, n), dtype=U.dtype) if W is None else W
        """U.T, C-ordered, given whole; or U's columns in the order they were first read (:meth:`read`), so that
        the memory after the last one read is never touched."""
        self.slot = np.arange(m) if W is not None else np.full(m, -1)
        """The row of :attr:`W` that holds each column of U (−1: not read yet)."""
        self.sample = np.sort(np.random.default_rng(0).choice(n, min(_SAMPLE, n // 4), replace=False))
        self.rows: dict[int, np.ndarray] = {}
        self.values: dict[int, np.ndarray] = {}
        self.lower: dict[int, float] = {}
        """The threshold each column was read at (−∞: whole)."""
        self._totals = {} if totals is None else totals

    def read(self, cols: np.ndarray) -> np.ndarray:
        """The rows of :attr:`W` that hold ``cols``, those not yet held first copied from U after the last one, a
        block of U's rows at a time."""
        new = np.unique(cols[self.slot[cols] < 0])
        if new.size:
            at = int(self.slot.max()) + 1
            self.slot[new] = np.arange(at, at + new.size)
            for part in blocks(self.U.shape[0], self.U.shape[1]):
                self.W[at:at + new.size, part] = self.U[part, new].T
        return self.slot[cols]

    def column(self, c: int) -> np.ndarray:
        """Column c of U (a row of :attr:`W`)."""
        return self.W[self.read(np.array([c]))[0]]

    def total(self, c: int) -> float:
        """Column c's sum over every row (NaN skipped)."""
        if c not in self._totals:
            column = self.column(c)
            total = column.sum(dtype=np.float64)
            self._totals[c] = float(np.nansum(column, dtype=np.float64) if np.isnan(total) else total)
        return self._totals[c]

    def live(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """Column c's rows that are still unmatched, and their utilities."""
        keep = self.unmatched[self.rows[c]]
        if not keep.all():
            self.rows[c], self.values[c] = self.rows[c][keep], self.values[c][keep]
        return self.rows[c], self.values[c]

    def scores(self, cols: np.ndarray, r: int, floor: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
        """The r-th largest utility among the unmatched in each column of ``cols``, and whether it is exact: a
        column that kept fewer than r unmatched rows scores below its threshold, so one whose threshold is below
        ``floor`` is not read again and gets that threshold, an upper bound."""
        stale = [c for c in cols.tolist() if c not in self.rows or self.live(c)[0].size < r]
        again = [c for c in stale if self.lower.get(c, np.inf) >= floor]
        if again:
            self.fill(np.array(again), r)
        out = np.empty(cols.size)
        exact = np.ones(cols.size, dtype=bool)
        for b, c in enumerate(cols.tolist()):
            values = self.values[c]
            if values.size < r:
                out[b], exact[b] = self.lower[c], False
            else:
                out[b] = np.partition(values, values.size - r)[values.size - r]
        return out, exact

    def fill(self, cols: np.ndarray, r: int, lower: np.ndarray | None = None) -> None:
        """Read ``cols`` at the guessed thresholds (or at ``lower``, one per column), a block of columns at once."""
        held = self.read(cols)
        u = int(np.count_nonzero(self.unmatched))
        if lower is None:
            lower = self._guess(held, min(u, math.ceil((1 + self.spare) * r)), u)
        lower = np.asarray(lower, dtype=float)
        n = self.W.shape[1]
        index = np.int32 if n < 2**31 else np.int64
        for part in blocks(cols.size, n):
            chunk, at = cols[part], held[part]
            block = self.W[at[0]:at[-1] + 1] if (np.diff(at) == 1).all() else self.W[at]
            hit = block >= lower[part, None].astype(block.dtype)  # exact: each is one of U's values or ±∞
            hit &= self.unmatched
            flat = np.flatnonzero(hit)  # (2-D nonzero is several times slower)
            values = block.ravel()[flat]
            bounds = np.searchsorted(flat, np.arange(chunk.size + 1) * n).tolist()
            for b, (c, low) in enumerate(zip(chunk.tolist(), lower[part].tolist())):
                rows_c = (flat[bounds[b]:bounds[b + 1]] - b * n).astype(index)
                values_c = values[bounds[b]:bounds[b + 1]]
                if rows_c.size < r:
                    rows_c, low = np.flatnonzero(self.unmatched).astype(index), -np.inf
                    values_c = self.column(c)[rows_c]
                self.rows[c], self.values[c], self.lower[c] = rows_c, values_c, low

    def estimate(self, cols: np.ndarray, r: int) -> np.ndarray:
        """Each column's r-th largest utility among the unmatched, estimated from about 250 rows of the sample:
        the order in which the lazy rule first scores columns."""
        few = self.sample[::max(1, self.sample.size // 250)]
        few = few[self.unmatched[few]]
        if cols.size == 0 or few.size == 0:
            return np.zeros(cols.size)
        u = int(np.count_nonzero(self.unmatched))
        at = min(few.size - 1, max(0, few.size - int(np.ceil(r / u * few.size))))
        rows = self.U[few]  # (U's rows read whole: scattered reads of W's rows cost a cache line per entry)
        block = np.ascontiguousarray((rows if cols.size == rows.shape[1] else rows[:, cols]).T)
        return np.partition(block, at, axis=1)[:, at]

    def _guess(self, held: np.ndarray, want: int, u: int) -> np.ndarray:
        """Thresholds for the columns in rows ``held`` of :attr:`W`."""
        live = self.sample[self.unmatched[self.sample]]
        rank = want / u * live.size
        rank = int(np.ceil(rank + 4.0 * np.sqrt(rank) + 10))
        if rank >= live.size:
            return np.full(held.size, -np.inf)
        return np.partition(self.W[np.ix_(held, live)], live.size - rank, axis=1)[:, live.size - rank]


@dataclass
class _RowSums:
    """How many rows :func:`_fewest_alternatives` was asked about at the cuts and, once that is enough, every row's
    sum: over the pool for one round, over all of U's columns for the rule, which keeps this across its rounds."""
    asked: int = 0
    sums: np.ndarray | None = None


def _fewest_alternatives(U: np.ndarray, pool: np.ndarray | None, whole: _RowSums | None = None):
    """``rank`` for :func:`_top`: the given rows' places among themselves when ordered by mean utility over
    ``pool`` (default every column), then by row. Only the rows asked about are summed (the participants tied at
    a cut, often few), each row's pool columns in order, so that a pool and the copy ``U[:, pool]`` rank alike,
    until a quarter of the rows have been asked about: then every row is summed, once.

    ``whole``: kept by a caller running several rounds over one U whose pools leave out few columns (the rule):
    once its rounds have asked about half of the rows, every row's sum over all columns is kept, and a row's
    pool sum is that minus the left-out columns' (the same up to float rounding)."""
    n, m = U.shape
    cols = None if pool is None or pool.size == m else np.asarray(pool)
    across = whole is not None
    rest = None if cols is None or not across else np.setdiff1d(np.arange(m), cols)
    whole = _RowSums() if whole is None else whole

    def sums(rows: np.ndarray | slice) -> np.ndarray:
        block = U[rows]
        return (block if cols is None else block[:, cols]).sum(axis=1, dtype=np.float64)

    def rank(rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        whole.asked += rows.size
        if whole.sums is None and (2 if across else 4) * whole.asked > n:
            whole.sums = U.sum(axis=1, dtype=np.float64) if across else np.concatenate(
                [sums(part) for part in blocks(n, m)])
        if whole.sums is None:
            kept = np.concatenate([sums(rows[part]) for part in blocks(rows.size, m)])
        else:
            kept = whole.sums[rows]
            if rest is not None:
                kept = kept - U[np.ix_(rows, rest)].sum(axis=1, dtype=np.float64)
        place = np.empty(rows.size, dtype=np.int64)
        place[np.lexsort((rows, kept))] = np.arange(rows.size)
        return place

    return rank


def _support(tops: _Tops, c: int, cut: float, r: int, served: np.ndarray | None, rank) -> tuple[float, float]:
    """Distinctive support of column c's group — the r unmatched rows :func:`_top` matches, the cut-off utility
    being ``cut`` — and the mean of ``served`` over that group (0 without ``served``), from sums: the group is
    not formed, nor are the rows at the cut ranked unless ``served`` asks which of them it takes."""
    rows, values = tops.live(c)
    above = values > cut
    need = r - int(np.count_nonzero(above))
    inside = float(values[above].sum(dtype=np.float64)) + need * cut
    n = tops.U.shape[0]
    distinct = inside / r if n == r else inside / r - (tops.total(c) - inside) / (n - r)
    if served is None:
        return distinct, 0.0
    at = rows[values == cut]
    if at.size > need:
        at = at[np.argpartition(rank(at), need - 1)[:need]]
    return distinct, float((served[rows[above]].sum() + served[at].sum()) / r)


def distinctive_support(U: np.ndarray, group: np.ndarray, column: int) -> float:
    """Mean utility for ``column`` inside ``group`` minus the mean over every other row of U (the
    group's mean alone when the group is everyone)."""
    inside = U[group, column]
    rest = U.shape[0] - group.size
    if rest == 0:
        return float(inside.mean())
    return float(inside.mean() - (np.nansum(U[:, column]) - inside.sum()) / rest)


def gsc_round(U: np.ndarray, unmatched: np.ndarray, r: int, *, tolerance: float = 0.0,
              tiebreak: str = "least-served", repeated: np.ndarray | None = None,
              served: np.ndarray | None = None, seen: np.ndarray | None = None,
              columns: np.ndarray | None = None, pool: np.ndarray | None = None) -> GSCRound:
    """One round of the GSC rule (Fish et al., arXiv 2309.01291, §4).

    Parameters
    ----------
    U
        n × m utilities, every entry of the unmatched rows known (fill unknown ones with a
        discriminative backend, :mod:`pnyx.queries`).
    unmatched
        Boolean mask of length n with at least r entries set.
    r
        Participants to match this round (≥ 1).
    tolerance
        Candidates whose score is within this of the best are near-ties, decided by ``tiebreak``.
    tiebreak
        ``"least-served"``, ``"distinctive"``, ``"seen-first"`` or ``"lowest"`` (see the module docstring).
    repeated
        Boolean mask of columns already on the slate: among near-ties a column not yet on it wins.
    served
        Each participant's best utility among the slate statements so far (``least-served``;
        default: nothing on the slate yet, 0 for everyone).
    seen
        ``seen-first``: each column's number of observed (not predicted) judgments.
    columns
        U.T as a C-ordered array (:func:`transposed`), from a caller running several rounds over one U;
        default: each column the round reads is copied from U (the pool's).
    pool
        The columns of U that compete (default all), as if U were ``U[:, pool]`` but without that copy:
        ``repeated`` and ``seen`` are then given per pool column, and the result's columns are positions
        in ``pool``; the other columns may hold unknown utilities.

    Returns
    -------
    GSCRound
        The column with the largest r-th highest utility among the unmatched rows, its r unmatched
        rows with the highest utility for it, every column's score and the ties met.

    Raises
    ------
    InputError
        A malformed matrix or mask, r out of range, an unknown utility among the unmatched rows, or
        ``seen-first`` without ``seen``.

    Examples
    --------
    Columns 0 and 1 both score 3 for rows {0, 1}; everyone else likes column 0 less, so it is the more
    distinctive choice:

    >>> U = np.array([[4, 4, 1], [3, 3, 4], [0, 2, 4], [1, 0, 0]], dtype=float)
    >>> step = gsc_round(U, np.array([True, True, False, True]), 2)
    >>> step.candidate, step.score, step.ties[0].criteria["distinctive"]
    (0, 3.0, {0: 3.0, 1: 2.5})
    """
    unmatched = np.asarray(unmatched, dtype=bool)
    U = check_utilities(U, allow_nan=pool is not None, finite_in=pool, rows=unmatched)
    if unmatched.shape != (U.shape[0],):
        raise InputError(f"gsc_round needs a mask of length n = {U.shape[0]}; got {unmatched.shape}", field="unmatched")
    u = int(np.count_nonzero(unmatched))
    if not 1 <= r <= u:
        raise InputError(f"round size r = {r} must be between 1 and the {u} unmatched participants", field="r")
    m = U.shape[1]
    cols = np.arange(m) if pool is None else np.asarray(pool, dtype=np.intp)
    seen = _check_tiebreak(tiebreak, seen, cols.size)
    tops = _Tops(U, _columns(U, columns), unmatched)
    scores = np.full(m, -np.inf)
    scores[cols] = tops.scores(cols, r)[0]
    if pool is None:
        return _decide(tops, r, scores, tolerance, tiebreak, repeated, served=served, seen=seen)
    step = _decide(tops, r, scores, tolerance, tiebreak, _in_columns(repeated, cols, m, False), served=served,
                   pool=cols, seen=_in_columns(seen, cols, m, 0.0))
    return _in_pool(step, cols)


def _in_columns(values: np.ndarray | None, pool: np.ndarray, m: int, fill) -> np.ndarray | None:
    """Per-pool-column ``values`` as one per column of U (``fill`` elsewhere)."""
    if values is None:
        return None
    values = np.asarray(values)
    out = np.full(m, fill, dtype=values.dtype)
    out[pool] = values
    return out


def _in_pool(step: GSCRound, pool: np.ndarray) -> GSCRound:
    """``step``, decided over the columns ``pool`` of U, with its columns as positions in ``pool``."""
    at = {int(c): p for p, c in enumerate(pool.tolist())}
    for entry in step.ties:
        entry.relabel(at)
    keyed = lambda d: {at[c]: v for c, v in d.items()}  # noqa: E731
    return GSCRound(at[step.candidate], step.score, step.matched, step.ties, step.scores[pool],
                    keyed(step.distinctive), keyed(step.served), keyed(step.seen))


def _columns(U: np.ndarray, columns: np.ndarray | None) -> np.ndarray | None:
    """``columns`` checked to be U.T (C-ordered), or None."""
    if columns is not None and (columns.shape != U.shape[::-1] or columns.dtype != U.dtype
                                or not columns.flags.c_contiguous):
        raise InputError(f"columns must be U.T as a C-ordered {U.dtype} array of shape {U.shape[::-1]}",
                         field="columns")
    return columns


def check_tiebreak(tiebreak: str) -> None:
    """Raise :class:`~pnyx.data.InputError` (field ``tiebreak``) unless ``tiebreak`` is one of :data:`TIEBREAKS`."""
    if tiebreak not in TIEBREAKS:
        raise InputError(f"unknown tiebreak {tiebreak!r}; known: {', '.join(TIEBREAKS)}", field="tiebreak")


def _check_tiebreak(tiebreak: str, seen: np.ndarray | None, m: int) -> np.ndarray | None:
    """``seen`` as m numbers when ``tiebreak`` needs it (else None); InputError for an unknown tiebreak."""
    check_tiebreak(tiebreak)
    if tiebreak != "seen-first":
        return None
    if seen is None or np.shape(seen) != (m,):
        raise InputError(f"tiebreak seen-first needs each of the {m} columns' number of observed judgments (seen)",
                         field="seen")
    return np.asarray(seen, dtype=float)


def _decide(tops: _Tops, r: int, scores: np.ndarray, tolerance: float, tiebreak: str,
            repeated: np.ndarray | None, served: np.ndarray | None = None,
            pool: np.ndarray | None = None, seen: np.ndarray | None = None,
            whole: _RowSums | None = None) -> GSCRound:
    """The round's choice given every candidate's score (−∞ for a column that cannot be near the best), each
    near-tie's column read by ``tops``; ``served`` and ``seen`` as for :func:`gsc_round`; ``pool``: the round's
    candidate columns (default all), over which a participant's alternatives are averaged; ``whole`` as for
    :func:`_fewest_alternatives`."""
    U = tops.U
    best = float(scores.max())
    near = np.flatnonzero(scores >= near_tie_floor(best, tolerance)).tolist()
    rank = _fewest_alternatives(U, pool, whole)
    by_content = tiebreak != "lowest" and len(near) > 1
    first_seen = by_content and tiebreak == "seen-first" and served is None
    ranked = by_content and tiebreak in ("least-served", "seen-first") and not first_seen
    slate_value = None if served is None or not ranked else np.asarray(served, dtype=float)
    distinct: dict[int, float] = {}
    least: dict[int, float] = {}
    if by_content:
        for j in near:
            distinct[j], value = _support(tops, j, float(scores[j]), r, slate_value, rank)
            if ranked:
                least[j] = value
    most = {j: float(seen[j]) for j in near} if first_seen else {}
    fresh = np.ones(U.shape[1], bool) if repeated is None else ~np.asarray(repeated, bool)
    if not by_content:
        c = near[0]
    else:
        c = max(near, key=lambda j: (bool(fresh[j]), most.get(j, 0.0), -round(least.get(j, 0.0), 9),
                                     round(distinct[j], 9), -j))
    ties: list[Tie] = []
    if len(near) > 1:
        how = TIEBREAK_RULES["seen-first, first round" if first_seen else tiebreak]
        criteria = {name: values for name, values in (("seen", most), ("served", least), ("distinctive", distinct))
                    if values}
        ties.append(Tie(None, near, c, how, value=best, criteria=criteria, tolerance=float(tolerance)))
    rows, values = tops.live(c)
    matched, at_cut = _top(values, rows, r, rank)
    if at_cut:
        ties.append(at_cut)
    return GSCRound(c, float(scores[c]), matched.astype(np.intp), ties, scores, distinct, least, most)


def near_ties(U: np.ndarray, unmatched: np.ndarray, r: int, scores: np.ndarray, tolerance: float,
              pool: np.ndarray, columns: np.ndarray | None = None,
              totals: dict[int, float] | None = None) -> dict[int, float]:
    """Distinctive support of every column of ``pool`` whose round score is within ``tolerance`` of the
    best, from the scores :func:`gsc_round` already computed (``scores[j]`` for each column j of U; the
    columns outside ``pool`` are ignored); empty when only one is. Each near column is read at its score, so
    that only the rows of its group and of its cut are kept; ``columns`` as for :func:`gsc_round`; ``totals``: a
    dict kept by a caller running several rounds over one U, each column's sum over all rows as computed.
    """
    full = np.full(U.shape[1], -np.inf)
    full[pool] = np.asarray(scores, dtype=float)[pool]
    best = float(full.max())
    near = np.flatnonzero(full >= near_tie_floor(best, tolerance))
    if near.size < 2:
        return {}
    tops = _Tops(U, _columns(U, columns), np.asarray(unmatched, dtype=bool), totals=totals)
    tops.fill(near, r, lower=full[near])  # a score off the column's r-th largest only widens what is read
    cuts = tops.scores(near, r)[0]
    return {c: _support(tops, c, float(cut), r, None, None)[0] for c, cut in zip(near.tolist(), cuts)}


@register("gsc", approval=False)
def gsc(U: np.ndarray, k: int, *, tolerance: float = 0.0, tiebreak: str = "least-served",
        seen: np.ndarray | None = None) -> RuleResult:
    """The Generative Social Choice round rule over a fixed pool of candidate statements (cardinal
    utilities): k rounds of :func:`gsc_round`, each column chosen at most once (``tolerance``,
    ``tiebreak`` and ``seen`` as there).

    The same choices as :func:`gsc_round` round by round, computed lazily: a column's r-th highest
    utility among the unmatched can only fall as participants are matched (for the same r), so last
    round's score bounds this round's (all bounds are reset when r shrinks by one). Each round scores
    the ``_CHUNK`` columns with the highest bounds (at first, the highest sampled estimates), each
    among the rows it kept when last read (:class:`_Tops`) while enough of them are unmatched; then
    one pass counts, for every other column whose bound reaches the near-tie range of the best score
    so far, its unmatched rows in that range (:func:`_reaching`): only a column with at least r of
    them can be a near-tie, and only those are scored, the others bounded by the range's floor. In the
    last round every column is scored at once (its least utility among the unmatched). Counts and least
    utilities are passes over U's rows; only a column that is scored is copied out of U (on the scale
    benchmark's profiles about a quarter of them), so no copy of U.T is made.
    """
    U = utilities(U, k, allow_nan=False)
    n, m = U.shape
    if k > n:
        raise InputError(f"k = {k} is larger than the number of participants ({n})", field="k")
    seen = _check_tiebreak(tiebreak, seen, m)
    unmatched = np.ones(n, dtype=bool)
    assignment = np.full(n, -1)
    bound = np.full(m, np.inf)
    chosen = np.zeros(m, dtype=bool)
    slate: list[int] = []
    scores: list[float] = []
    ties: list[Tie] = []
    sizes = round_sizes(n, k)
    tops = _Tops(U, None, unmatched, spare=_SPARE)
    scratch = np.empty((next(blocks(n, m)).stop, m), dtype=bool)
    served, whole = None, _RowSums()
    for t, r in enumerate(sizes):
        if t and r < sizes[t - 1]:
            bound[:] = np.inf
        todo = np.flatnonzero(~chosen)
        score = np.full(m, -np.inf)
        live = np.flatnonzero(unmatched)
        if live.size == r:  # the last round: a column's score is its least utility among the unmatched
            score[todo] = bound[todo] = _least(U, todo, live)
            best = float(score.max())
            near = np.flatnonzero(score >= near_tie_floor(best, tolerance))
            tops.fill(near, r, lower=score[near])  # the rows _decide reads for the near-ties and the chosen one
        else:
            fresh = np.isinf(bound[todo])
            first = todo[fresh][np.argsort(-tops.estimate(todo[fresh], r), kind="stable")]
            todo = np.concatenate([first, todo[~fresh][np.argsort(-bound[todo[~fresh]], kind="stable")]])
            best, at, floor = -np.inf, 0, -np.inf
            while at < todo.size and bound[todo[at]] >= floor:
                cols = todo[at:at + _CHUNK]
                if np.isfinite(best) and todo.size - at > _CHUNK:
                    rest = todo[at:][bound[todo[at:]] >= floor]
                    reach = _reaching(U, rest, unmatched, floor, scratch) >= r
                    bound[rest[~reach]] = np.minimum(bound[rest[~reach]], floor)  # each scores below floor
                    cols, at = rest[reach], todo.size
                cols = np.sort(cols)
                bound[cols], exact = tops.scores(cols, r, floor)
                score[cols[exact]] = bound[cols[exact]]
                if exact.any():
                    best = max(best, float(bound[cols[exact]].max()))
                    floor = near_tie_floor(best, tolerance)
                at += cols.size
        step = _decide(tops, r, score, tolerance, tiebreak, None, served=served, pool=np.flatnonzero(~chosen),
                       seen=seen, whole=whole)
        for entry in step.ties:
            entry.round = t
        ties += step.ties
        slate.append(step.candidate)
        scores.append(step.score)
        chosen[step.candidate] = True
        unmatched[step.matched] = False
        assignment[step.matched] = t
        column = tops.column(step.candidate)
        served = column.copy() if served is None else np.maximum(served, column)
    return RuleResult(slate, "gsc", k, scores, ties, "ok", {"assignment": assignment, "round_sizes": sizes})


@register("gsc-budgeted", approval=False)
def gsc_budgeted(
    U: np.ndarray,
    k: int | None = None,
    *,
    budget: float,
    costs: Sequence[float] | np.ndarray | None = None,
    levels: Sequence[float] | None = None,
) -> RuleResult:
    """The budgeted GSC process over a fixed pool (arXiv 2505.22939): slate cost ≤ ``budget``, at most k statements.

    ``costs``: cost per column (default 1 each; in pnyx, :attr:`pnyx.data.Statement.cost`, the
    word count). ``levels``: utility levels, tried from the highest (default: the distinct
    finite values of U).
    """
    U = utilities(U, k if k is not None else 1, allow_nan=False)
    n, m = U.shape
    k = m if k is None else k
    c = np.ones(m) if costs is None else np.asarray(costs, dtype=float)
    if c.shape != (m,) or not (c > 0).all():
        raise InputError(f"costs must be {m} positive numbers, one per column", field="costs")
    if not budget > 0:
        raise InputError(f"budget must be positive, got {budget!r}", field="budget")
    need = np.ceil(np.round(c * n / budget, 9)).astype(int)  # ⌈c·n/B⌉, robust to float noise
    levels = np.unique(U[np.isfinite(U)])[::-1] if levels is None else np.sort(np.asarray(levels, float))[::-1]
    unmatched = np.ones(n, dtype=bool)
    assignment = np.full(n, -1)
    chosen = np.zeros(m, dtype=bool)
    slate: list[int] = []
    scores: list[int] = []
    ties: list[Tie] = []
    rounds: list[dict] = []
    spent = 0.0
    for level in levels:
        for j in np.unique(need)[::-1]:
            while len(slate) < k and unmatched.any():
                open_ = ~chosen & (need <= j) & (spent + c <= budget + 1e-9)
                if not open_.any():
                    break
                support = np.where(open_, (U[unmatched] >= level).sum(axis=0), -1)
                a, tied = lowest(support, support.max())
                if support[a] < need[a]:
                    break
                if len(tied) > 1:
                    ties.append(tie(len(slate), tied, a))
                rows = np.flatnonzero(unmatched & (U[:, a] >= level))
                group, at_cut = _top(U[rows, a], rows, int(need[a]), lambda tied: tied)
                if at_cut:
                    at_cut.round, at_cut.broken_by = len(slate), "lowest row index"
                    ties.append(at_cut)
                unmatched[group] = False
                assignment[group] = len(slate)
                chosen[a] = True
                spent += c[a]
                slate.append(int(a))
                scores.append(int(support[a]))
                rounds.append({"statement": int(a), "level": float(level), "group_size": int(j),
                               "supporters": int(support[a]), "matched": group.tolist(), "cost": float(c[a])})
    return RuleResult(slate, "gsc-budgeted", k, scores, ties, "ok",
                      {"assignment": assignment, "budget": budget, "spent": spent, "rounds": rounds,
                       "unmatched": int(unmatched.sum())})
