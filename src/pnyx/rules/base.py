"""What every slate rule shares: the result object, the registry, input checks and the one MILP helper.

A rule is a pure function ``rule(U, k, **params) -> RuleResult`` over an n × m utility matrix (rows
participants, columns candidate statements). Approval-based rules read ``U ≥ threshold`` as approval
(NaN: not approved). Ties are broken towards the lowest column index unless a rule's docstring says
otherwise, and every tie met is recorded in ``RuleResult.ties``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from pnyx.data import DEFAULT_APPROVAL_THRESHOLD, InputError


@dataclass
class RuleResult:
    """A slate and how it was reached."""

    slate: list[int]
    """Chosen columns of U, in selection order (for optimisation rules: ascending)."""
    rule: str
    k: int
    scores: list[Any] = field(default_factory=list)
    """Per round, the winning score (sequential rules); the optimal objective for optimisation rules."""
    ties: list[dict[str, Any]] = field(default_factory=list)
    """Ties met: ``{"round", "tied" (columns), "chosen", "broken_by"}``."""
    status: str = "ok"
    """``ok`` for sequential rules; the solver's model status for optimisation rules (``optimal``)."""
    info: dict[str, Any] = field(default_factory=dict)


RuleFunction = Callable[..., RuleResult]


@dataclass(frozen=True)
class Rule:
    id: str
    fn: RuleFunction
    approval: bool
    """Reads U through an approval threshold."""
    exact: bool
    """Solves an optimisation problem exactly (MILP) rather than greedily."""

    def __call__(self, U: np.ndarray, k: int, **params: Any) -> RuleResult:
        return self.fn(U, k, **params)


RULES: dict[str, Rule] = {}


def register(rule_id: str, *, approval: bool, exact: bool = False) -> Callable[[RuleFunction], RuleFunction]:
    """Class the decorated function as rule ``rule_id`` in :data:`RULES`."""

    def decorate(fn: RuleFunction) -> RuleFunction:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id!r} is registered twice")
        RULES[rule_id] = Rule(rule_id, fn, approval, exact)
        return fn

    return decorate


# -- input ---------------------------------------------------------------------------------------


def utilities(U: np.ndarray, k: int, *, allow_nan: bool = True) -> np.ndarray:
    """U as a float n × m matrix, with k checked against m."""
    U = np.asarray(U, dtype=float)
    if U.ndim != 2:
        raise InputError(f"U must be a 2-D participants × statements matrix, got shape {U.shape}", field="U")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}", field="k")
    if k > U.shape[1]:
        raise InputError(f"k = {k} is larger than the number of candidate statements ({U.shape[1]})", field="k")
    if not allow_nan and np.isnan(U).any():
        i, j = np.argwhere(np.isnan(U))[0]
        raise InputError(f"utility of participant {i} for statement {j} is unknown (NaN); this rule needs every "
                         "utility: fill them with a discriminative backend (pnyx.queries)", field="U")
    return U


def approvals(U: np.ndarray, k: int, threshold: float = DEFAULT_APPROVAL_THRESHOLD) -> np.ndarray:
    """The approval matrix A = (U ≥ threshold); NaN is not approved."""
    with np.errstate(invalid="ignore"):
        return utilities(U, k) >= threshold


def approval_pairs(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(voter, candidate) of every approval, voter by voter.

    Sequential rules work on these, so their rounds cost O(#approvals), not O(n·m).
    """
    return np.divmod(np.flatnonzero(A), A.shape[1])


def ballot_types(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct approval ballots (rows), how many voters cast each, and each row's ballot type.

    Exact ILPs (rules and axiom checks) run on ballot types instead of voters.
    """
    packed = np.ascontiguousarray(np.packbits(A, axis=1))  # one opaque key per ballot: fast to sort
    keys = packed.view(np.dtype((np.void, packed.shape[1])))[:, 0]
    _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    return A[first], counts, inverse.ravel()


def lowest(scores: np.ndarray, best: float, *, rtol: float = 0.0, atol: float = 0.0) -> tuple[int, list[int]]:
    """The lowest column attaining ``best`` (within tolerance) and all columns that do."""
    tied = np.flatnonzero(np.abs(scores - best) <= atol + rtol * abs(best))
    return int(tied[0]), tied.tolist()


def tie(round_: int | None, tied: list[int], chosen: int, broken_by: str = "lowest column index") -> dict[str, Any]:
    return {"round": round_, "tied": tied, "chosen": chosen, "broken_by": broken_by}


# -- the one MILP helper -------------------------------------------------------------------------


def milp_max(
    c: np.ndarray,
    A: sp.spmatrix,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_upper: np.ndarray,
    integer: np.ndarray,
    *,
    abs_gap: float = 0.0,
    time_limit: float | None = None,
    allow_infeasible: bool = False,
) -> tuple[np.ndarray | None, float, str]:
    """Maximise c·x over row_lower ≤ A x ≤ row_upper, 0 ≤ x ≤ col_upper, x_j integer where ``integer``.

    Solved by HiGHS branch-and-cut with relative gap 0 and absolute gap ``abs_gap`` (pass less than
    the smallest objective difference that matters, so "optimal" means optimal). Returns
    (x, objective, model status); with ``allow_infeasible`` an infeasible model gives x = None
    (feasibility questions, as in the axiom checks). Any other stop (e.g. ``time_limit`` seconds
    reached) raises ``RuntimeError("undecided: …")``.
    """
    import highspy

    A = sp.csc_matrix(A)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = A.shape[1], A.shape[0]
    lp.col_cost_ = np.asarray(c, dtype=float)
    lp.col_lower_ = np.zeros(A.shape[1])
    lp.col_upper_ = np.asarray(col_upper, dtype=float)
    lp.row_lower_ = np.asarray(row_lower, dtype=float)
    lp.row_upper_ = np.asarray(row_upper, dtype=float)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(float)
    lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous for b in integer]
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", abs_gap)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus()).lower()
    if allow_infeasible and h.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
        return None, float("nan"), status
    if status != "optimal":
        raise RuntimeError(f"undecided: HiGHS stopped with status {status!r}")
    x = np.asarray(h.getSolution().col_value)
    return x, float(h.getInfo().objective_function_value), status
