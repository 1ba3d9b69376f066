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
from pnyx.registry import Registry
from pnyx.validation import check_k, check_utilities


@dataclass
class Tie:
    """A tie (or near-tie) met while choosing, and how it was decided.

    ``kind`` ``"candidates"``: several columns reached the round's best score (``tied``, profile
    or U columns) and ``chosen`` was kept; ``"participants"``: several rows reached the cut-off
    utility of the matched group (``tied`` rows, ``chosen`` the rows taken). ``criteria`` holds the
    values of the criteria that decided it, criterion → tied column → value (e.g. ``"distinctive"``).
    """

    round: int | None
    tied: list[int]
    chosen: int | list[int]
    broken_by: str = "lowest column index"
    kind: str = "candidates"
    value: float | None = None
    """The tied score (candidates) or cut-off utility (participants)."""
    criteria: dict[str, dict[int, float]] = field(default_factory=dict)
    tolerance: float = 0.0
    """How far below the best a score still counted as tied (0: exact ties only)."""

    def relabel(self, column: Any) -> "Tie":
        """This tie with each column c it names (candidates only) replaced by ``column[c]`` (a sequence or a
        mapping: e.g. a pool's profile columns by position), in place; returned for chaining."""
        if self.kind == "candidates":
            self.tied = [column[c] for c in self.tied]
            self.chosen = column[int(self.chosen)]
            self.criteria = {name: {column[c]: v for c, v in values.items()} for name, values in self.criteria.items()}
        return self


@dataclass
class RuleResult:
    """A slate and how it was reached."""

    slate: list[int]
    """Chosen columns of U, in selection order (for optimisation rules: ascending)."""
    rule: str
    k: int
    scores: list[Any] = field(default_factory=list)
    """Per round, the winning score (sequential rules); the optimal objective for optimisation rules."""
    ties: list[Tie] = field(default_factory=list)
    """Ties met, in the order met."""
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
    settings: tuple[str, ...] = ()
    """Run settings the rule takes besides U and k (``seed``, ``groups``): the process passes these."""

    def __call__(self, U: np.ndarray, k: int, **params: Any) -> RuleResult:
        return self.fn(U, k, **params)


RULES: Registry[Rule] = Registry("rule")


def register(rule_id: str, *, approval: bool, exact: bool = False,
             settings: tuple[str, ...] = ()) -> Callable[[RuleFunction], RuleFunction]:
    """Register the decorated function as rule ``rule_id`` in :data:`RULES`; ``settings`` names the run
    settings it takes (``seed``: a random draw; ``groups``: the participants' groups, or None)."""

    def decorate(fn: RuleFunction) -> RuleFunction:
        RULES.register(rule_id, approval=approval, exact=exact, settings=settings)(
            Rule(rule_id, fn, approval, exact, settings))
        return fn

    return decorate


# -- input ---------------------------------------------------------------------------------------


def utilities(U: np.ndarray, k: int, *, allow_nan: bool = True) -> np.ndarray:
    """U as a float n × m matrix (:func:`pnyx.validation.check_utilities`), with k checked against m."""
    U = check_utilities(U, allow_nan=allow_nan)
    check_k(k, m=U.shape[1])
    return U


def approvals(U: np.ndarray, k: int, threshold: float = DEFAULT_APPROVAL_THRESHOLD) -> np.ndarray:
    """The approval matrix: a boolean U as it is, else U ≥ threshold (NaN is not approved).

    Raises
    ------
    InputError
        An integer 0/1 matrix with a threshold above 1: read as utilities it would approve nothing;
        pass approvals as booleans (or 0/4 utilities), or ``threshold=1``.
    """
    dtype = getattr(U, "dtype", None)
    if dtype == bool:
        check_k(k, m=np.shape(U)[1] if np.ndim(U) == 2 else 0)
        return np.asarray(U)
    if dtype is not None and np.issubdtype(dtype, np.integer) and threshold > 1 and np.isin(U, (0, 1)).all():
        raise InputError(f"U is a 0/1 integer matrix and no entry reaches the approval threshold {threshold:g}: "
                         "pass approvals as a boolean matrix (U.astype(bool)), or threshold=1", field="threshold")
    U = utilities(U, k)
    with np.errstate(invalid="ignore"):
        return U >= threshold


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


def tie(round_: int | None, tied: list[int], chosen: int, broken_by: str = "lowest column index",
        value: float | None = None) -> Tie:
    """A :class:`Tie` between candidate columns."""
    return Tie(round_, [int(j) for j in tied], int(chosen), broken_by, value=None if value is None else float(value))


# -- the one MILP helper -------------------------------------------------------------------------

_banner_done = False


def _highs():
    """A HiGHS instance; the first one in a process prints a banner on the C-level stdout, which would
    land in the output of commands that print JSON, so that one is made with stdout pointed at /dev/null."""
    import os
    import sys

    import highspy

    global _banner_done
    if _banner_done:
        return highspy.Highs()
    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
        _banner_done = True


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
    h = _highs()
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
