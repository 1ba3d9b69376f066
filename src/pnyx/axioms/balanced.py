"""Balanced justified representation (BJR) and its cost version (cBJR), cardinal, over a matching.

Each participant i is matched to one slate statement ω(i) and gets utility ``u_i(ω(i))``. A
coalition S *blocks* at statement α and threshold θ when every member rates α at least θ and gets
less than θ from their match. BJR forbids blocking coalitions of size ≥ n/k; cBJR forbids them
once they can "pay" for α, i.e. have size ≥ c(α)·n/B.

Checked over all thresholds at once: for a column α the blocking members at θ are the i with
``u_i(ω(i)) < θ ≤ u_i(α)`` — intervals on the utility line — so the largest blocking coalition of α
is the deepest overlap of those intervals, found by sorting their endpoints (O(n log n) per column,
continuous utilities included). Entries that are NaN (unknown) never join a coalition. The checks
sort only the columns that can hold the largest coalition (:func:`_largest_blocking`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from pnyx.axioms.base import AxiomResult, Witness, as_inputs, register
from pnyx.blocks import blocks
from pnyx.data import InputError
from pnyx.scale import MAX_UTILITY


def _assigned_utilities(U: np.ndarray, W: np.ndarray, assignment) -> np.ndarray:
    a = np.asarray(assignment)
    if a.shape != (U.shape[0],) or not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= W.size:
        raise InputError(f"assignment must give every one of the {U.shape[0]} participants a slate position "
                         f"0..{W.size - 1}", field="assignment")
    return U[np.arange(U.shape[0]), W[a]]


def _deepest_overlap(start: np.ndarray, end: np.ndarray) -> tuple[int, float]:
    """max over θ of #{i : start_i < θ ≤ end_i} and a θ attaining it (an ``end`` value); (0, nan) if none."""
    keep = start < end  # also drops NaN
    if not keep.any():
        return 0, math.nan
    s, e = np.sort(start[keep]), np.sort(end[keep])
    depth = np.searchsorted(s, e, side="left") - np.searchsorted(e, e, side="left")
    best = int(np.argmax(depth))
    return int(depth[best]), float(e[best])


def blocking_coalitions(U: np.ndarray, assigned: np.ndarray, d: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """For every column α: the size of the largest coalition blocking at α with utility slack d
    (``u_i(ω(i)) < θ − d`` and ``u_i(α) ≥ θ`` for all members) and the threshold θ it blocks at."""
    sizes = np.zeros(U.shape[1], dtype=int)
    thetas = np.full(U.shape[1], np.nan)
    for j in range(U.shape[1]):
        sizes[j], thetas[j] = _deepest_overlap(assigned + d, U[:, j])
    return sizes, thetas


_BINS = 256
"""Bins of the utility line 0–4 over which :func:`_overlap_bounds` counts."""


def _overlap_bounds(U: np.ndarray, start: np.ndarray) -> np.ndarray:
    """For every column α, an upper bound on the largest #{i : start_i < θ ≤ u_i(α)} over θ.

    The line 0–4 is cut into _BINS bins (θ ∈ (4b/_BINS, 4(b+1)/_BINS]); a member of a coalition at θ has
    an interval (start_i, u_i(α)] meeting θ's bin, so the most intervals meeting one bin bound the deepest
    overlap. Per column that count at bin b is #{i : lo_i ≤ b} − #{i : hi_iα < b}, lo and hi being a
    non-empty interval's first and last bin and hi = lo − 1 for an empty one (the bin edges are binary
    fractions, so the bins are exact): the first term does not depend on α, the second is one histogram
    per column, over blocks of rows. NaN on either side makes the interval empty.
    """
    n, m = U.shape
    scale = _BINS / MAX_UTILITY
    with np.errstate(invalid="ignore"):
        lo = np.floor(start * scale)
    lo = np.where(np.isnan(lo), _BINS + 1, np.clip(lo, 0, _BINS + 1))
    first = np.cumsum(np.bincount(lo.astype(np.int64), minlength=_BINS + 2))[:_BINS]  # #{i : lo_i ≤ b}
    floor = lo.astype(U.dtype)
    # u > start_i exactly as u ≥ the next value of U's type above start_i (one comparison in U's type)
    above = start.astype(U.dtype)
    above = np.where(above > start, above, np.nextafter(above, np.inf, dtype=U.dtype))
    width = _BINS + 3
    offsets = width * np.arange(m)
    counts = np.zeros(m * width, dtype=np.int64)
    for b in blocks(n, m):
        block = U[b]
        hi = np.multiply(block, scale)
        np.ceil(hi, out=hi)  # hi + 1: every index ≥ 0
        hi *= block >= above[b, None]  # an empty interval: 0, raised to lo below
        np.fmax(hi, floor[b, None], out=hi)  # (fmax: a NaN utility gives lo − 1 too)
        index = hi.astype(np.intp)
        index += offsets
        counts += np.bincount(index.ravel(), minlength=m * width)
    below = np.cumsum(counts.reshape(m, width), axis=1)[:, :_BINS]  # #{i : hi_i < b}
    return (first[None, :] - below).max(axis=1)


def _largest_blocking(U: np.ndarray, assigned: np.ndarray, d: float, need: np.ndarray) -> tuple[int, int, float, float]:
    """The column whose largest blocking coalition is the largest multiple of its required size (the
    lowest such column): (column, size, threshold, ratio), as :func:`blocking_coalitions` would give.

    Columns are swept in decreasing order of an upper bound on their coalition (:func:`_overlap_bounds`)
    over ``need``, and the sweep stops once no bound reaches the best ratio found: at scale most columns
    are never sorted.
    """
    start = assigned + d
    bound = _overlap_bounds(U, start) / need
    best, found = -1.0, {}
    for j in np.argsort(-bound, kind="stable"):
        if bound[j] < best:
            break
        size, theta = _deepest_overlap(start, U[:, j])
        found[int(j)] = (size, theta, size / need[j])
        best = max(best, size / need[j])
    j = min(c for c, (_, _, r) in found.items() if r == best)
    return j, found[j][0], found[j][1], best


def _check(axiom: str, U, W, assigned, need: np.ndarray, d: float, info: dict) -> AxiomResult:
    j, size, theta, ratio = _largest_blocking(U, assigned, d, need)
    info["coalition_ratio"] = float(ratio)
    if size < need[j]:
        return AxiomResult(axiom, True, info=info)
    theta = float(theta)
    with np.errstate(invalid="ignore"):
        S = np.flatnonzero((assigned + d < theta) & (U[:, j] >= theta))
    info["utility_gap"] = float(U[S, j].min() - assigned[S].max())
    return AxiomResult(axiom, False, Witness(
        S.tolist(), j, theta,
        f"{S.size} participants (≥ {need[j]:g} required) all rate statement {j} at least {theta:g} "
        f"but each gets less than {theta - d:g} from the slate statement matched to them.", [j]), info)


@register("bjr")
def balanced_justified_representation(
    U: np.ndarray,
    slate: Sequence[int],
    *,
    assignment: Sequence[int] | np.ndarray | None = None,
    b: float = 1.0,
    d: float = 0.0,
) -> AxiomResult:
    """Balanced justified representation (Fish et al., Generative Social Choice, arXiv 2309.01291).

    A slate W with a balanced matching ω satisfies BJR if there is no coalition S with
    ``|S| ≥ n/k``, statement α (any column of U) and threshold θ with ``u_i(α) ≥ θ > u_i(ω(i))``
    for all i ∈ S. ``assignment`` gives ω as a slate position per participant (e.g. the process's own
    matching, which is what the paper's guarantee is about); default: the utility-maximising
    balanced matching :func:`pnyx.assignment.balanced`.

    ``b`` and ``d`` relax the axiom as (b, d)-cBJR does (our reading of arXiv 2505.22939): only
    coalitions of size ≥ b·n/k whose members get less than θ − d count. ``info["coalition_ratio"]`` is the largest
    blocking coalition over its required size (≥ 1 iff violated); ``info["utility_gap"]`` is the
    witness's ``min u_i(α) − max u_i(ω(i))``.
    """
    U, W = as_inputs(U, slate, unique=False)
    if assignment is None:
        from pnyx.assignment import balanced

        assignment = balanced(U, W.tolist()).assignment
    assigned = _assigned_utilities(U, W, assignment)
    n, k = U.shape[0], W.size
    need = max(1, math.ceil(round(b * n / k, 9)))
    info = {"n": n, "k": k, "required_size": need, "b": b, "d": d,
            "group_sizes": np.bincount(assignment, minlength=k).tolist()}
    return _check("bjr", U, W, assigned, np.full(U.shape[1], need), d, info)


@register("cbjr")
def cost_balanced_justified_representation(
    U: np.ndarray,
    slate: Sequence[int],
    *,
    costs: Sequence[float] | np.ndarray,
    assignment: Sequence[int] | np.ndarray,
    budget: float | None = None,
    b: float = 1.0,
    d: float = 0.0,
) -> AxiomResult:
    """(b, d)-cBJR, the cost version of BJR (Boehmer, Fish & Procaccia, Generative Social Choice: The
    Next Generation, arXiv 2505.22939).

    Statements have costs ``c(α)`` (word counts, :attr:`pnyx.data.Statement.cost`) and the slate a
    budget B (default: the slate's total cost). Violated iff some statement α (any column), threshold
    θ and coalition S with ``|S| ≥ b·c(α)·n/B`` have ``u_i(α) ≥ θ`` and ``u_i(ω(i)) < θ − d`` for
    all i ∈ S. With b = 1, d = 0 this is the check the authors run on PROSE's slates (coalition size
    ≥ c(α)·n/B, thresholds over the utilities seen); b ≥ 1 on the coalition side and d ≥ 0 on the
    utility side is our reading of the paper's (b, d) slack. ``assignment`` is the process's matching
    (a slate position per participant, groups sized in proportion to cost).
    """
    U, W = as_inputs(U, slate, unique=False)
    c = np.asarray(costs, dtype=float)
    if c.shape != (U.shape[1],) or not np.all(np.isfinite(c)) or (c < 0).any():
        raise InputError(f"costs must give a non-negative cost for each of the {U.shape[1]} statements", field="costs")
    B = float(c[W].sum()) if budget is None else float(budget)
    if B <= 0:
        raise InputError(f"budget must be positive, got {B:g}", field="budget")
    assigned = _assigned_utilities(U, W, assignment)
    n = U.shape[0]
    need = np.maximum(1, np.ceil(np.round(b * c * n / B, 9)))
    info = {"n": n, "budget": B, "b": b, "d": d, "group_sizes": np.bincount(assignment, minlength=W.size).tolist()}
    return _check("cbjr", U, W, assigned, need, d, info)
