"""Proportionality axioms of approval-based committee voting, read off utilities as approvals.

Participant i approves statement c when ``U[i, c] ≥ threshold`` (default 3, "mostly"; NaN is not an
approval). n participants, a slate W of k statements, ``sat_i = |A_i ∩ W|``. A group S *deserves*
ℓ seats when ``|S| ≥ ℓ·n/k`` (the Hare quota; we compare ``k·|S| ≥ ℓ·n`` in integers) and it is
*ℓ-cohesive* when moreover ``|∩_{i∈S} A_i| ≥ ℓ``.

JR and EJR+ are polynomial scans. EJR, PJR and the core are coNP-complete to check: for ℓ = 1 they
coincide with JR, beyond that they are decided exactly by 0/1 programs (HiGHS) — one per ℓ for EJR
and PJR, one for the core — after pruning and after merging participants with identical ballots (a
violating coalition can always take all copies of a ballot it contains). Their ``time_limit``
(seconds per program) turns a hopeless search into an error rather than a wait.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp

from pnyx.axioms.base import AxiomResult, Witness, approvals, as_inputs, register
from pnyx.data import DEFAULT_APPROVAL_THRESHOLD
from pnyx.rules.base import ballot_types, milp_max


def _prepare(U, slate, threshold):
    U, W = as_inputs(U, slate)
    A = approvals(U, threshold)
    sat = A[:, W].sum(axis=1)
    n, k = A.shape[0], W.size
    info = {"n": n, "k": k, "quota": n / k, "approval_threshold": threshold}
    return A, W, sat, n, k, info


def _need(ell: int, n: int, k: int) -> int:
    """Smallest group size with |S| ≥ ℓ·n/k."""
    return -(-ell * n // k)


# -- JR and EJR+: polynomial ---------------------------------------------------------------------


@register("jr")
def justified_representation(
    U: np.ndarray, slate: Sequence[int], *, threshold: float = DEFAULT_APPROVAL_THRESHOLD
) -> AxiomResult:
    """Justified representation (Aziz, Brill, Conitzer, Elkind, Freeman & Walsh, Social Choice and Welfare 2017).

    Violated iff some candidate c is approved by ≥ n/k participants none of whom approves any
    member of W. The witness is the largest such group.
    """
    A, W, sat, n, k, info = _prepare(U, slate, threshold)
    w = _jr_witness(A, sat, n, k)
    return AxiomResult("jr", w is None, w, info)


def _jr_witness(A: np.ndarray, sat: np.ndarray, n: int, k: int) -> Witness | None:
    """The largest group of ≥ n/k participants with a common candidate and no approved slate member.

    For ℓ = 1 (and |T| = 1) this is also exactly the EJR, PJR and core violation, so those checks
    start here instead of with an integer program.
    """
    support = A[sat == 0].sum(axis=0)
    c = int(np.argmax(support))
    if support[c] < _need(1, n, k):
        return None
    S = np.flatnonzero(A[:, c] & (sat == 0)).tolist()
    return Witness(S, c, 1, f"{len(S)} participants (≥ n/k = {n / k:g}) all approve statement {c} "
                   "but none approves any statement on the slate.", [c])


@register("ejr+")
def ejr_plus(U: np.ndarray, slate: Sequence[int], *, threshold: float = DEFAULT_APPROVAL_THRESHOLD) -> AxiomResult:
    """EJR+ (Brill & Peters, EC 2023, arXiv 2302.01989).

    Violated iff for some candidate c ∉ W and ℓ ∈ 1..k the participants approving c with
    ``sat_i < ℓ`` number at least ℓ·n/k. Counted for all (c, ℓ) at once from one histogram of
    ``sat`` over each candidate's approvers. The witness is the pair most over quota.
    """
    A, W, sat, n, k, info = _prepare(U, slate, threshold)
    outside = np.setdiff1d(np.arange(A.shape[1]), W)
    if outside.size == 0:
        return AxiomResult("ejr+", True, info=info)
    i, c = np.nonzero(A[:, outside] & (sat < k)[:, None])  # one entry per approval that could count
    hist = np.bincount(c * k + sat[i], minlength=outside.size * k).reshape(outside.size, k)
    count = np.cumsum(hist, axis=1)  # [c, ℓ−1] = #{i approving c : sat_i < ℓ}
    ells = np.arange(1, k + 1)
    excess = count * k / (ells * n)[None, :]
    ci, li = np.unravel_index(np.argmax(excess), excess.shape)
    if excess[ci, li] < 1:
        return AxiomResult("ejr+", True, info=info)
    c, ell = int(outside[ci]), int(ells[li])
    S = np.flatnonzero(A[:, c] & (sat < ell)).tolist()
    return AxiomResult("ejr+", False, Witness(
        S, c, ell, f"{len(S)} participants (≥ {ell}·n/k = {ell * n / k:g}) approve statement {c}, which is not "
        f"on the slate, yet each approves fewer than {ell} slate statements.", [c]), info)


# -- EJR, PJR, core: exact, by 0/1 programs ------------------------------------------------------


def _feasible(A: sp.spmatrix, lower: np.ndarray, upper: np.ndarray, time_limit: float | None = None) -> np.ndarray | None:
    """A feasible 0/1 point of ``lower ≤ A x ≤ upper`` (HiGHS branch and bound), or None if none exists."""
    nv = A.shape[1]
    x, _, _ = milp_max(np.zeros(nv), A, lower, upper, np.ones(nv), np.ones(nv, dtype=bool),
                       time_limit=time_limit, allow_infeasible=True)
    return None if x is None else np.round(x).astype(bool)


def _cohesive_candidates(A: np.ndarray, eligible: np.ndarray, ell: int, need: int) -> tuple[np.ndarray, np.ndarray]:
    """Prune to the participants and candidates an ℓ-cohesive group of size ≥ need could use.

    A common candidate needs ≥ need eligible approvers; a member must approve ≥ ℓ common candidates.
    """
    C = np.ones(A.shape[1], dtype=bool)
    while True:
        C_new = A[eligible].sum(axis=0) >= need
        eligible_new = eligible & (A[:, C_new].sum(axis=1) >= ell)
        if np.array_equal(C_new, C) and np.array_equal(eligible_new, eligible):
            return eligible, np.flatnonzero(C)
        C, eligible = C_new, eligible_new


def _cohesion_rows(types: np.ndarray, weights: np.ndarray, ell: int, need: int) -> tuple[list, list, list]:
    """Rows shared by EJR and PJR over variables [x_g (ballot types) | y_c (candidates)]:

    * Σ y_c = ℓ (any ℓ of the common candidates will do) and Σ w_g x_g ≥ need;
    * x_g + y_c ≤ 1 where type g does not approve c;
    * ℓ·x_g ≤ Σ_{c ∈ A_g} y_c and need·y_c ≤ Σ_{g ∋ c} w_g x_g — implied by the rows above for 0/1
      points, but they tighten the LP relaxation enough to cut solve times by two orders of magnitude.
    """
    T, C = types.shape
    g, c = np.nonzero(~types)
    r = np.arange(g.size)
    approve = sp.csr_matrix(types.astype(float))
    blocks = [sp.csr_matrix(np.r_[np.zeros(T), np.ones(C)][None, :]),
              sp.csr_matrix(np.r_[weights, np.zeros(C)][None, :]),
              sp.csr_matrix((np.ones(2 * g.size), (np.r_[r, r], np.r_[g, T + c])), shape=(g.size, T + C)),
              sp.hstack([sp.identity(T) * ell, -approve]),
              sp.hstack([-approve.T.multiply(weights[None, :]), sp.identity(C) * need])]
    lower = [[ell], [need], np.full(g.size, -np.inf), np.full(T + C, -np.inf)]
    upper = [[ell], [np.inf], np.ones(g.size), np.zeros(T + C)]
    return blocks, lower, upper


def _cohesive_violation(axiom: str, U, slate, threshold, time_limit) -> AxiomResult:
    A, W, sat, n, k, info = _prepare(U, slate, threshold)
    info["integer_programs"] = 0
    jr = _jr_witness(A, sat, n, k)
    if jr is not None:
        return AxiomResult(axiom, False, jr, info)
    for ell in range(2, k + 1):
        need = _need(ell, n, k)
        eligible, C = _cohesive_candidates(A, sat < ell, ell, need)
        if eligible.sum() < need or C.size < ell:
            continue
        rows = np.flatnonzero(eligible)
        if axiom == "ejr":
            cols = C
        else:  # PJR also tracks which slate statements the group's union covers
            cols = np.r_[C, W]
        types, weights, of_row = ballot_types(A[np.ix_(rows, cols)])
        blocks, lower, upper = _cohesion_rows(types[:, : C.size], weights, ell, need)
        T, nv = types.shape[0], types.shape[0] + C.size
        if axiom == "pjr":
            # z_w ≥ x_g for every slate statement w that type g approves, and Σ z_w ≤ ℓ − 1
            g, w = np.nonzero(types[:, C.size:])
            r = np.arange(g.size)
            blocks = [sp.hstack([b, sp.csr_matrix((b.shape[0], W.size))]) for b in blocks]
            blocks += [sp.csr_matrix((np.r_[np.ones(g.size), -np.ones(g.size)], (np.r_[r, r], np.r_[g, nv + w])),
                                     shape=(g.size, nv + W.size)),
                       sp.csr_matrix(np.r_[np.zeros(nv), np.ones(W.size)][None, :])]
            lower += [np.full(g.size, -np.inf), [-np.inf]]
            upper += [np.zeros(g.size), [ell - 1]]
        info["integer_programs"] += 1
        x = _feasible(sp.vstack(blocks), np.concatenate(lower), np.concatenate(upper), time_limit)
        if x is None:
            continue
        S = rows[x[of_row]].tolist()
        common = C[x[T:nv]].tolist()
        if axiom == "ejr":
            detail = (f"{len(S)} participants (≥ {ell}·n/k = {ell * n / k:g}) all approve the {len(common)} "
                      f"statements {common}, yet each approves fewer than {ell} slate statements.")
        else:
            covered = sorted(set(W[A[S][:, W].any(axis=0)].tolist()))
            detail = (f"{len(S)} participants (≥ {ell}·n/k = {ell * n / k:g}) all approve the {len(common)} "
                      f"statements {common}, yet together they approve only {len(covered)} slate statements {covered}.")
        return AxiomResult(axiom, False, Witness(S, None, ell, detail, common), info)
    return AxiomResult(axiom, True, info=info)


@register("ejr")
def extended_justified_representation(
    U: np.ndarray, slate: Sequence[int], *, threshold: float = DEFAULT_APPROVAL_THRESHOLD, time_limit: float | None = None
) -> AxiomResult:
    """Extended justified representation (Aziz et al. 2017), decided exactly.

    Violated iff for some ℓ ∈ 1..k an ℓ-cohesive group (|S| ≥ ℓ·n/k, ≥ ℓ commonly approved
    candidates) has no member with ``sat_i ≥ ℓ``. Per ℓ, one 0/1 program over the participants with
    ``sat_i < ℓ``: x_i + y_c ≤ 1 + a_ic, Σ y_c ≥ ℓ, Σ x_i ≥ ℓ·n/k. The witness lists the group and
    its common candidates.
    """
    return _cohesive_violation("ejr", U, slate, threshold, time_limit)


@register("pjr")
def proportional_justified_representation(
    U: np.ndarray, slate: Sequence[int], *, threshold: float = DEFAULT_APPROVAL_THRESHOLD, time_limit: float | None = None
) -> AxiomResult:
    """Proportional justified representation (Sánchez-Fernández et al., AAAI 2017), decided exactly.

    Violated iff for some ℓ an ℓ-cohesive group S has ``|W ∩ ∪_{i∈S} A_i| < ℓ``. The EJR program
    plus z_w ≥ x_i for every slate member w that a member i approves and Σ z_w ≤ ℓ − 1.
    """
    return _cohesive_violation("pjr", U, slate, threshold, time_limit)


@register("core")
def core(
    U: np.ndarray, slate: Sequence[int], *, threshold: float = DEFAULT_APPROVAL_THRESHOLD, time_limit: float | None = None
) -> AxiomResult:
    """The approval core (Aziz et al. 2017; Lackner & Skowron, Multi-Winner Voting with Approval Preferences, 2023), decided exactly.

    Violated iff some group S and candidate set T with ``|T| ≤ |S|·k/n`` have
    ``|A_i ∩ T| > |A_i ∩ W|`` for every i ∈ S. After the JR scan (|T| = 1), one 0/1 program over
    [x_g (ballot types) | y_c]: ``Σ_{c ∈ A_g} y_c ≥ (sat_g + 1)·x_g``, ``n·Σ y_c ≤ k·Σ w_g x_g``,
    ``Σ w_g x_g ≥ 1``, plus the valid row ``Σ_g w_g (sat_g + 1) x_g ≤ Σ_c support_c·y_c``.
    Exponential in the worst case: dense, cohesive profiles can take minutes.
    """
    A, W, sat, n, k, info = _prepare(U, slate, threshold)
    info["integer_programs"] = 0
    jr = _jr_witness(A, sat, n, k)
    if jr is not None:
        return AxiomResult("core", False, jr, info)
    rows = np.flatnonzero(A.sum(axis=1) > sat)  # who approves nothing outside W cannot strictly gain
    if rows.size == 0:
        return AxiomResult("core", True, info=info)
    types, weights, of_row = ballot_types(A[rows])
    T, m = types.shape
    approve, gain = types.astype(float), types[:, W].sum(axis=1) + 1.0
    M = sp.vstack([
        sp.hstack([sp.diags(-gain), sp.csr_matrix(approve)]),
        sp.csr_matrix(np.r_[-k * weights, np.full(m, float(n))][None, :]),
        sp.csr_matrix(np.r_[weights, np.zeros(m)][None, :]),
        sp.csr_matrix(np.r_[weights * gain, -(weights @ approve)][None, :]),
    ])
    info["integer_programs"] = 1
    x = _feasible(M, np.r_[np.zeros(T), -np.inf, 1, -np.inf], np.r_[np.full(T, np.inf), 0, np.inf, 0], time_limit)
    if x is None:
        return AxiomResult("core", True, info=info)
    S = rows[x[of_row]].tolist()
    objection = np.flatnonzero(x[T:]).tolist()
    return AxiomResult("core", False, Witness(
        S, None, len(objection), f"{len(S)} participants (≥ |T|·n/k = {len(objection) * n / k:g}) would each "
        f"approve more of the {len(objection)} statements T = {objection} than of the slate.", objection), info)
