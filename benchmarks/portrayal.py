"""Do slates portray the population? Held-out evaluation on the shared Polis conversations (issue 8).

For each conversation in ../shared/data/polis/ and each seed: hold out 20 % of the participants
(seeded permutation), choose slates of k statements from the other 80 %, and measure on the
held-out people's observed votes (definitions: :mod:`pnyx.evaluate.portrayal`):

* coverage — share of held-out people who agree with at least one slate statement they voted on;
* portrayal gain — their votes on the slate pick their 20 nearest training participants, whose
  majority predicts their agree/disagree votes on every other statement: accuracy minus the
  per-statement majority's on the same votes (percentage points);
* JR gap — the largest group of held-out people who agree with one statement off the slate and
  with no slate statement, as a multiple of n_held_out / k (as in benchmarks/process.py).

Methods: ``gsc`` as the offline process runs it on vote data — the training votes imputed by a
discriminative backend (``cf`` by default: on these votes the ``offline`` hybrid chooses cf alone,
see benchmarks/README.md; ``--backend offline`` runs the hybrid), then ``pnyx.rules.compute("gsc",
U, k, ...)`` over the data's statements without the meta ones — with tiebreak "lowest" (before
issue 8), "least-served" (the default), "distinctive", "seen-first" and tolerances; top-k by agree count;
Polis-style group representatives (agree rate in the group minus outside it, groups in turn by size; and
Polis's repness with proportional seats, as in benchmarks/process.py).

Experimental near-tie criteria that pnyx.rules does not offer (``gsc_variant``, rows "variant: …") are
compared too; ``--no-variants`` leaves them out, ``--variant TEXT …`` runs only those whose name contains a
TEXT.

The target (:func:`verdict`) is judged per conversation and k, paired over seeds; after it, what a tolerance
costs (:func:`tolerance_cost`: round 1's near-ties, BJR and ε-BJR of gsc-before and of each method with a
tolerance, on the training utilities).

Run:  .venv/bin/python benchmarks/portrayal.py [--seeds 5] [--first-seed 0] [--k 5 10] [--backend cf]
      [--tolerance 0.25 0.5] [--no-variants] [--variant TEXT ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np

from pnyx.axioms import check
from pnyx.evaluate.portrayal import group_representatives, held_out, split_participants, top_by_agree_count
from pnyx.io import load
from pnyx.process import PoolPolicy, eligible_columns
from pnyx.queries import get_discriminative
from pnyx.rules import compute
from pnyx.rules.gsc import _top, distinctive_support, gsc_round, near_tie_floor, round_sizes

REPO = Path(__file__).resolve().parents[1]
POLIS = REPO.parent / "shared" / "data" / "polis"
BEFORE, DEFAULT = "gsc, lowest (before)", "gsc, least-served (default)"
BASELINES = ("top-k by agree count", "group reps: agree-rate difference, round-robin",
             "group reps: Polis repness, proportional seats")


def _explained(X: np.ndarray, slate: list[int], near: np.ndarray) -> np.ndarray:
    """For each column c of ``near``: the variance of all columns of X (centred) explained by adding c to the
    columns ``slate`` (least squares on the residuals after projecting on the slate's columns)."""
    R = X
    if slate:
        Q, _ = np.linalg.qr(X[:, slate])
        R = X - Q @ (Q.T @ X)
    G = R.T @ R[:, near]
    own = np.maximum(np.einsum("ij,ij->j", R[:, near], R[:, near]), 1e-12)
    return (G ** 2).sum(axis=0) / own


def _training_gain(X: np.ndarray, S: list[int], queries: int = 400, neighbours: int = 20) -> float:
    """The portrayal gain (:func:`pnyx.evaluate.portrayal.portrayal`) of the slate S on the training votes X
    themselves (+1, −1, 0 pass or unseen), leave-one-out: each of ``queries`` evenly spaced training participants
    is predicted from their nearest other training participants."""
    n = X.shape[0]
    q = np.arange(0, n, max(1, n // queries))
    others = np.setdiff1d(np.arange(X.shape[1]), S)
    sim = X[np.ix_(q, S)] @ X[:, S].T
    sim[np.arange(q.size), q] = -np.inf
    voted = (X[np.ix_(q, S)] != 0).any(axis=1)
    # the neighbours-th largest similarity of each row: similarities are integers in [−|S|, |S|] (and −∞ for
    # oneself), so the largest level that at least that many reach (np.partition is slow on many equal values)
    levels = np.arange(len(S), -len(S) - 1, -1)
    reach = np.stack([(sim >= v).sum(axis=1) for v in levels], axis=1)
    cut = levels[np.argmax(reach >= neighbours, axis=1)]
    chosen = (sim >= cut[:, None]).astype(np.float32)
    column = np.sign(X[:, others].sum(axis=0))
    column[column == 0] = 1
    pred = np.sign(chosen @ X[:, others].astype(np.float32))
    pred = np.where(pred == 0, column[None, :], pred)
    target = X[np.ix_(q, others)]
    asked = (target != 0) & voted[:, None]
    return float((pred == target)[asked].mean() - (column[None, :] == target)[asked].mean()) if asked.any() else 0.0


def _predictive(X: np.ndarray, slate: list[int], near: np.ndarray, with_coverage: bool = False) -> np.ndarray:
    """For each column c of ``near``: :func:`_training_gain` of the slate plus c; ``with_coverage``: plus the share
    of the same participants (those who voted on a statement of it) who agree with a statement of it."""
    n = X.shape[0]
    q = np.arange(0, n, max(1, n // 400))
    out = np.empty(near.size)
    for i, c in enumerate(near):
        S = slate + [int(c)]
        out[i] = _training_gain(X, S)
        voted = (X[np.ix_(q, S)] != 0).any(axis=1)
        if with_coverage and voted.any():
            out[i] += (X[np.ix_(q, S)] == 1).any(axis=1)[voted].mean()
    return out


def _completed(U: np.ndarray, unmatched: np.ndarray, available: np.ndarray, slate: list[int], k: int) -> list[int]:
    """The slate completed to k statements by the remaining GSC rounds with the lowest-column tiebreak
    (:func:`pnyx.rules.gsc.gsc_round`; each column at most once)."""
    unmatched, available, slate = unmatched.copy(), available.copy(), list(slate)
    for r in round_sizes(U.shape[0], k)[len(slate):]:
        step = gsc_round(U[:, available], unmatched, r, tiebreak="lowest")
        slate.append(int(available[step.candidate]))
        unmatched[step.matched] = False
        available = np.delete(available, step.candidate)
    return slate


def _training_coverage(votes: np.ndarray, slate: list[int], columns: np.ndarray) -> np.ndarray:
    """For each of ``columns``: the benchmark's coverage of the slate plus that column on the training votes
    themselves — the share of the training participants who voted on a statement of it that agree with one."""
    seen, agree = ~np.isnan(votes), votes == 1
    voted = seen[:, slate].any(axis=1) if slate else np.zeros(votes.shape[0], bool)
    covered = agree[:, slate].any(axis=1) if slate else np.zeros(votes.shape[0], bool)
    num = covered.sum() + (agree[:, columns] & ~covered[:, None]).sum(axis=0)
    den = voted.sum() + (seen[:, columns] & ~voted[:, None]).sum(axis=0)
    return num / np.maximum(den, 1)


def gsc_ties(U: np.ndarray, unmatched: np.ndarray, available: np.ndarray, r: int, tolerance: float = 0.0,
             by_alternatives: bool = True) -> tuple[np.ndarray, Callable[[int], np.ndarray]]:
    """One GSC round over the columns ``available`` of U (as :func:`pnyx.rules.gsc.gsc_round` plays it): the
    near-ties (positions in ``available`` whose r-th highest utility among the unmatched is within ``tolerance``
    of the best, or equal up to float noise) and, for a position, the r participants it matches — at the cut,
    fewest alternatives (lowest mean utility over ``available``) then lowest row, or with ``by_alternatives``
    False lowest row."""
    n = U.shape[0]
    rows = np.flatnonzero(unmatched)
    sub = U[np.ix_(rows, available)]
    scores = np.partition(sub, rows.size - r, axis=0)[rows.size - r]
    order = np.zeros(n)
    if by_alternatives:
        order[rows] = sub.mean(axis=1)
    place = np.empty(n, dtype=np.int64)  # _top's distinct ranks: by that order, then lowest row
    place[np.lexsort((np.arange(n), order))] = np.arange(n)
    near = np.flatnonzero(scores >= near_tie_floor(float(scores.max()), tolerance))
    return near, lambda c: _top(sub[:, c], rows, r, place.__getitem__)[0]


def gsc_variant(U: np.ndarray, votes: np.ndarray, k: int, *, then: str, first: str | None = None,
                tolerance: float = 0.0, participants: str = "fewest alternatives", first_rounds: int = 1,
                margin: float | None = None, floor: float = 0.0,
                memo: dict | None = None) -> tuple[list[int], np.ndarray]:
    """Experiment, not in pnyx.rules: the GSC rounds of :func:`pnyx.rules.gsc.gsc` with another secondary
    criterion among near-ties (each candidate's matched group as gsc_round forms it), then distinctive support.
    ``first``: the criterion of the first round (default ``then``); ``then``: that of the others. Every
    criterion reads the training participants only (U: their imputed utilities; votes: their observed votes):

    * ``distinctive`` — distinctive support alone (what pnyx.rules does; a check of this replica);
    * ``least served`` — the candidate whose matched group gets least from the slate so far (mean over the
      group of its best utility among the slate statements);
    * ``coverage`` — the most participants who approve it (utility ≥ 3) and nothing on the slate;
    * ``majority agrees`` — candidates most of whose observed voters agree (add-one smoothed agree rate > ½);
    * ``consensus`` — the largest mean utility over everyone; ``approved`` — the most approvals (utility ≥ 3);
      ``seen`` — the most observed votes;
    * ``informative`` — the candidate that, with the slate so far, explains the most variance of every
      statement's utilities (centred): greedy column subset selection; ``informative votes`` — the same on the
      observed votes (+1, −1, 0 pass or unseen, not centred);
    * ``predictive`` — the largest portrayal gain of the slate with it on the training votes themselves
      (:func:`_predictive`); ``predictive + coverage`` — that gain plus the share of the same participants who
      agree with a slate statement;
    * ``training coverage`` — the largest coverage of the slate with it on the training votes
      (:func:`_training_coverage`); ``exposed distinctive`` — distinctive support times the share of the
      training participants who voted on it (a statement few saw can neither cover nor portray many);
    * ``lookahead`` — each near-tie's slate completed by the remaining rounds with the lowest-column tiebreak
      (:func:`_completed`), judged lexicographically: first whether that completed slate's coverage on the training
      votes is at least the lowest-column rule's own slate's minus ``floor``, then (if so) its portrayal gain on
      the training votes (:func:`_training_gain`), else its coverage. The lowest-column choice is always among the
      near-ties and its completion is the previous round's, so the final slate keeps that training coverage.

    ``first_rounds``: how many rounds use ``first``. ``margin`` (lexicographic, before the criterion): keep only
    the near-ties whose slate's training coverage is within ``margin`` of the best near-tie's. ``memo``: a dict
    shared by calls on the same U, votes and k, caching the lookahead's completed slates.

    ``participants``: who is matched among those tied at the cut-off utility — ``"fewest alternatives"``
    (gsc_round's rule) or ``"lowest row"``. ``tolerance``: the near-ties are the candidates whose round score is
    within it of the best (as in :func:`pnyx.rules.gsc.gsc`; ε > 0 keeps only ε-BJR).

    Returns the slate (columns of U, in round order) and the process's matching (each participant's round).
    """
    n, m = U.shape
    unmatched, available, slate = np.ones(n, dtype=bool), np.arange(m), []
    matching = np.full(n, -1)
    agree_rate = ((votes == 1).sum(axis=0) + 1) / ((~np.isnan(votes)).sum(axis=0) + 2)
    seen = (~np.isnan(votes)).sum(axis=0)
    decisive, centred = np.nan_to_num(votes), U - U.mean(axis=0)
    looked = {} if memo is None else memo
    if "lookahead" in (first, then):  # the completed slates must cover as many as the lowest-column rule's, − floor
        before = compute("gsc", U, k, tiebreak="lowest").slate
        tau = float(_training_coverage(votes, before[:-1], np.array(before[-1:]))[0]) - floor
    for r in round_sizes(n, k):
        near, group_of = gsc_ties(U, unmatched, available, r, tolerance, participants == "fewest alternatives")
        if margin is not None and near.size > 1:  # lexicographic: first keep the training coverage near its best
            cover = _training_coverage(votes, slate, available[near])
            near = near[cover >= cover.max() - margin - 1e-12]
        how = first if first and len(slate) < first_rounds else then
        info = {}
        if how in ("informative", "informative votes"):
            info = dict(zip(near, _explained(centred if how == "informative" else decisive, slate, available[near])))
        elif how.startswith("predictive"):
            info = dict(zip(near, _predictive(decisive, slate, available[near], with_coverage=how != "predictive")))
        covered = (U[:, slate] >= 3).any(axis=1) if slate else np.zeros(n, bool)

        def lookahead(col: int, group: np.ndarray) -> tuple[bool, float]:
            key = tuple(slate + [col])  # the prefix fixes the rounds' state: completions are shared through memo
            if key not in looked:
                left = unmatched.copy()
                left[group] = False
                S = _completed(U, left, available[available != col], slate + [col], k)
                looked[key] = [S, float(_training_coverage(votes, S[:-1], np.array(S[-1:]))[0]), None]
            S, cover, gain = looked[key]
            if cover < tau - 1e-12:
                return False, cover
            if gain is None:
                gain = looked[key][2] = round(_training_gain(decisive, S), 9)
            return True, gain

        best = None
        for c in near:
            col = int(available[c])
            group = group_of(c)
            value = {"least served": lambda: -round(float(U[np.ix_(group, slate)].max(axis=1).mean()), 9)
                     if slate else 0.0,
                     "coverage": lambda: int(((U[:, col] >= 3) & ~covered).sum()),
                     "majority agrees": lambda: bool(agree_rate[col] > 0.5),
                     "consensus": lambda: round(float(U[:, col].mean()), 9),
                     "approved": lambda: int((U[:, col] >= 3).sum()),
                     "seen": lambda: int(seen[col]),
                     "exposed distinctive": lambda: round(seen[col] / n * distinctive_support(U, group, col), 9),
                     "training coverage": lambda: round(float(_training_coverage(votes, slate, np.array([col]))[0]),
                                                        9),
                     "lookahead": lambda: lookahead(col, group),
                     "distinctive": lambda: 0}.get(how, lambda: round(float(info[c]), 6))()
            key = (value, round(distinctive_support(U, group, col), 9))
            if best is None or key > best[0]:
                best = (key, col, group)
        _, col, group = best
        matching[group] = len(slate)
        slate.append(col)
        unmatched[group] = False
        available = available[available != col]
    return slate, matching


VARIANTS = {"variant: coverage, then distinctive": {"then": "coverage"},
            "variant: majority agrees, then distinctive": {"then": "majority agrees"},
            "variant: distinctive, participants by lowest row": {"then": "distinctive", "participants": "lowest row"},
            "variant: consensus first, then least-served": {"first": "consensus", "then": "least served"},
            "variant: approved first, then least-served": {"first": "approved", "then": "least served"},
            "variant: informative": {"then": "informative"},
            "variant: consensus first, then informative": {"first": "consensus", "then": "informative"},
            "variant: informative on observed votes": {"then": "informative votes"},
            "variant: most seen first, then informative on observed votes": {"first": "seen",
                                                                              "then": "informative votes"},
            "variant: predictive on training votes": {"then": "predictive"},
            "variant: predictive + coverage on training votes": {"then": "predictive + coverage"},
            "variant: training coverage within 0.02, then informative on observed votes":
                {"then": "informative votes", "margin": 0.02},
            "variant: training coverage first, then informative on observed votes":
                {"first": "training coverage", "then": "informative votes"},
            "variant: exposed distinctive": {"then": "exposed distinctive"},
            "variant: lookahead, training coverage ≥ lowest's, then training portrayal": {"then": "lookahead"},
            **{f"variant: near-ties within {eps:g}, {name}": {"then": then, "tolerance": eps}
               for eps in (0.25, 0.5) for name, then in (
                   ("look-ahead (training coverage ≥ lowest's, then training portrayal)", "lookahead"),
                   ("informative on observed votes", "informative votes"))}}
REPLICAS = {DEFAULT: {"then": "least served"}, "gsc, distinctive": {"then": "distinctive"},
            "gsc, seen-first": {"first": "seen", "then": "least served"}}
"""gsc_variant's replicas of pnyx.rules' tiebreaks: the script checks that they give the same slates."""


class ToleranceCost(NamedTuple):
    """What choosing among near-ties within ε gave up on one split, on the training utilities
    (:func:`tolerance_cost`)."""

    tolerance: float
    near_ties: int
    """Round 1's candidates whose score is within ε of the best (ε = 0: the exact ties)."""
    ratio: float
    """The largest coalition blocking exact BJR with the process's own matching, over its required size
    (``check("bjr", …)``'s ``coalition_ratio``; ≥ 1: BJR violated)."""
    eps_bjr: bool
    """ε-BJR (``check("bjr", …, d=ε)``) holds with that matching."""


def tolerance_cost(U: np.ndarray, slate: list[int], matching: np.ndarray, tolerance: float) -> ToleranceCost:
    """The round-1 near-ties of U at ``len(slate)`` rounds within ``tolerance`` and the BJR / ε-BJR status
    (:func:`pnyx.axioms.check`, Fish et al. arXiv 2309.01291) of a GSC slate (columns of U, in round order) with
    its matching (each participant's round)."""
    n, k = U.shape[0], len(slate)
    r = round_sizes(n, k)[0]
    scores = np.partition(U, n - r, axis=0)[n - r]
    best = float(scores.max())
    near = int((scores >= near_tie_floor(best, tolerance)).sum())
    exact = check("bjr", U, slate, assignment=matching)
    return ToleranceCost(tolerance, near, float(exact.info["coalition_ratio"]),
                         bool(check("bjr", U, slate, assignment=matching, d=tolerance)))


def baseline_slates(votes_train: np.ndarray, groups: list, k: int, pool: list[int]) -> dict[str, list[int]]:
    """The BASELINES' slates from the training votes: top-k by agree count, group representatives by agree-rate
    difference in turn, Polis repness with proportional seats."""
    return {BASELINES[0]: top_by_agree_count(votes_train, k, pool=pool),
            BASELINES[1]: group_representatives(votes_train, groups, k, pool=pool),
            BASELINES[2]: group_representatives(votes_train, groups, k, score="repness", seats="proportional",
                                                pool=pool)}


def slates(votes_train: np.ndarray, U: np.ndarray, groups: list, k: int, pool: list[int],
           tolerances: list[float], variants: Sequence[str] = tuple(VARIANTS)
           ) -> tuple[dict[str, list[int]], dict[str, ToleranceCost]]:
    """Every method's slate (columns of the profile) from the training votes and their imputed utilities;
    ``variants``: the names of the VARIANTS to run. Also :func:`tolerance_cost` of gsc-before and of every GSC
    method with a tolerance."""
    seen = (~np.isnan(votes_train[:, pool])).sum(axis=0)
    rules = {BEFORE: {"tiebreak": "lowest"}, DEFAULT: {}, "gsc, distinctive": {"tiebreak": "distinctive"},
             "gsc, seen-first": {"tiebreak": "seen-first", "seen": seen},
             **{f"gsc, least-served, tolerance {tol:g}": {"tolerance": tol} for tol in tolerances}}
    out: dict[str, list[int]] = {}
    costs: dict[str, ToleranceCost] = {}
    for name, params in rules.items():
        result = compute("gsc", U[:, pool], k, **params)
        if name == BEFORE or params.get("tolerance"):
            costs[name] = tolerance_cost(U[:, pool], result.slate, result.info["assignment"],
                                         params.get("tolerance", 0.0))
        out[name] = [pool[c] for c in result.slate]
    if variants:
        for name, params in REPLICAS.items():
            replica = [pool[c] for c in gsc_variant(U[:, pool], votes_train[:, pool], k, **params)[0]]
            assert replica == out[name], f"the experiment's GSC rounds differ from pnyx.rules' gsc ({name})"
        memo: dict = {}
        for name in variants:
            slate, matching = gsc_variant(U[:, pool], votes_train[:, pool], k, **VARIANTS[name], memo=memo)
            if VARIANTS[name].get("tolerance"):
                costs[name] = tolerance_cost(U[:, pool], slate, matching, VARIANTS[name]["tolerance"])
            out[name] = [pool[c] for c in slate]
    out.update(baseline_slates(votes_train, groups, k, pool))
    return out, costs


def evaluate(folder: Path, seeds: range, ks: list[int], backend: str, tolerances: list[float],
             variants: Sequence[str] = tuple(VARIANTS)) -> tuple[dict, dict]:
    """{(k, method): [HeldOut per seed]} and facts about the conversation (``"costs"``: {(k, method):
    [ToleranceCost per seed]}; ``"training_bjr"``: {(k, method): [largest coalition blocking BJR over n/k, per
    seed]}, on the training utilities of the competing statements with the utility-maximising balanced
    assignment — ``check("bjr", …)``'s default — for every method alike, so ≥ 1 means no such assignment of that
    slate gives BJR)."""
    profile = load(folder)
    votes = profile.observed_values()
    results: dict[tuple[int, str], list] = {}
    costs: dict[tuple[int, str], list[ToleranceCost]] = {}
    training_bjr: dict[tuple[int, str], list[float]] = {}
    seconds = 0.0
    for seed in seeds:
        train, test = split_participants(profile.n, fraction=0.2, seed=seed)
        part = profile.subset(participants=train)
        t0 = time.perf_counter()
        U = get_discriminative(backend, {"seed": seed}).predict(part).apply(part).utilities
        seconds += time.perf_counter() - t0
        groups = part.groups()
        for k in ks:
            # the statements the process lets compete: no meta (marked or the moderator's demographic
            # questions), none with fewer observed approvals than the minimum support
            eligible, report = eligible_columns(part, k, PoolPolicy())
            pool = np.flatnonzero(eligible).tolist()
            left_out = {why: len(ids) for why, ids in report.excluded.items()}
            chosen, cost = slates(votes[train], U, groups, k, pool, tolerances, variants)
            column = {c: i for i, c in enumerate(pool)}
            for name, slate in chosen.items():
                assert len(slate) == k == len(set(slate)), (name, slate)
                results.setdefault((k, name), []).append(held_out(votes[train], votes[test], slate, k, pool=pool))
                bjr = check("bjr", U[:, pool], [column[c] for c in slate])
                training_bjr.setdefault((k, name), []).append(float(bjr.info["coalition_ratio"]))
            for name, c in cost.items():
                costs.setdefault((k, name), []).append(c)
    facts = {"n": profile.n, "m": profile.m, "left_out": left_out, "held_out": int(round(0.2 * profile.n)),
             "impute_seconds": seconds / len(seeds), "costs": costs,
             "training_bjr": training_bjr}
    return results, facts


def _ms(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    a = np.asarray(values, dtype=float) * scale
    return f"{np.nanmean(a):.{digits}f} ± {np.nanstd(a):.{digits}f}"


def _bjr(ratios: list[float]) -> str:
    a = np.asarray(ratios)
    return f"holds {int((a < 1).sum())} of {a.size} ({a.mean():.2f}, max {a.max():.2f})"


def table(name: str, results: dict, facts: dict, ks: list[int]) -> str:
    meta = "".join(f"; {n} left out ({why}, last k)" for why, n in facts["left_out"].items())
    lines = [f"**{name}** — {facts['n']} participants ({facts['held_out']} held out per seed), {facts['m']} statements"
             f"{meta}; imputation {facts['impute_seconds']:.1f} s "
             "per seed", "",
             "| k | method | coverage | portrayal gain (points) | neighbours' accuracy | majority accuracy | JR gap "
             "| BJR on the training utilities |",
             "|---|---|---|---|---|---|---|---|"]
    for k in ks:
        for method in [m for (kk, m) in results if kk == k]:
            rs = results[(k, method)]
            p = [r.portrayal for r in rs]
            lines.append(f"| {k} | {method} | {_ms([r.coverage for r in rs])} | {_ms([x.gain for x in p], 100, 1)} "
                         f"| {_ms([x.accuracy for x in p], 100, 1)} % | {_ms([x.baseline_accuracy for x in p], 100, 1)} % "
                         f"| {_ms([r.jr_gap for r in rs], digits=2)} | {_bjr(facts['training_bjr'][(k, method)])} |")
    return "\n".join(lines)


def cost_table(everything: dict, costs: dict, ks: list[int]) -> str:
    """What a tolerance cost, per conversation, k and GSC method with :func:`tolerance_cost` (``costs``:
    conversation → facts["costs"]; ``everything``: conversation → results, for the held-out JR gap)."""
    lines = ["| conversation | k | method | round-1 near-ties | exact-BJR coalition ratio | exact BJR holds "
             "| ε-BJR holds | JR gap (held out) |", "|---|---|---|---|---|---|---|---|"]
    for name, by_method in costs.items():
        for k in ks:
            for method in [m for (kk, m) in by_method if kk == k]:
                cs = by_method[(k, method)]
                near, ratio = np.array([c.near_ties for c in cs]), np.array([c.ratio for c in cs])
                eps = cs[0].tolerance
                lines.append(f"| {name} | {k} | {method} | {near.mean():.1f} ({near.min()}–{near.max()}) "
                             f"| {ratio.mean():.2f} (max {ratio.max():.2f}) | {int((ratio < 1).sum())} of {len(cs)} "
                             f"| {'—' if not eps else f'{sum(c.eps_bjr for c in cs)} of {len(cs)} (ε = {eps:g})'} "
                             f"| {_ms([r.jr_gap for r in everything[name][(k, method)]], digits=2)} |")
    return "\n".join(lines)


def best_baseline(results: dict, k: int, baselines: Sequence[str] = BASELINES) -> str:
    """The one of ``baselines`` with the largest mean portrayal gain at k (``results``: {(k, method): [HeldOut per
    seed]})."""
    return max(baselines, key=lambda m: np.mean([r.portrayal.gain for r in results[(k, m)]]))


def verdict(results: dict, k: int, method: str, baselines: Sequence[str] = BASELINES) -> tuple[str, bool]:
    """The target on one conversation at one k, paired over seeds (d: the method's value minus the other's on
    the same seed; se: the sample standard deviation of d over √seeds). Met when the portrayal gain is at least
    the best baseline's (the one of ``baselines`` with the largest mean gain; mean d ≥ 0) and coverage and JR gap
    are no worse than gsc-before's, i.e. not worse by more than one standard error (coverage: mean d ≥ −se; JR
    gap: mean d ≤ se). Returns the three differences as text ("mean ± se") and whether the target is met."""
    def of(m: str, what: str) -> np.ndarray:
        return np.array([r.portrayal.gain * 100 if what == "gain" else getattr(r, what) for r in results[(k, m)]])

    def diff(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
        d = a - b
        return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else 0.0

    best = best_baseline(results, k, baselines)
    (g, g_se), (c, c_se), (j, j_se) = (diff(of(method, "gain"), of(best, "gain")),
                                       diff(of(method, "coverage"), of(BEFORE, "coverage")),
                                       diff(of(method, "jr_gap"), of(BEFORE, "jr_gap")))
    met = g >= 0 and c >= -c_se and j <= j_se
    return (f"{g:+.1f} ± {g_se:.1f} / {c:+.3f} ± {c_se:.3f} / {j:+.2f} ± {j_se:.2f}"
            f" {'**met**' if met else 'no'}"), met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed … first-seed + seeds − 1")
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--backend", default="cf", help="discriminative backend that imputes the training votes")
    parser.add_argument("--tolerance", type=float, nargs="*", default=[0.25, 0.5])
    parser.add_argument("--data", type=Path, default=POLIS)
    parser.add_argument("--no-variants", action="store_true", help="leave out the experimental tie criteria")
    parser.add_argument("--variant", nargs="+", default=[], metavar="TEXT",
                        help="run only the experimental criteria whose name contains one of these texts")
    args = parser.parse_args()
    folders = sorted(p for p in args.data.iterdir() if (p / "comments.csv").is_file()) if args.data.is_dir() else []
    if not folders:
        raise SystemExit(f"no Polis export folders under {args.data} (see ../shared/data/README.md)")
    variants = [] if args.no_variants and not args.variant else [
        name for name in VARIANTS if not args.variant or any(text in name for text in args.variant)]
    if args.variant and not variants:
        raise SystemExit(f"no experimental criterion's name contains {' or '.join(map(repr, args.variant))}")
    t0 = time.perf_counter()
    print(f"# pnyx portrayal benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; backend "
          f"{args.backend}; seeds {args.first_seed}–{args.first_seed + args.seeds - 1}; mean ± sd over seeds)\n")
    everything, costs, facts_bjr = {}, {}, {}
    for folder in folders:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        results, facts = evaluate(folder, seeds, args.k, args.backend, args.tolerance, variants)
        everything[folder.name], costs[folder.name] = results, facts["costs"]
        facts_bjr[folder.name] = facts["training_bjr"]
        print(table(folder.name, results, facts, args.k) + "\n", flush=True)
    names = list(everything)
    methods = [m for m in dict.fromkeys(m for (_, m) in next(iter(everything.values())))
               if m != BEFORE and m not in BASELINES]
    best = {n: {k: best_baseline(everything[n], k) for k in args.k} for n in names}
    print("Best baseline by portrayal gain: " + "; ".join(f"{n} {', '.join(f'k = {k}: {b}' for k, b in bs.items())}"
                                                       for n, bs in best.items()) + "\n")
    print("Target, paired over seeds (mean ± standard error of the per-seed differences): portrayal gain minus the "
          "best baseline's (points) / coverage minus gsc-before's / JR gap minus gsc-before's; met when the first is "
          "≥ 0, the second ≥ −its standard error and the third ≤ its standard error:\n")
    print(f"| k | gsc variant | {' | '.join(names)} | met on |\n|---|---|{'---|' * len(names)}---|")
    for k in args.k:
        for m in methods:
            cells = [verdict(everything[n], k, m) for n in names]
            print(f"| {k} | {m} | {' | '.join(c for c, _ in cells)} | {sum(ok for _, ok in cells)} of {len(names)} |")
    # not the target: the same comparison against the baselines whose slates keep BJR on the training
    # utilities in every split, as gsc-before's slates do
    keeping = {n: {k: [b for b in BASELINES if max(facts_bjr[n][(k, b)]) < 1] for k in args.k} for n in names}
    named = "; ".join(f"{n} " + ", ".join(
        f"k = {k}: " + (best_baseline(everything[n], k, bs[k]) if bs[k] else "none") for k in args.k)
        for n, bs in keeping.items())
    print("\nNot the target: the same comparison against the best baseline whose slate satisfies BJR on the training "
          f"utilities in every split, as gsc-before's does ({named}):\n")
    print(f"| k | gsc variant | {' | '.join(names)} | met on |\n|---|---|{'---|' * len(names)}---|")
    for k in args.k:
        for m in methods:
            cells = [verdict(everything[n], k, m, keeping[n][k]) if keeping[n][k] else ("—", False) for n in names]
            print(f"| {k} | {m} | {' | '.join(c for c, _ in cells)} | {sum(ok for _, ok in cells)} of {len(names)} |")
    print("\nWhat a tolerance costs, on the training utilities with the rule's own matching (each statement chosen "
          "once, no seats; round-1 near-ties: "
          "candidates within ε of round 1's best score, mean (min–max) over seeds; exact-BJR coalition ratio: the "
          "largest coalition blocking BJR over n/k, ≥ 1 a violation, mean (max)):\n")
    print(cost_table(everything, costs, args.k))
    print()
    print(f"{time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
