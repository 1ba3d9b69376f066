"""Adaptive queries: which (participant, statement) judgments a GSC round needs, and when it is settled.

A round of the GSC process (Fish et al., arXiv 2309.01291, §4; :func:`pnyx.rules.gsc.gsc_round`)
keeps the candidate whose r-th highest utility among the unmatched participants is largest and
matches its r best-served unmatched participants. Asking an expensive oracle (an LLM, a person) for
every (candidate, unmatched participant) pair is the paper's implementation; most of those answers
cannot change the choice. With incomplete votes a proportional outcome needs adaptively collected
judgments (Halpern, Kehne, Procaccia, Tucker-Foltz & Wüthrich, "Representation with Incomplete
Votes", arXiv 2211.15608); this module chooses them.

The model. Each utility u_ic is either *known* (observed in the data or answered by the oracle) or
estimated by a cheap predictor with a standard deviation s_ic (``cf`` gives
:attr:`pnyx.queries.base.Prediction.uncertainty`; LLM ratings give one from the log-probabilities),
read as u_ic ~ N(v_ic, s_ic²), independent across entries. For a threshold t the number of unmatched
participants with u_ic ≥ t, N_c(t), has mean μ_c(t) = Σ_i P(u_ic ≥ t) and variance
σ_c²(t) = Σ_i p(1 − p); the candidate's r-th utility t_c is ≥ t exactly when N_c(t) ≥ r. Its
confidence bounds (normal approximation of N_c, z standard deviations):

* lower L_c = sup { t : μ_c(t) − z σ_c(t) ≥ r },  upper H_c = inf { t : μ_c(t) + z σ_c(t) < r },

both equal to the exact r-th utility once every entry that matters is known. The round's *choice is
settled* when the leader's lower bound is at least every other candidate's upper bound (less the
rule's near-tie ``tolerance``); its *matched group is settled* when no unknown entry of the leader's
column is within z standard deviations of its r-th utility.

Queries (LUCB-style, as in best-arm identification: Kalyanakrishnan, Tewari, Auer & Stone, ICML 2012):
while the choice is open, the leader and the ``challengers`` other candidates with the highest
upper bounds get the unknown entries that most move their bounds — those whose side of the
candidate's estimated r-th utility is least certain, weight p(1 − p); once the choice is settled,
the leader's uncertain group members. Candidates whose upper bound is below the leader's lower bound
are screened out by the cheap predictions alone and never asked about.

Everything here is pure (numpy arrays in, typed results out); the oracle is a callable
``ask(pairs) -> utilities`` supplied by the caller (:class:`AdaptiveQueries` binds it to a
discriminative backend for :mod:`pnyx.process`; the people chooser :class:`PlannerChooser` plans
for participants who answer later).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from scipy.special import ndtr

from pnyx.data import InputError
from pnyx.rules.gsc import GSCRound, gsc_round, round_sizes
from pnyx.scale import MAX_UTILITY

Pairs = np.ndarray
"""q × 2 integer array of (row, column) pairs."""

Ask = Callable[[Pairs], np.ndarray]
"""The oracle: utilities (0–4; NaN where it has no answer) for each (row, column) pair."""

Z = 2.0
"""Default width of the confidence bounds, in standard deviations (≈ 97.7 % one-sided)."""

_BISECTION = 20  # 4 / 2**20 ≈ 4e-6 of the utility scale
_EPS = 1e-6
_TIE = 1e-5  # bounds closer than this are equal (above the bisection's precision)


# -- bounds ---------------------------------------------------------------------------------------

def _at_least(v: np.ndarray, s: np.ndarray, known: np.ndarray, t: np.ndarray) -> np.ndarray:
    """P(u ≥ t) per entry: the indicator for known entries, the normal tail for estimated ones."""
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = ndtr((v - t) / s)
    return np.where(known, v >= t - 1e-12, tail)


def score_bounds(values: np.ndarray, sd: np.ndarray, known: np.ndarray, r: int, *, z: float = Z
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimate, lower and upper confidence bound of each column's r-th largest utility.

    ``values``, ``sd``, ``known`` are u × m (the unmatched rows only); see the module docstring for
    the bounds. Returns three arrays of length m.
    """
    u, m = values.shape
    estimate = np.partition(values, u - r, axis=0)[u - r]
    lower, upper = np.empty(m), np.empty(m)
    step = max(1, (1 << 17) // max(u, 1))  # columns per chunk: temporaries stay in cache
    for a in range(0, m, step):
        cols = slice(a, min(m, a + step))
        lower[cols], upper[cols] = _bisect(values[:, cols], sd[:, cols], known[:, cols], r, z)
    return estimate, lower, upper


def _bisect(values: np.ndarray, sd: np.ndarray, known: np.ndarray, r: int, z: float) -> tuple[np.ndarray, np.ndarray]:
    # known entries only shift the count N(t); estimated ones add P(u ≥ t) (known ones: v = −∞, p = 0)
    v = np.where(known, -np.inf, values).astype(np.float32)
    inv = (1.0 / np.where(known, 1.0, np.maximum(sd, _EPS))).astype(np.float32)
    exact = np.where(known, values, -np.inf)
    m = values.shape[1]
    lo = np.zeros((2, m))  # row 0: lower bound search, row 1: upper bound search
    hi = np.full((2, m), MAX_UTILITY + 1e-9)
    sign = np.array([-z, z])[:, None]
    p = np.empty((2, *values.shape), np.float32)
    for _ in range(_BISECTION):
        mid = (lo + hi) / 2
        above = (exact[None] >= mid[:, None, :] - 1e-12).sum(axis=1)
        np.subtract(v[None], mid[:, None, :].astype(np.float32), out=p)
        np.multiply(p, inv[None], out=p)
        ndtr(p, out=p)
        mu = above + p.sum(axis=1, dtype=np.float64)
        var = (p * (1 - p)).sum(axis=1, dtype=np.float64)
        ok = mu + sign * np.sqrt(var) >= r - 1e-6  # lower: still confidently ≥ r; upper: possibly ≥ r
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return np.minimum(lo[0], MAX_UTILITY), np.minimum(lo[1], MAX_UTILITY)


@dataclass
class QueryPlan:
    """What :func:`plan_queries` found for one round."""

    pairs: Pairs
    """(row, column) pairs to ask next, most useful first (empty when settled)."""
    estimate: np.ndarray
    """Each column's r-th largest utility among the unmatched on the current estimate."""
    lower: np.ndarray
    """Lower confidence bound of each column's r-th utility."""
    upper: np.ndarray
    leader: int
    """The column with the highest estimate (ties: higher lower bound, then lower column)."""
    contenders: list[int]
    """Columns whose upper bound reaches the leader's lower bound (the choice is open while any)."""
    uncertain: int
    """Unknown entries of the leader's column whose side of its r-th utility is uncertain."""
    settled: bool
    """The choice is decided: no contender, or the budget is spent, or nothing is left to ask."""
    group_settled: bool
    reason: str
    """``"bounds"``, ``"budget"`` or ``"exhausted"`` when settled; ``"open"`` otherwise."""


def _weights(values, sd, known, threshold) -> np.ndarray:
    """p(1 − p) per entry for p = P(u ≥ threshold): how uncertain its side of the threshold is (0 if known)."""
    p = _at_least(values, np.maximum(sd, _EPS), known, threshold)
    return np.where(known, 0.0, p * (1 - p))


def _top_entries(w: np.ndarray, take: int, floor: float) -> np.ndarray:
    """Indices of the ``take`` largest weights above ``floor``, largest first (stable)."""
    idx = np.flatnonzero(w > floor)
    if take <= 0:
        return idx[:0]
    if idx.size > take:
        idx = idx[np.argpartition(-w[idx], take - 1)[:take]]
    return idx[np.lexsort((idx, -w[idx]))]


def plan_queries(values: np.ndarray, sd: np.ndarray, known: np.ndarray, unmatched: np.ndarray, r: int, *,
                 batch: int = 64, budget: int | None = None, z: float = Z, challengers: int = 3,
                 tolerance: float = 0.0, bounds: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                 ) -> QueryPlan:
    """The next judgments a GSC round needs, the bounds on every candidate, and whether it is settled.

    Parameters
    ----------
    values
        n × m current utilities: known entries and cheap predictions (finite on the unmatched rows).
    sd
        n × m standard deviations of the predictions (ignored where ``known``; NaN or 0 there is fine).
    known
        n × m boolean: entries that are exact for the round (observed or already answered).
    unmatched
        Boolean mask of length n; the round chooses among these participants.
    r
        Participants the round matches.
    batch
        Pairs to return at most.
    budget
        Queries still allowed (None: no limit); 0 settles the round on the estimate.
    z
        Width of the confidence bounds in standard deviations.
    challengers
        Contenders refined together with the leader.
    tolerance
        The rule's near-tie tolerance: a contender within it of the leader does not keep the choice open.
    bounds
        (estimate, lower, upper) of :func:`score_bounds` when the caller has them up to date.

    Returns
    -------
    QueryPlan

    Raises
    ------
    InputError
        Shapes that disagree, r out of range, or an unknown estimate among the unmatched rows.

    Examples
    --------
    >>> V = np.array([[4., 1.], [4., 1.], [0., 3.], [0., 3.]])
    >>> known = np.ones_like(V, bool); sd = np.zeros_like(V)
    >>> p = plan_queries(V, sd, known, np.ones(4, bool), 2)
    >>> p.leader, p.settled, len(p.pairs)
    (0, True, 0)
    """
    values = np.asarray(values, float)
    known = np.asarray(known, bool)
    sd = np.asarray(sd, float)
    unmatched = np.asarray(unmatched, bool)
    if not (values.shape == sd.shape == known.shape) or unmatched.shape != values.shape[:1]:
        raise InputError(f"values {values.shape}, sd {sd.shape}, known {known.shape} and unmatched "
                         f"{unmatched.shape} must agree", field="values")
    rows = np.flatnonzero(unmatched)
    if not 1 <= r <= rows.size:
        raise InputError(f"round size r = {r} must be between 1 and the {rows.size} unmatched participants", field="r")
    V, S, K = values[rows], np.where(known, 0.0, sd)[rows], known[rows]
    if np.isnan(V).any() or np.isnan(S[~K]).any():
        raise InputError("every unmatched participant needs an estimate and a standard deviation for every "
                         "candidate (predict them first)", field="values")
    estimate, lower, upper = score_bounds(V, S, K, r, z=z) if bounds is None else bounds
    m = V.shape[1]
    order = np.lexsort((np.arange(m), -lower, -estimate))
    leader = int(order[0])
    others = np.arange(m) != leader
    contenders = np.flatnonzero(others & (upper > lower[leader] + tolerance + _TIE))
    contenders = contenders[np.argsort(-upper[contenders], kind="stable")]
    full_group = r == rows.size
    floor = float(ndtr(-z) * ndtr(z))  # p(1 − p) at z standard deviations from the threshold
    group_w = np.zeros(rows.size) if full_group else _weights(V[:, leader], S[:, leader], K[:, leader], estimate[leader])
    uncertain = int((group_w > floor).sum())
    choice_open = contenders.size > 0
    if budget is not None and budget <= 0:
        return QueryPlan(np.empty((0, 2), int), estimate, lower, upper, leader, contenders.tolist(), uncertain,
                         True, not uncertain, "budget")
    take = batch if budget is None else min(batch, budget)
    picked: list[tuple[np.ndarray, int]] = []
    if choice_open:
        refine = [leader, *contenders[:challengers].tolist()]
        share = math.ceil(take / len(refine))
        for c in refine:
            w = _weights(V[:, c], S[:, c], K[:, c], estimate[c])
            idx = _top_entries(w, share, floor)
            if idx.size == 0:  # the bound is wide from many small doubts: ask the largest of them
                idx = _top_entries(w, share, 1e-9)
            picked.append((idx, c))
    elif uncertain:
        picked.append((_top_entries(group_w, take, floor), leader))
    pairs = np.array([(rows[i], c) for idx, c in picked for i in idx], dtype=int).reshape(-1, 2)[:take]
    if pairs.size == 0:
        reason = "exhausted" if choice_open else "bounds"
        return QueryPlan(pairs, estimate, lower, upper, leader, contenders.tolist(), uncertain, True,
                         not uncertain, reason)
    return QueryPlan(pairs, estimate, lower, upper, leader, contenders.tolist(), uncertain, not choice_open,
                     not uncertain, "open" if choice_open else "bounds")


# -- one adaptive round and the adaptive GSC rule over a fixed pool ------------------------------------

@dataclass
class AdaptiveRound:
    """An adaptive GSC round: the rule's step on the final estimate and the queries that led to it."""

    step: GSCRound
    """:func:`pnyx.rules.gsc.gsc_round` on the estimate after the queries."""
    asked: Pairs
    """Pairs asked this round, in order."""
    plans: int
    """Planning iterations (batches) run."""
    settled: bool
    """The choice was settled by the bounds (not by the budget or by exhaustion)."""
    group_settled: bool
    reason: str
    lower: np.ndarray
    upper: np.ndarray


def adaptive_round(values: np.ndarray, sd: np.ndarray, known: np.ndarray, unmatched: np.ndarray, r: int,
                   ask: Ask, *, budget: int | None = None, batch: int | None = None, z: float = Z,
                   challengers: int = 3, tolerance: float = 0.0, tiebreak: str = "least-served",
                   repeated: np.ndarray | None = None, served: np.ndarray | None = None,
                   seen: np.ndarray | None = None) -> AdaptiveRound:
    """Ask until the round is settled (or ``budget`` queries are spent), then run the GSC round.

    ``values``, ``sd`` and ``known`` are updated in place with the answers (an answer NaN keeps the
    prediction, marked known so it is not asked again). ``batch`` defaults to max(64, r/2).
    See :func:`plan_queries` for the other parameters and :func:`pnyx.rules.gsc.gsc_round` for
    ``tolerance``, ``tiebreak``, ``repeated``, ``served`` and ``seen``.
    """
    batch = batch or max(64, r // 2)
    asked: list[np.ndarray] = []
    spent, plans = 0, 0
    rows = np.flatnonzero(np.asarray(unmatched, bool))
    bounds = None
    while True:
        plan = plan_queries(values, sd, known, unmatched, r, batch=batch,
                            budget=None if budget is None else budget - spent, z=z, challengers=challengers,
                            tolerance=tolerance, bounds=bounds)
        plans += 1
        if plan.pairs.size == 0:
            break
        answers = np.asarray(ask(plan.pairs), dtype=float)
        i, j = plan.pairs[:, 0], plan.pairs[:, 1]
        values[i, j] = np.where(np.isnan(answers), values[i, j], np.clip(answers, 0.0, MAX_UTILITY))
        sd[i, j] = 0.0
        known[i, j] = True
        asked.append(plan.pairs)
        spent += len(plan.pairs)
        # only the asked columns' bounds move
        touched = np.unique(j)
        bounds = tuple(b.copy() for b in (plan.estimate, plan.lower, plan.upper))
        sub = np.ix_(rows, touched)
        for b, new in zip(bounds, score_bounds(values[sub], sd[sub], known[sub], r, z=z)):
            b[touched] = new
    step = gsc_round(values, unmatched, r, tolerance=tolerance, tiebreak=tiebreak, repeated=repeated, served=served,
                     seen=seen)
    done = np.concatenate(asked) if asked else np.empty((0, 2), int)
    return AdaptiveRound(step, done, plans, plan.reason == "bounds" and plan.settled, plan.group_settled,
                         plan.reason, plan.lower, plan.upper)


Refit = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``refit(values, known) -> (values, sd)``: fresh cheap predictions from the known entries."""


@dataclass
class AdaptiveGSCResult:
    """The adaptive GSC rule over a fixed pool: the slate, the matching and what each round asked."""

    slate: list[int]
    matching: np.ndarray
    """Round (slate position) each participant was matched in."""
    scores: list[float]
    """Each round's r-th utility on the estimate used."""
    queries: int
    rounds: list[dict[str, Any]] = field(default_factory=list)
    values: np.ndarray | None = None
    known: np.ndarray | None = None


def adaptive_gsc(values: np.ndarray, sd: np.ndarray, known: np.ndarray, k: int, ask: Ask, *,
                 budget: int | None = None, refit: Refit | None = None, **options: Any) -> AdaptiveGSCResult:
    """The GSC rule (:func:`pnyx.rules.gsc.gsc`, each column at most once) with :func:`adaptive_round`
    rounds: ``refit`` refreshes the cheap predictions from the answers before every round after the first.

    ``budget`` caps the queries of the whole run (each round may use what earlier ones left).
    """
    values, sd, known = np.array(values, float), np.array(sd, float), np.array(known, bool)
    n, m = values.shape
    unmatched = np.ones(n, bool)
    matching = np.full(n, -1)
    available = np.arange(m)
    slate: list[int] = []
    scores: list[float] = []
    log: list[dict[str, Any]] = []
    spent = 0
    for t, r in enumerate(round_sizes(n, k)):
        if t and refit is not None:
            values, sd = refit(values, known)
        sub_v, sub_s, sub_k = values[:, available], sd[:, available], known[:, available]

        def ask_sub(pairs: Pairs) -> np.ndarray:
            return ask(np.column_stack([pairs[:, 0], available[pairs[:, 1]]]))

        res = adaptive_round(sub_v, sub_s, sub_k, unmatched, r, ask_sub,
                             budget=None if budget is None else budget - spent, **options)
        values[:, available], sd[:, available], known[:, available] = sub_v, sub_s, sub_k
        spent += len(res.asked)
        c = int(available[res.step.candidate])
        slate.append(c)
        scores.append(res.step.score)
        matching[res.step.matched] = t
        unmatched[res.step.matched] = False
        available = available[available != c]
        log.append({"round": t + 1, "r": r, "queries": int(len(res.asked)), "plans": res.plans,
                    "settled": res.settled, "group_settled": res.group_settled, "reason": res.reason})
    return AdaptiveGSCResult(slate, matching, scores, spent, log, values, known)


# -- people: which statements a participant should rate ---------------------------------------------

def judgment_value(values: np.ndarray, sd: np.ndarray, known: np.ndarray, k: int, *, z: float = Z,
                   challengers: int = 3) -> np.ndarray:
    """How much each unknown judgment matters to the GSC process run on the current estimate.

    The process is simulated on ``values`` (k rounds of :func:`pnyx.rules.gsc.gsc_round`, each column
    once); in each round every unknown entry of the leader and of its ``challengers`` strongest
    contenders (:func:`plan_queries`) among the unmatched gets the weight p(1 − p) of
    :func:`plan_queries`, summed over the rounds. Known entries get 0; so do candidates screened out
    in every round.
    """
    values, known = np.asarray(values, float), np.asarray(known, bool)
    sd = np.where(known, 0.0, np.asarray(sd, float))
    n, m = values.shape
    out = np.zeros((n, m))
    unmatched = np.ones(n, bool)
    available = np.arange(m)
    for r in round_sizes(n, min(k, m)):
        plan = plan_queries(values[:, available], sd[:, available], known[:, available], unmatched, r, batch=0,
                            z=z, challengers=challengers)
        rows = np.flatnonzero(unmatched)
        for c in [plan.leader, *plan.contenders[:challengers]]:
            col = available[c]
            out[rows, col] += _weights(values[rows, col], sd[rows, col], known[rows, col], plan.estimate[c])
        step = gsc_round(values[:, available], unmatched, r)
        unmatched[step.matched] = False
        available = np.delete(available, step.candidate)
    return out


def choose_for_participant(i: int, weights: np.ndarray, known: np.ndarray, limit: int,
                           rated_per_statement: np.ndarray | None = None, *, spread: float = 0.0) -> list[int]:
    """Statements participant ``i`` should judge next: up to ``limit`` − (judgments already known) of them.

    Highest :func:`judgment_value` first, with diminishing returns per statement: a statement already
    judged c times counts w/√(1 + c) (the standard error of its estimate falls like 1/√c), so that
    judgments spread over the contenders; ties and zero-weight fillers by fewest judgments so far, then
    lowest column. ``rated_per_statement`` (default: counted from ``known``) lets a caller update the
    counts as it assigns. ``spread`` (0–1) is the share of the choice given to coverage instead: the
    ranking interleaves, at a rate of ``spread``, the statements with the fewest judgments so far (the
    least-rated-first order, which ``cf`` needs to estimate every statement) with the value order; the
    p-th pick is a coverage one when ⌊(p + 1)·spread⌋ > ⌊p·spread⌋."""
    known_i = np.asarray(known[i], bool)
    left = max(0, int(limit) - int(known_i.sum()))
    if left == 0:
        return []
    counts = np.asarray(known, bool).sum(axis=0) if rated_per_statement is None else np.asarray(rated_per_statement)
    cand = np.flatnonzero(~known_i)
    value = weights[i, cand] / np.sqrt(1.0 + counts[cand])
    by_value = cand[np.lexsort((cand, counts[cand], -np.round(value, 12)))]
    if spread <= 0:
        return by_value[:left].tolist()
    by_count = cand[np.lexsort((cand, counts[cand]))]
    p = np.arange(min(left, cand.size))
    coverage = np.floor((p + 1) * spread + 1e-9) > np.floor(p * spread + 1e-9)
    chosen: list[int] = []
    taken = set()
    queues = {False: iter(by_value.tolist()), True: iter(by_count.tolist())}
    for cov in coverage.tolist():
        j = next(queues[cov])
        while j in taken:
            j = next(queues[cov])
        taken.add(j)
        chosen.append(j)
    return chosen


class PlannerChooser:
    """The people chooser: ``chooser(participant index, profile) -> statement indices`` to rate next.

    ``profile`` (a :class:`pnyx.data.Profile`) is the consultation's state: its observed judgments.
    The cheap predictions (``screen``, default :class:`pnyx.queries.cf.CollaborativeFiltering`) and
    the :func:`judgment_value` of every entry are recomputed when the observed judgments change, not
    on every call. Each participant is asked for at most ``per_participant`` judgments in all.

    People answer slowly but a judgment costs nothing more than the participant's attention, so the
    chooser explores more broadly than the LLM rounds: every contender of every simulated round is
    weighted (``challengers`` None) with bounds of ``z`` = 1 standard deviation (benchmarks/README.md,
    "Adaptive queries", compares choosers).
    """

    def __init__(self, k: int, per_participant: int = 20, *, screen: Any = None, z: float = 1.0,
                 challengers: int | None = None, seed: int = 0):
        if k < 1 or per_participant < 1:
            raise InputError("k and per_participant must be at least 1", field="per_participant")
        if screen is None:
            from pnyx.queries.cf import CollaborativeFiltering

            screen = CollaborativeFiltering(seed=seed)
        self.k, self.limit, self.screen, self.z, self.challengers = k, per_participant, screen, z, challengers
        self._key: tuple | None = None
        self._weights: np.ndarray | None = None

    def weights(self, profile: Any) -> np.ndarray:
        key = (profile.n, profile.m, int(profile.observed.sum()), hash(profile.observed.tobytes()))
        if key != self._key:
            values, sd = estimate(profile, self.screen)
            self._weights = judgment_value(values, sd, profile.observed, min(self.k, profile.n), z=self.z,
                                           challengers=profile.m if self.challengers is None else self.challengers)
            self._key = key
        return self._weights

    def __call__(self, participant: int, profile: Any) -> list[int]:
        return choose_for_participant(participant, self.weights(profile), profile.observed, self.limit)


def estimate(profile: Any, screen: Any) -> tuple[np.ndarray, np.ndarray]:
    """Observed utilities and the ``screen`` backend's predictions (with standard deviations) elsewhere.

    Entries the backend gives no standard deviation for get the spread of the observed utilities."""
    pred = screen.predict(profile)
    values = np.where(profile.observed, profile.utilities, pred.utilities)
    spread = float(np.nanstd(profile.utilities[profile.observed])) if profile.observed.any() else MAX_UTILITY / 2
    sd = pred.uncertainty if pred.uncertainty is not None else np.full(values.shape, np.nan)
    sd = np.where(profile.observed, 0.0, np.where(np.isfinite(sd), sd, spread or 1.0))
    return np.clip(values, 0.0, MAX_UTILITY), sd


def plan_ratings(profile: Any, k: int, per_participant: int = 20, *, screen: Any = None, seed: int = 0
                 ) -> list[tuple[int, int]]:
    """The (participant, statement) pairs an offline rating round should collect: for each participant
    the :class:`PlannerChooser`'s choice on the current observed judgments."""
    chooser = PlannerChooser(min(k, profile.n), per_participant, screen=screen, seed=seed)
    w = chooser.weights(profile)
    counts = profile.observed.sum(axis=0)
    return [(i, j) for i in range(profile.n)
            for j in choose_for_participant(i, w, profile.observed, per_participant, counts)]


# -- the process hook -------------------------------------------------------------------------------

def backend_oracle(backend: Any) -> Callable[[Any, Pairs], np.ndarray]:
    """``ask(profile, pairs) -> utilities`` through a discriminative backend: the LLM backend's
    requests in one batch (through its client and so the one cache), any other backend column by column."""

    def ask(profile: Any, pairs: Pairs) -> np.ndarray:
        pairs = np.asarray(pairs, int)
        if hasattr(backend, "request") and hasattr(backend, "client"):
            from pnyx.queries.llm import expected_rating

            responses = backend.client.run_many([backend.request(profile, int(i), int(j)) for i, j in pairs],
                                                progress=getattr(backend, "progress", False))
            return np.array([expected_rating(resp)[0] for resp in responses], dtype=float)
        out = np.full(len(pairs), np.nan)
        for j in np.unique(pairs[:, 1]):
            at = np.flatnonzero(pairs[:, 1] == j)
            pred = backend.predict(profile, participants=pairs[at, 0], statements=[int(j)])
            out[at] = pred.utilities[:, 0]
        return out

    return ask


@dataclass
class AdaptiveQueries:
    """The process's adaptive mode: cheap ``screen`` predictions for every pooled column; the expensive
    backend asked (``ask``, e.g. :func:`backend_oracle`) only for the pairs :func:`adaptive_round` plans.

    :meth:`round` replaces the process's ``gsc_round`` on the fully predicted matrix. Answers are written
    into the profile under ``label`` and feed the next round's screen (fit on observed + answered entries).
    """

    ask: Callable[[Any, Pairs], np.ndarray]
    screen: Any
    label: str = "oracle"
    budget: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    asked: set[tuple[int, int]] = field(default_factory=set)
    log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.asked)

    def _answered(self, profile: Any) -> np.ndarray:
        mask = np.zeros(profile.utilities.shape, bool)
        if self.asked:
            i, j = np.array(sorted(self.asked)).T
            mask[i, j] = True
        return mask

    def round(self, profile: Any, cols: Sequence[int], unmatched: np.ndarray, r: int,
              **choice: Any) -> tuple[Any, GSCRound, dict]:
        """One adaptive GSC round over the pool ``cols`` of ``profile``: the profile with the answers,
        the step (columns indexed within ``cols``) and the round's audit entry. ``choice``: the round's
        ``tolerance``, ``tiebreak``, ``repeated`` and ``served`` (:func:`pnyx.rules.gsc.gsc_round`)."""
        from dataclasses import replace

        cols = np.asarray(cols, int)
        answered = self._answered(profile)
        known_all = profile.observed | answered
        seen = replace(profile, observed=known_all)
        values, sd = estimate(seen.subset(statements=cols), self.screen)
        known = known_all[:, cols]
        ask_cols = lambda pairs: self.ask(profile, np.column_stack([pairs[:, 0], cols[pairs[:, 1]]]))  # noqa: E731
        spent = self.calls
        res = adaptive_round(values, sd, known, unmatched, r, ask_cols,
                             budget=None if self.budget is None else self.budget - spent,
                             **{**self.options, **choice})
        new = [(int(i), int(cols[j])) for i, j in res.asked]
        self.asked.update(new)
        # the profile keeps what the round used: refreshed predictions, then the answers
        full = np.full(profile.utilities.shape, np.nan)
        full[:, cols] = np.where(known, np.nan, values)
        unc = np.full(profile.utilities.shape, np.nan)
        unc[:, cols] = sd
        profile = profile.with_predictions(full, f"{self.screen.name}:{self.screen.model}".rstrip(":"),
                                           uncertainty=unc, overwrite_observed=True)
        if new:
            full = np.full(profile.utilities.shape, np.nan)
            full[:, cols] = np.where(self._answered(profile)[:, cols], values, np.nan)
            profile = profile.with_predictions(full, self.label, uncertainty=np.where(np.isnan(full), np.nan, 0.0),
                                               overwrite_observed=True)
        entry = {"queries": len(new), "pool": int(len(cols)), "settled": res.settled,
                 "group_settled": res.group_settled, "reason": res.reason, "plans": res.plans,
                 "exhaustive_queries": int((~profile.observed[:, cols] & unmatched[:, None]).sum())}
        self.log.append(entry)
        return profile, res.step, entry

    def summary(self, profile: Any) -> dict[str, Any]:
        """The audit entry: queries asked, what an exhaustive run asks, and each round's state."""
        return {
            "mode": "adaptive",
            "calls": self.calls,
            "exhaustive_calls": int(profile.utilities.size),  # the exhaustive process asks every pooled pair
            "unknown_pairs": int((~profile.observed).sum()),
            "exhaustive_calls_per_round": int(sum(e["exhaustive_queries"] for e in self.log)),
            "budget": self.budget,
            "settled_rounds": int(sum(e["settled"] for e in self.log)),
            "rounds": [{"round": t + 1, **{k: e[k] for k in ("queries", "settled", "group_settled", "reason")}}
                       for t, e in enumerate(self.log)],
        }
