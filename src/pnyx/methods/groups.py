"""Groups of participants and the egalitarian group slate (MaxMin-RLHF, Chakraborty et al., arXiv 2402.08925).

Groups come from the data (Polis ``group-id``, metadata) or are learned by EM on the utility matrix
(a Gaussian mixture, the "mixture of reward models" of MaxMin-RLHF with one mean utility vector per
group). The egalitarian slate maximises the worst-off group's mean best-in-slate utility.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from pnyx.data import InputError
from pnyx.methods.base import METHODS
from pnyx.rules.base import RuleResult, milp_max, register, utilities
from pnyx.validation import check_utilities


@dataclass
class Groups:
    """A partition of the participants (rows) into groups, learned or given."""

    labels: np.ndarray
    """Group index per participant, 0..G−1 (−1: no group)."""
    names: list[str]
    """Name of group g (data labels, or ``"em-0"``…)."""
    method: str
    probabilities: np.ndarray | None = None
    """EM: the posterior probability of each group per participant (n × G)."""
    means: np.ndarray | None = None
    """EM: each group's mean utility vector (G × m)."""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.names)

    def members(self, g: int) -> np.ndarray:
        return np.flatnonzero(self.labels == g)


def groups_from_labels(labels: Sequence[Any]) -> Groups:
    """Groups from one label per participant (None or "" : no group), in order of first appearance."""
    names: list[str] = []
    index: dict[str, int] = {}
    out = np.full(len(labels), -1, dtype=int)
    for i, label in enumerate(labels):
        if label is None or label == "":
            continue
        key = str(label)
        if key not in index:
            index[key] = len(names)
            names.append(key)
        out[i] = index[key]
    return Groups(out, names, "data")


def _filled(U: np.ndarray) -> np.ndarray:
    """U with unknown entries replaced by their column's mean (EM reads a complete matrix)."""
    if not np.isnan(U).any():
        return U
    col = np.nanmean(np.where(np.isnan(U).all(axis=0), 0.0, U), axis=0)
    return np.where(np.isnan(U), np.nan_to_num(col, nan=2.0)[None, :], U)


@METHODS.register("em-groups", input="utilities", cite="arXiv 2402.08925 (EM over a mixture)")
def em_groups(U: np.ndarray, n_groups: int | None = None, *, max_groups: int = 6, seed: int = 0,
              n_init: int = 2, components: int | None = 10) -> Groups:
    """Learn groups by EM on a Gaussian mixture with diagonal covariances over the rows of U.

    Definition: the mixture Σ_g π_g N(x; μ_g, diag σ_g²) fitted by expectation–maximisation
    (scikit-learn's ``GaussianMixture``); each participant joins its most probable component. With
    ``n_groups=None`` the number of groups in 2..``max_groups`` minimising BIC is used. Unknown
    utilities are filled with their column mean first; x is the row of U projected on its first
    ``components`` principal components (as Polis clusters on PCA coordinates; None: U itself).
    ``means`` are each group's mean utility vector.

    Raises
    ------
    InputError
        Fewer participants than groups.
    """
    from sklearn.mixture import GaussianMixture

    from threadpoolctl import threadpool_limits

    full = _filled(check_utilities(U))
    X = full
    if components is not None and components < min(full.shape):
        centred = full - full.mean(axis=0)
        with threadpool_limits(1):  # small dense problems: BLAS threads only contend (100× slower on a busy machine)
            _, _, Vt = np.linalg.svd(centred, full_matrices=False)
        X = centred @ Vt[:components].T
    n = X.shape[0]
    choices = [n_groups] if n_groups is not None else list(range(2, max_groups + 1))
    if n_groups is not None and not 1 <= n_groups <= n:
        raise InputError(f"n_groups must be between 1 and the number of participants ({n}), got {n_groups}",
                         field="n_groups")
    distinct = len(np.unique(X, axis=0))  # more components than distinct rows: nothing to tell them apart
    choices = [g for g in choices if g <= min(n, distinct)] or [min(choices[0], distinct)]
    best, best_bic, bics = None, np.inf, {}
    with threadpool_limits(1):
        for g in choices:
            gm = GaussianMixture(g, covariance_type="diag", n_init=n_init, random_state=seed, reg_covar=1e-3).fit(X)
            bics[g] = float(gm.bic(X))
            if bics[g] < best_bic:
                best, best_bic = gm, bics[g]
    post = best.predict_proba(X)
    labels = post.argmax(axis=1)
    # relabel by first appearance so that labels do not depend on the solver's component order
    order = list(dict.fromkeys(labels.tolist()))
    relabel = np.full(best.n_components, -1)
    relabel[order] = np.arange(len(order))
    keep = np.array(order)
    labels = relabel[labels]
    means = np.array([full[labels == g].mean(axis=0) for g in range(len(order))])
    return Groups(labels, [f"em-{g}" for g in range(len(order))], "em", post[:, keep], means,
                  info={"bic": bics, "converged": bool(best.converged_), "seed": seed, "components": components})


def group_utilities(U: np.ndarray, slate: Sequence[int], groups: Groups) -> np.ndarray:
    """Each group's mean best-in-slate utility, mean_{i ∈ g} max_{j ∈ W} U_ij (NaN for an empty group)."""
    best = np.nanmax(U[:, list(slate)], axis=1)
    return np.array([best[groups.labels == g].mean() if (groups.labels == g).any() else np.nan
                     for g in range(groups.count)])


def _as_groups(groups: Any, U: np.ndarray, seed: int) -> Groups:
    if groups is None:
        return em_groups(U, seed=seed)
    if isinstance(groups, Groups):
        return groups
    g = groups_from_labels(list(groups))
    if len(g.labels) != U.shape[0]:
        raise InputError(f"groups has {len(g.labels)} labels for {U.shape[0]} participants", field="groups")
    return g


@register("maxmin-groups", approval=False, exact=True, settings=("seed", "groups"))
def maxmin_groups(U: np.ndarray, k: int, *, groups: Any = None, seed: int = 0, method: str = "auto",
                  exact_limit: int = 20_000, time_limit: float | None = 30.0) -> RuleResult:
    """The egalitarian group slate: max over slates W of min over groups g of mean_{i∈g} max_{j∈W} U_ij.

    MaxMin-RLHF's objective (Chakraborty et al., arXiv 2402.08925) for a slate of k statements, as
    a MILP (HiGHS): x_j ∈ {0,1} chooses statements, Σx = k; y_ij ≥ 0 with Σ_j y_ij = 1 and y_ij ≤
    x_j gives participant i their best chosen statement; t ≤ (1/|g|) Σ_{i∈g} Σ_j U_ij y_ij for
    every group; maximise t (ties between optimal slates: the solver's choice). Participants with
    identical rows and group are merged first.

    Parameters
    ----------
    groups
        A :class:`Groups`, one label per participant (None/"": in no group; such participants
        are ignored), or None to learn groups by :func:`em_groups` (seeded by ``seed``).
    method
        ``"milp"`` (exact), ``"greedy"`` (add the statement raising the minimum most, then swap
        single statements while the minimum rises; proven optimal only when it meets
        ``info["upper_bound"]``, which ``status`` then says), or ``"auto"``: the MILP
        when (merged participants) × statements ≤ ``exact_limit``, else greedy.
    time_limit
        Seconds for the MILP; past it the rule raises ``RuntimeError("undecided: …")``.

    Returns
    -------
    RuleResult
        ``scores`` = [the minimum over groups]; ``info["group_utilities"]`` per group, ``info["groups"]``,
        and ``info["upper_bound"]``, the minimum over groups of the mean favourite-statement utility
        (the optimum is at most this; with ``greedy`` it bounds the gap).
    """
    U = utilities(U, k, allow_nan=False)
    g = _as_groups(groups, U, seed)
    rows = np.flatnonzero(g.labels >= 0)
    if rows.size == 0:
        raise InputError("no participant is in a group", field="groups")
    if method not in ("auto", "milp", "greedy"):
        raise InputError(f"unknown method {method!r}; known: auto, milp, greedy", field="method")
    X = np.hstack([U[rows], g.labels[rows, None].astype(float)])
    uniq, counts = np.unique(X, axis=0, return_counts=True)
    W, lab = uniq[:, :-1], uniq[:, -1].astype(int)
    size = np.bincount(g.labels[rows], minlength=g.count).astype(float)
    present = np.flatnonzero(size > 0)
    info = {"groups": g.names, "group_method": g.method, "group_sizes": size.astype(int).tolist(), "types": len(W)}
    if method == "greedy" or (method == "auto" and W.size > exact_limit):
        slate, status = _greedy_swap(W, counts, lab, present, size, k), "greedy+swap"
    else:
        try:
            slate, status, info["milp_objective"] = _milp(W, counts, lab, present, size, k, time_limit)
        except RuntimeError as exc:  # the time limit: the greedy slate, with its gap to the bound stated
            if method == "milp":
                raise
            slate, status = _greedy_swap(W, counts, lab, present, size, k), "greedy+swap"
            info["milp"] = str(exc)
    per_group = group_utilities(U, slate, g)
    info["group_utilities"] = per_group.tolist()
    # nobody gets more than their favourite statement: a bound on the optimum that shows greedy's gap
    info["upper_bound"] = float(group_utilities(U, range(U.shape[1]), g)[present].min())
    if status == "greedy+swap" and per_group[present].min() >= info["upper_bound"] - 1e-12:
        status = "optimal (greedy+swap meets the upper bound)"
    return RuleResult(slate, "maxmin-groups", k, [float(per_group[present].min())], [], status, info)


def _group_means(W: np.ndarray, counts: np.ndarray, lab: np.ndarray, present: np.ndarray,
                 size: np.ndarray) -> np.ndarray:
    """The (groups × types) matrix that averages a per-type vector within each present group."""
    G = np.zeros((present.size, len(W)))
    for r, gi in enumerate(present):
        types = lab == gi
        G[r, types] = counts[types] / size[gi]
    return G


def _greedy_swap(W, counts, lab, present, size, k: int) -> list[int]:
    G = _group_means(W, counts, lab, present, size)

    def score(best: np.ndarray) -> np.ndarray:  # per column of ``best``: the minimum, then the sum, over groups
        means = G @ best
        return means.min(axis=0) + 1e-9 * means.sum(axis=0)

    slate: list[int] = []
    best = np.full(len(W), -np.inf)
    for _ in range(k):
        s = score(np.maximum(best[:, None], W))
        s[slate] = -np.inf
        j = int(np.argmax(s))
        slate.append(j)
        best = np.maximum(best, W[:, j])
    current = score(W[:, slate].max(axis=1)[:, None])[0]
    improved = True
    while improved:
        improved = False
        for pos in range(k):
            rest = [j for q, j in enumerate(slate) if q != pos]
            base = W[:, rest].max(axis=1) if rest else np.full(len(W), -np.inf)
            s = score(np.maximum(base[:, None], W))
            s[slate] = -np.inf
            j = int(np.argmax(s))
            if s[j] > current + 1e-12:
                slate[pos], current, improved = j, s[j], True
    return sorted(slate)


def _milp(W, counts, lab, present, size, k: int, time_limit):
    t_, m = W.shape
    # columns: x (m), y (t_·m, row-major by type), t (1)
    nx, ny = m, t_ * m
    yi = np.arange(ny)
    rows_A, cols_A, vals = [], [], []
    lo, up = [], []
    r = 0
    rows_A.append(np.zeros(m, dtype=int) + r); cols_A.append(np.arange(m)); vals.append(np.ones(m))
    lo.append(k); up.append(k); r += 1
    # Σ_j y_tj = 1
    rows_A.append(r + yi // m); cols_A.append(nx + yi); vals.append(np.ones(ny))
    lo += [1.0] * t_; up += [1.0] * t_; r += t_
    # y_tj − x_j ≤ 0
    rows_A += [r + yi, r + yi]; cols_A += [nx + yi, yi % m]; vals += [np.ones(ny), -np.ones(ny)]
    lo += [-np.inf] * ny; up += [0.0] * ny; r += ny
    # t − Σ_{types in g} (count/|g|) Σ_j U_tj y_tj ≤ 0
    for gi in present:
        types = np.flatnonzero(lab == gi)
        w = (counts[types] / size[gi])[:, None] * W[types]
        idx = (types[:, None] * m + np.arange(m)[None, :]).ravel()
        rows_A += [np.full(idx.size, r), np.array([r])]
        cols_A += [nx + idx, np.array([nx + ny])]
        vals += [-w.ravel(), np.array([1.0])]
        lo.append(-np.inf); up.append(0.0); r += 1
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows_A), np.concatenate(cols_A))), shape=(r, nx + ny + 1))
    c = np.zeros(nx + ny + 1)
    c[-1] = 1.0
    col_upper = np.concatenate([np.ones(nx + ny), [np.inf]])
    integer = np.concatenate([np.ones(nx, dtype=bool), np.zeros(ny + 1, dtype=bool)])
    x, obj, status = milp_max(c, A, np.array(lo), np.array(up), col_upper, integer, abs_gap=1e-9,
                              time_limit=time_limit)
    return sorted(int(j) for j in np.flatnonzero(x[:m] > 0.5)), status, obj
