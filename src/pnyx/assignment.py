"""The balanced assignment of participants to a slate (the matching of Generative Social Choice).

Fish et al. (arXiv 2309.01291, §2) evaluate a slate of k statements by a *balanced matching*: every
participant is matched to one slate position, each position gets ⌊n/k⌋ or ⌈n/k⌉ participants, and
the sum of the matched utilities is as large as possible (Monroe's assignment, Monroe 1995).

It is a transportation problem with k sinks. :func:`balanced` solves it exactly — all n
participants, no subsampling to a multiple of k — by successive shortest paths (Busacker–Gowen) on
the k-node *exchange graph*: the arc j → l costs the least utility lost by moving one participant
now at position j to position l, so a residual path between positions in the bipartite network
collapses to a path here. Positions with more than ⌊n/k⌋ participants send one along a shortest
path to a position with fewer, or use one of the n mod k extra seats; an extra seat can be handed
over (arcs through the node ``X``). Every augmentation along a shortest path keeps the flow of
minimum cost for its imbalances, so the result is optimal once no position is over-full.

To keep the number of augmentations small the start is the assignment of every participant to
its best position at *prices* p (argmax_j u_ij − p_j), with p the optimal dual prices of the same
problem on a random quarter of the participants (solved the same way, recursively). Participants
with several best positions at those prices (exact ties, e.g. utilities clipped at the top of the
scale, where the optimal prices of tied positions are often equal) are spread over them to even out
the group sizes: otherwise all of them would start at the lowest such position and the paths, each
moving the few participants of least loss, would have to move them back almost one at a time. Any
start of that form is a minimum-cost flow for its own group sizes, so the prices and the spreading
only change the speed.
The returned ``prices`` are the dual certificate: every participant is at a position maximising
u_ij − p_j.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from pnyx.validation import check_slate, check_utilities

_WARM_START_MIN = 4_000
"""Below this many participants the search starts from prices 0 instead of a subsample's prices."""
_RESORT = 256
"""Arrivals at a position kept unsorted before its members are sorted again."""
_TOL = 1e-12
"""Relative tolerance (times the largest |utility|) below which a path is not counted as shorter."""


@dataclass
class BalancedAssignment:
    """An optimal balanced assignment of n participants to the k positions of a slate."""

    assignment: np.ndarray
    """Slate position (0..k−1) of each participant."""
    total: float
    """Sum of the assigned utilities (the objective)."""
    assigned_utilities: np.ndarray
    """Each participant's utility for the statement at their position."""
    sizes: np.ndarray
    """Participants per slate position, each ⌊n/k⌋ or ⌈n/k⌉."""
    status: str = "optimal"
    prices: np.ndarray | None = None
    """Dual prices p per position: each participant's position maximises u_ij − p_j (the certificate)."""
    info: dict[str, Any] = field(default_factory=dict)

    def distribution(self, values: Sequence[float] | None = None) -> dict[float, int]:
        """How many participants got each assigned utility (all values that occur, or the given ones)."""
        vals, counts = np.unique(self.assigned_utilities, return_counts=True)
        found = {float(v): int(c) for v, c in zip(vals, counts)}
        if values is None:
            return found
        return {float(v): found.get(float(v), 0) for v in values}


def balanced(U: np.ndarray, slate: Sequence[int]) -> BalancedAssignment:
    """The utility-maximising balanced assignment of all rows of ``U`` to the positions of ``slate``.

    ``U`` is n × m (participants × candidate statements, finite), ``slate`` lists k column indices;
    position t holds statement ``slate[t]``. A statement listed twice gives two positions (two
    groups) with the same statement. With k > n every participant gets a position of their own and
    k − n positions stay empty (sizes 0 = ⌊n/k⌋).
    """
    U = check_utilities(U)
    cols = check_slate(slate, U.shape[1])
    check_utilities(U, finite_in=cols)
    V = U[:, cols]
    n, k = V.shape
    q, rem = divmod(n, k)
    rng = np.random.default_rng(0)
    a, prices, steps = _solve(V, q, rem, rng)
    assigned = V[np.arange(n), a]
    return BalancedAssignment(
        assignment=a,
        total=float(assigned.sum()),
        assigned_utilities=assigned,
        sizes=np.bincount(a, minlength=k),
        status="optimal",
        prices=prices,
        info={"augmentations": steps, "method": "successive shortest paths on the exchange graph"},
    )


def _solve(V: np.ndarray, q: int, rem: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Assignment, dual prices, and augmentations per level (subsample levels first)."""
    n, k = V.shape
    steps: list[int] = []
    p = np.zeros(k)
    if n >= _WARM_START_MIN:
        sub = np.sort(rng.choice(n, n // 4, replace=False))
        _, p, steps = _solve(V[sub], *divmod(sub.size, k), rng)
    a = _start(V, p)
    a, count = _augment(V, a, q, rem)
    return a, _prices(V, a), steps + [count]


def _start(V: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Each participant at a position maximising u_ij − p_j; those with several such positions (exact
    ties, e.g. utilities clipped at the top of the scale) spread over them to even out the group sizes,
    one tie pattern at a time, largest first (water filling)."""
    R = V - p
    best = R.max(axis=1)
    T = R >= best[:, None]
    a = T.argmax(axis=1)
    k = V.shape[1]
    several = np.flatnonzero(T.sum(axis=1) > 1)
    if several.size == 0 or k > 62:
        return a
    counts = np.bincount(np.delete(a, several), minlength=k)
    code = T[several] @ (np.int64(1) << np.arange(k, dtype=np.int64))
    kinds, inverse, sizes = np.unique(code, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    ends = np.cumsum(sizes)
    for t in np.argsort(-sizes, kind="stable"):
        members = several[order[ends[t] - sizes[t]:ends[t]]]
        S = np.flatnonzero((int(kinds[t]) >> np.arange(k)) & 1)
        give = _water(counts[S], members.size)
        a[members] = np.repeat(S, give)
        counts[S] += give
    return a


def _water(c: np.ndarray, m: int) -> np.ndarray:
    """Non-negative integers summing to m that raise the smallest of the counts c as evenly as possible."""
    low = np.sort(c)
    cum = np.cumsum(low)
    for t in range(1, c.size + 1):
        level = (m + cum[t - 1]) / t
        if t == c.size or level <= low[t]:
            break
    give = np.maximum(np.floor(level) - c, 0).astype(int)
    give[np.lexsort((np.arange(c.size), c + give))[:m - int(give.sum())]] += 1
    return give


class _ExchangeGraph:
    """Arc costs W[j, l] = min over participants i now at j of u_ij − u_il, kept up to date as people move.

    The loss of moving i from j to l depends on i, j and l only, so each position keeps its starting
    members sorted by loss per target (one contiguous row per target; a pointer skips those who left)
    plus a list of those who arrived later, sorted in again once it outgrows about √(members·k).
    """

    def __init__(self, V: np.ndarray, a: np.ndarray):
        self.V, self.a = V, a
        k = V.shape[1]
        self.order: list[np.ndarray] = [np.empty((k, 0), dtype=int)] * k
        self.losses: list[np.ndarray] = [np.empty((k, 0))] * k
        self.ptr = np.zeros((k, k), dtype=int)
        self.arrived: list[np.ndarray] = [np.empty(0, dtype=int) for _ in range(k)]
        self.W = np.full((k, k), np.inf)
        for j in range(k):
            self._sort(j)
            self.update(j)

    def _sort(self, j: int) -> None:
        """Sort position j's current members by loss per target (arrivals become members)."""
        idx = np.flatnonzero(self.a == j)
        L = (self.V[idx, j][:, None] - self.V[idx]).T
        o = np.argsort(L, axis=1, kind="stable")
        self.order[j], self.losses[j] = idx[o], np.take_along_axis(L, o, axis=1)
        self.ptr[j] = 0
        self.arrived[j] = np.empty(0, dtype=int)

    def update(self, j: int) -> None:
        a, k = self.a, self.V.shape[1]
        self.arrived[j] = came = self.arrived[j][a[self.arrived[j]] == j]
        if came.size > max(_RESORT, int(np.sqrt(self.order[j].shape[1] * k))):  # keep the unsorted arrivals short
            self._sort(j)
            came = self.arrived[j]
        row = (self.V[came, j][:, None] - self.V[came]).min(axis=0) if came.size else np.full(k, np.inf)
        order, losses = self.order[j], self.losses[j]
        size, cols, p = order.shape[1], np.arange(k), self.ptr[j]
        if size:
            # advance each target's pointer past the members who left (all targets checked at once;
            # the few pointers that must move scan ahead in chunks)
            left = (p < size) & (a[order[cols, np.minimum(p, size - 1)]] != j)
            for l in np.flatnonzero(left):
                p[l] = self._live(j, l, int(p[l]))
            live = p < size
            row[live] = np.minimum(row[live], losses[cols[live], p[live]])
        row[j] = np.inf
        self.W[j] = row

    def _live(self, j: int, l: int, q: int) -> int:
        """The first position from q on in j's order towards l of a member still at j (or the end)."""
        order, size = self.order[j][l], self.order[j].shape[1]
        while q < size:
            here = self.a[order[q:q + 64]] == j
            if here.any():
                return q + int(here.argmax())
            q += 64
        return size

    def cheapest(self, j: int, l: int, limit: int) -> np.ndarray:
        """Up to ``limit`` participants at j whose move to l costs exactly W[j, l] (sorted members first)."""
        w, p = self.W[j, l], int(self.ptr[j, l])
        order, col = self.order[j][l], self.losses[j][l]
        end = p + int(np.searchsorted(col[p:], w, side="right"))
        found: list[np.ndarray] = []
        taken = 0
        while p < end and taken < limit:  # members in order, skipping those who left
            step = max(64, 2 * (limit - taken))
            chunk = order[p:min(end, p + step)]
            p += step
            chunk = chunk[self.a[chunk] == j]
            found.append(chunk)
            taken += chunk.size
        run = np.concatenate(found)[:limit] if found else np.empty(0, dtype=int)
        came = self.arrived[j]
        came = came[(self.a[came] == j) & (self.V[came, j] - self.V[came, l] == w)]
        if came.size and run.size:  # someone who left and came back can be in both
            came = came[~np.isin(came, run)]
        return np.concatenate([run, np.unique(came)])[:limit]

    def move(self, who: np.ndarray, l: int) -> None:
        self.a[who] = l
        self.arrived[l] = np.concatenate([self.arrived[l], who])


def _augment(V: np.ndarray, a: np.ndarray, q: int, rem: int) -> tuple[np.ndarray, int]:
    """Successive shortest paths from an assignment that is optimal for its own group sizes."""
    n, k = V.shape
    X = k  # node of the n mod k extra seats
    extra = np.zeros(k, dtype=bool)  # position j holds one of the extra seats
    graph = _ExchangeGraph(V, a)
    tol = _TOL * max(1.0, float(np.abs(V).max(initial=0.0)))
    counts = np.bincount(a, minlength=k)
    augmentations = 0
    while True:
        excess = counts - q - extra
        if not (excess > 0).any():
            break
        C = np.full((k + 1, k + 1), np.inf)
        C[:k, :k] = graph.W
        C[:k, X] = np.where(extra, np.inf, 0.0)
        C[X, :k] = np.where(extra, 0.0, np.inf)
        dist = np.append(np.where(excess > 0, 0.0, np.inf), np.inf)
        pred = np.full(k + 1, -1)
        for _ in range(k + 2):  # Bellman–Ford: arc costs may be negative, cycles are not
            via = dist[:, None] + C
            best = via.argmin(axis=0)
            new = via[best, np.arange(k + 1)]
            better = new < dist - tol
            if not better.any():
                break
            dist[better], pred[better] = new[better], best[better]
        else:
            raise RuntimeError("negative cycle in the exchange graph (numerical trouble)")
        free_extra = rem - int(extra.sum())
        sinks = np.append(np.where(excess < 0, dist[:k], np.inf), dist[X] if free_extra > 0 else np.inf)
        t = int(sinks.argmin())
        if not np.isfinite(sinks[t]):
            raise RuntimeError("no augmenting path although a position is over-full")
        path = [t]
        while pred[path[-1]] >= 0:
            path.append(int(pred[path[-1]]))
        path.reverse()
        amount = min(excess[path[0]], free_extra if t == X else -excess[t])
        if X in path:
            amount = 1
        movers = {}
        for u, v in zip(path, path[1:]):
            if X not in (u, v):
                movers[u, v] = graph.cheapest(u, v, amount)
                amount = min(amount, movers[u, v].size)
        for u, v in zip(path, path[1:]):
            if v == X:
                extra[u] = True
            elif u == X:
                extra[v] = False
            else:
                graph.move(movers[u, v][:amount], v)
                counts[u] -= amount
                counts[v] += amount
        for j in {j for arc in movers for j in arc}:
            graph.update(j)
        augmentations += 1
    return a, augmentations


def _prices(V: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Prices p with every participant at an argmax of u_ij − p_j: minus the exchange graph's shortest distances."""
    k = V.shape[1]
    W = np.zeros((k, k))
    for j in range(k):
        group = V[a == j]
        W[j] = (group[:, j][:, None] - group).min(axis=0) if len(group) else np.inf
    np.fill_diagonal(W, 0.0)
    dist = np.zeros(k)
    for _ in range(k):
        new = np.minimum(dist, (dist[:, None] + W).min(axis=0))
        if (new == dist).all():
            break
        dist = new
    return -dist
