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

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from pnyx.data import InputError
from pnyx.rules.base import RuleResult, Tie, lowest, register, tie, utilities
from pnyx.validation import check_utilities

TIEBREAKS = ("least-served", "distinctive", "seen-first", "lowest")
_EXACT = 1e-9  # scores this close (relative) are the same number up to float noise


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


_BLOCK_ENTRIES = 1 << 23
"""Entries per column block when scoring: bounds the working memory of a round (64 MB in float64)."""


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


def _scores(U: np.ndarray, rows: np.ndarray | None, r: int, columns: np.ndarray) -> np.ndarray:
    """The r-th largest utility in each of ``columns`` among ``rows`` (None: all rows), by selection
    (``np.partition``) over column blocks: no copy of the rows beyond one block at a time. The other
    rows are set below every utility in the block (to distinct values: np.partition slows down on
    many equal ones), so the r-th largest of a whole column is the one among ``rows``."""
    n = U.shape[0]
    gone = None
    if rows is not None and rows.size < n:
        keep = np.zeros(n, dtype=bool)
        keep[rows] = True
        gone = np.flatnonzero(~keep)
    out = np.empty(columns.size, dtype=U.dtype)
    step = max(1, _BLOCK_ENTRIES // max(n, 1))
    for at in range(0, columns.size, step):
        cols = columns[at:at + step]
        contiguous = cols[-1] - cols[0] == cols.size - 1
        block = U[:, cols[0]:cols[-1] + 1].copy() if contiguous else U[:, cols]
        if gone is not None:
            block[gone] = (-1.0 - gone)[:, None]
        block.partition(n - r, axis=0)
        out[at:at + step] = block[n - r]
    return out


_SAMPLE = 20_000
"""Rows of the seeded sample from which :func:`_rth_largest` guesses a threshold."""


def _transposed(U: np.ndarray) -> np.ndarray:
    """U.T as a C-ordered copy, written in row blocks (cache-friendly, unlike one strided copy)."""
    W = np.empty((U.shape[1], U.shape[0]), dtype=U.dtype)
    for at in range(0, U.shape[0], 4096):
        W[:, at:at + 4096] = U[at:at + 4096].T
    return W


def _rth_largest(W: np.ndarray, cols: np.ndarray, r: int, unmatched: int, sample: np.ndarray,
                 mask: np.ndarray) -> np.ndarray:
    """The r-th largest of each row ``W[c]`` (c in ``cols``) over all n entries, where the ``n − unmatched``
    matched entries are negative and every other one is ≥ 0: exact, by selection among the entries at or
    above a threshold guessed from a seeded sample of rows (a rank 4 standard deviations below the
    sample's, so rarely too high), over the whole row when fewer than r entries reach it."""
    n = W.shape[1]
    if 4 * sample.size > n:  # a sample this large saves nothing: one selection over the whole block
        return np.partition(W[cols], n - r, axis=1)[:, n - r].astype(np.float64)
    live = sample[mask[sample]]
    out = np.empty(cols.size, dtype=np.float64)
    rank = r / unmatched * live.size
    rank = int(np.ceil(rank + 4.0 * np.sqrt(rank) + 10))
    for b, c in enumerate(cols):
        row = W[c]
        if rank < live.size:
            guess = np.partition(row[live], live.size - rank)[live.size - rank]
            top = row[row >= guess]
            if top.size >= r:
                out[b] = np.partition(top, top.size - r)[top.size - r]
                continue
        out[b] = np.partition(row, n - r)[n - r]
    return out


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
              served: np.ndarray | None = None, seen: np.ndarray | None = None) -> GSCRound:
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
    U = check_utilities(U, allow_nan=False, rows=unmatched)
    rows = np.flatnonzero(unmatched)
    if unmatched.shape != (U.shape[0],):
        raise InputError(f"gsc_round needs a mask of length n = {U.shape[0]}; got {unmatched.shape}", field="unmatched")
    if not 1 <= r <= rows.size:
        raise InputError(f"round size r = {r} must be between 1 and the {rows.size} unmatched participants", field="r")
    seen = _check_tiebreak(tiebreak, seen, U.shape[1])
    scores = _scores(U, None if rows.size == U.shape[0] else rows, r, np.arange(U.shape[1])).astype(np.float64)
    return _decide(U, rows, r, scores, tolerance, tiebreak, repeated, served=served, seen=seen)


def _check_tiebreak(tiebreak: str, seen: np.ndarray | None, m: int) -> np.ndarray | None:
    """``seen`` as m numbers when ``tiebreak`` needs it (else None); InputError for an unknown tiebreak."""
    if tiebreak not in TIEBREAKS:
        raise InputError(f"unknown tiebreak {tiebreak!r}; known: {', '.join(TIEBREAKS)}", field="tiebreak")
    if tiebreak != "seen-first":
        return None
    if seen is None or np.shape(seen) != (m,):
        raise InputError(f"tiebreak seen-first needs each of the {m} columns' number of observed judgments (seen)",
                         field="seen")
    return np.asarray(seen, dtype=float)


def _decide(U: np.ndarray, rows: np.ndarray, r: int, scores: np.ndarray, tolerance: float, tiebreak: str,
            repeated: np.ndarray | None, served: np.ndarray | None = None,
            pool: np.ndarray | None = None, seen: np.ndarray | None = None) -> GSCRound:
    """The round's choice given every candidate's score (−∞ for a column that cannot be near the best);
    ``served`` and ``seen`` as for :func:`gsc_round`; ``pool``: the round's candidate columns (default all),
    over which a participant's alternatives are averaged."""
    best = float(scores.max())
    near = np.flatnonzero(scores >= best - tolerance - _EXACT * (1.0 + abs(best)))

    ranks: list[np.ndarray] = []

    def alternatives(tied: np.ndarray) -> np.ndarray:
        if not ranks:  # every row's place by (mean over the pool, row), once per round and only if a cut is tied
            total = U.sum(axis=1, dtype=np.float64)
            if pool is not None and pool.size < U.shape[1]:
                total -= U[:, np.setdiff1d(np.arange(U.shape[1]), pool)].sum(axis=1, dtype=np.float64)
            means = total / (U.shape[1] if pool is None else pool.size)
            place = np.empty(U.shape[0], dtype=np.int64)
            place[np.lexsort((np.arange(U.shape[0]), means))] = np.arange(U.shape[0])
            ranks.append(place)
        return ranks[0][tied]

    by_content = tiebreak != "lowest" and near.size > 1
    groups = {int(c): _top(U[rows, c], rows, r, alternatives) for c in (near if by_content else near[:1])}
    distinct = {c: distinctive_support(U, g, c) for c, (g, _) in groups.items()} if by_content else {}
    slate_value = np.zeros(U.shape[0]) if served is None else np.asarray(served, dtype=float)
    first_seen = by_content and tiebreak == "seen-first" and served is None
    most = {c: float(seen[c]) for c in groups} if first_seen else {}
    least = ({c: float(slate_value[g].mean()) for c, (g, _) in groups.items()}
             if by_content and tiebreak in ("least-served", "seen-first") and not first_seen else {})
    fresh = np.ones(U.shape[1], bool) if repeated is None else ~np.asarray(repeated, bool)
    if not by_content:
        c = int(near[0])
    else:
        c = max(groups, key=lambda j: (bool(fresh[j]), most.get(j, 0.0), -round(least.get(j, 0.0), 9),
                                       round(distinct[j], 9), -j))
    ties: list[Tie] = []
    if near.size > 1:
        served_first = ("a column not yet on the slate, then the group the slate serves least, then the largest "
                        "distinctive support, then the lowest column")
        how = {"lowest": "lowest column index",
               "distinctive": "a column not yet on the slate, then the largest distinctive support, then the lowest column",
               "least-served": served_first,
               "seen-first": served_first if not first_seen else
               "a column not yet on the slate, then the most observed judgments, then the largest distinctive support, "
               "then the lowest column"}[tiebreak]
        criteria = {name: values for name, values in (("seen", most), ("served", least), ("distinctive", distinct))
                    if values}
        ties.append(Tie(None, near.tolist(), c, how, value=best, criteria=criteria, tolerance=float(tolerance)))
    matched, at_cut = groups[c]
    if at_cut:
        ties.append(at_cut)
    return GSCRound(c, float(scores[c]), matched, ties, scores, distinct, least, most)


def near_ties(U: np.ndarray, unmatched: np.ndarray, r: int, scores: np.ndarray, tolerance: float,
              pool: np.ndarray) -> dict[int, float]:
    """Distinctive support of every column of ``pool`` whose round score is within ``tolerance`` of the
    best, from the scores :func:`gsc_round` already computed (``scores[j]`` for each column j of U; the
    columns outside ``pool`` are ignored), without scoring the columns again; empty when only one is.
    """
    full = np.full(U.shape[1], -np.inf)
    full[pool] = np.asarray(scores, dtype=float)[pool]
    return _decide(U, np.flatnonzero(unmatched), r, full, tolerance, "distinctive", None, pool=pool).distinctive


@register("gsc", approval=False)
def gsc(U: np.ndarray, k: int, *, tolerance: float = 0.0, tiebreak: str = "least-served",
        seen: np.ndarray | None = None) -> RuleResult:
    """The Generative Social Choice round rule over a fixed pool of candidate statements (cardinal
    utilities): k rounds of :func:`gsc_round`, each column chosen at most once (``tolerance``,
    ``tiebreak`` and ``seen`` as there).

    The same choices as :func:`gsc_round` round by round, computed lazily: a column's r-th highest
    utility among the unmatched can only fall as participants are matched (for the same r), so last
    round's score bounds this round's, and only the columns whose bound reaches the near-tie range of
    the best score found so far are scored again (all of them when r shrinks by one).
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
    W = _transposed(U)  # a copy (never a view of U): each statement's column contiguous; matched rows set below 0
    sample = np.sort(np.random.default_rng(0).choice(n, min(n, _SAMPLE), replace=False))
    step_cols = max(1, _BLOCK_ENTRIES // n)
    for t, r in enumerate(sizes):
        if t and r < sizes[t - 1]:
            bound[:] = np.inf
        rows = np.flatnonzero(unmatched)
        todo = np.flatnonzero(~chosen)
        todo = todo[np.argsort(-bound[todo], kind="stable")]
        score = np.full(m, -np.inf)
        best, at, chunk = -np.inf, 0, 8
        while at < todo.size and bound[todo[at]] >= best - tolerance - _EXACT * (1.0 + abs(best)):
            cols = np.sort(todo[at:at + (step_cols if np.isinf(bound[todo[at]]) else chunk)])
            score[cols] = _rth_largest(W, cols, r, rows.size, sample, unmatched)
            bound[cols] = score[cols]
            best = max(best, float(score[cols].max()))
            at += cols.size
        served = U[:, slate].max(axis=1) if slate else None
        step = _decide(U, rows, r, score, tolerance, tiebreak, None, served=served, pool=np.flatnonzero(~chosen),
                       seen=seen)
        for entry in step.ties:
            entry.round = t
        ties += step.ties
        slate.append(step.candidate)
        scores.append(step.score)
        chosen[step.candidate] = True
        unmatched[step.matched] = False
        assignment[step.matched] = t
        matched = np.sort(step.matched)
        W[:, matched] = -1.0 - matched  # distinct values: np.partition slows down on many equal ones
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
