"""Shapley attribution (Shapley 1953): who gave a slate statement its support, which sentences of an
opinion drove a rating.

φ_i = Σ_{S ⊆ N∖i} |S|!(n−|S|−1)!/n! · [v(S ∪ i) − v(S)]. Exact by enumerating the 2ⁿ coalitions (up
to ~20 players), else by permutation sampling with a stated standard error. Which value function
to explain is a modelling choice ("True to the Model or True to the Data?", Chen et al., arXiv
2006.16234; Mohammadi, arXiv 2404.01332): here v is always given explicitly, and a model's value
function must be deterministic (an LLM at temperature 0 behind the cache) for the axioms to hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import comb
from typing import Any, Callable, Sequence

import numpy as np

from pnyx.data import InputError
from pnyx.methods.base import METHODS

ValueFunction = Callable[[np.ndarray], np.ndarray]
"""Coalitions as a boolean (c × n) matrix → their values (c,)."""


@dataclass
class ShapleyValues:
    values: np.ndarray
    """φ_i per player."""
    players: list[str]
    method: str
    """``exact`` or ``permutation``."""
    v_all: float
    v_empty: float
    evaluations: int
    """Coalitions evaluated (model calls, for a model's value function)."""
    stderr: np.ndarray | None = None
    """Permutation sampling: the standard error of each φ_i."""
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {"players": self.players, "values": self.values.tolist(), "method": self.method,
               "v_all": self.v_all, "v_empty": self.v_empty, "evaluations": self.evaluations}
        if self.stderr is not None:
            out["stderr"] = self.stderr.tolist()
        return out


def _players(n: int, players: Sequence[str] | None) -> list[str]:
    if players is not None and len(players) != n:
        raise InputError(f"{len(players)} player names for {n} players", field="players")
    return [str(p) for p in players] if players is not None else [str(i) for i in range(n)]


@METHODS.register("shapley", input="value function", cite="Shapley 1953; arXiv 2006.16234; arXiv 2404.01332")
def shapley_exact(v: ValueFunction, n: int, players: Sequence[str] | None = None, *, max_players: int = 20) -> ShapleyValues:
    """Exact Shapley values of the game v over n players, by evaluating all 2ⁿ coalitions once.

    Raises
    ------
    InputError
        n < 1 or n > ``max_players``.

    Examples
    --------
    The glove game, one left glove (player 0) and two right gloves:

    >>> glove = lambda S: np.minimum(S[:, :1].sum(1), S[:, 1:].sum(1)).astype(float)
    >>> np.round(shapley_exact(glove, 3).values * 6, 6).tolist()
    [4.0, 1.0, 1.0]
    """
    if not 1 <= n <= max_players:
        raise InputError(f"exact Shapley values need 1..{max_players} players, got {n}", field="n")
    codes = np.arange(2 ** n)
    S = ((codes[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
    vals = np.asarray(v(S), dtype=float)
    if vals.shape != (2 ** n,):
        raise ValueError(f"the value function returned shape {vals.shape} for {2 ** n} coalitions")
    size = S.sum(axis=1)
    weight = np.array([1.0 / (n * comb(n - 1, s)) for s in range(n)])
    phi = np.zeros(n)
    for i in range(n):
        without = ~S[:, i]
        phi[i] = (weight[size[without]] * (vals[codes[without] | (1 << i)] - vals[without])).sum()
    return ShapleyValues(phi, _players(n, players), "exact", float(vals[-1]), float(vals[0]), 2 ** n)


def shapley_permutation(v: ValueFunction, n: int, players: Sequence[str] | None = None, *,
                        permutations: int = 200, seed: int = 0) -> ShapleyValues:
    """Shapley values by averaging marginal contributions over random orders (Castro et al. 2009).

    Each order is evaluated as its n + 1 prefixes in one call of v; efficiency holds exactly for
    every order, so Σφ = v(N) − v(∅). ``stderr`` is the standard error of each mean.
    """
    if n < 1 or permutations < 2:
        raise InputError("need at least one player and two permutations", field="permutations")
    rng = np.random.default_rng(seed)
    contrib = np.zeros((permutations, n))
    v_all = v_empty = 0.0
    for t in range(permutations):
        order = rng.permutation(n)
        prefixes = getattr(v, "prefixes", None)  # a game may value all prefixes of an order at once
        if prefixes is not None:
            vals = np.asarray(prefixes(order), dtype=float)
        else:
            S = np.tril(np.ones((n + 1, n), dtype=bool), -1)[:, np.argsort(order)]
            vals = np.asarray(v(S), dtype=float)
        contrib[t, order] = np.diff(vals)
        v_empty, v_all = float(vals[0]), float(vals[-1])
    return ShapleyValues(contrib.mean(axis=0), _players(n, players), "permutation", v_all, v_empty,
                         permutations * (n + 1), contrib.std(axis=0, ddof=1) / np.sqrt(permutations),
                         {"permutations": permutations, "seed": seed})


def _structure(n: int, groups: Sequence[Sequence[int]]) -> list[np.ndarray]:
    parts = [np.asarray(g, dtype=int) for g in groups if len(g)]
    flat = np.sort(np.concatenate(parts)) if parts else np.array([], dtype=int)
    if not np.array_equal(flat, np.arange(n)):
        raise InputError("the groups must partition the players 0..n−1", field="groups")
    return parts


def owen_exact(v: ValueFunction, n: int, groups: Sequence[Sequence[int]], players: Sequence[str] | None = None, *,
               max_players: int = 16) -> ShapleyValues:
    """Exact Owen values (Owen 1977) of v for the coalition structure ``groups`` (a partition of 0..n−1).

    φ_i = Σ_{R ⊆ groups∖{g}} Σ_{T ⊆ g∖{i}} |R|!(G−|R|−1)!/G! · |T|!(|g|−|T|−1)!/|g|! ·
    [v(∪R ∪ T ∪ i) − v(∪R ∪ T)] for i in group g: the expected marginal contribution over the orders
    in which every group's members come together. With singleton groups, or one group, they are the
    Shapley values; the values of a group's members add up to the group's Shapley value in the
    quotient game.
    """
    if not 1 <= n <= max_players:
        raise InputError(f"exact Owen values need 1..{max_players} players, got {n}", field="n")
    parts = _structure(n, groups)
    codes = np.arange(2 ** n)
    vals = np.asarray(v(((codes[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)), dtype=float)
    G = len(parts)
    gmask = [int(np.sum(1 << p)) for p in parts]
    phi = np.zeros(n)
    for gi, part in enumerate(parts):
        others = [q for q in range(G) if q != gi]
        for i in part:
            rest = [int(j) for j in part if j != i]
            for r in range(2 ** len(others)):
                R = [others[b] for b in range(len(others)) if r >> b & 1]
                base = sum(gmask[q] for q in R)
                wr = 1.0 / (G * comb(G - 1, len(R)))
                for t in range(2 ** len(rest)):
                    T = sum(1 << rest[b] for b in range(len(rest)) if t >> b & 1)
                    wt = 1.0 / (len(part) * comb(len(part) - 1, bin(t).count("1")))
                    phi[i] += wr * wt * (vals[base | T | (1 << int(i))] - vals[base | T])
    return ShapleyValues(phi, _players(n, players), "owen-exact", float(vals[-1]), float(vals[0]), 2 ** n,
                         info={"groups": [p.tolist() for p in parts]})


def owen_permutation(v: ValueFunction, n: int, groups: Sequence[Sequence[int]], players: Sequence[str] | None = None,
                     *, permutations: int = 200, seed: int = 0) -> ShapleyValues:
    """Owen values by sampling orders that keep each group together (a random order of the groups, a
    random order within each), with standard errors; efficiency holds for every order."""
    parts = _structure(n, groups)
    if permutations < 2:
        raise InputError("need at least two permutations", field="permutations")
    rng = np.random.default_rng(seed)
    contrib = np.zeros((permutations, n))
    v_all = v_empty = 0.0
    prefixes = getattr(v, "prefixes", None)
    for t in range(permutations):
        order = np.concatenate([rng.permutation(parts[q]) for q in rng.permutation(len(parts))])
        if prefixes is not None:
            vals = np.asarray(prefixes(order), dtype=float)
        else:
            vals = np.asarray(v(np.tril(np.ones((n + 1, n), dtype=bool), -1)[:, np.argsort(order)]), dtype=float)
        contrib[t, order] = np.diff(vals)
        v_empty, v_all = float(vals[0]), float(vals[-1])
    return ShapleyValues(contrib.mean(axis=0), _players(n, players), "owen-permutation", v_all, v_empty,
                         permutations * (n + 1), contrib.std(axis=0, ddof=1) / np.sqrt(permutations),
                         {"permutations": permutations, "seed": seed})


def support_game(U: np.ndarray, statement: int, members: Sequence[np.ndarray] | None = None,
                 alternatives: Sequence[int] | None = None) -> ValueFunction:
    """The support game of one statement j: v(S) = Σ_{i∈S} U_ij − max_{a} Σ_{i∈S} U_ia, clipped at 0.

    A coalition's value is how far its total utility for j exceeds its best alternative (default:
    every other column), so participants who prefer j to what else they could back create its
    support, and a coalition that would rather have something else gives none. Players are
    participants, or groups of them (``members``: the rows of each player).
    """
    U = np.nan_to_num(np.asarray(U, dtype=float), nan=0.0)
    alt = [a for a in (range(U.shape[1]) if alternatives is None else alternatives) if a != statement]
    if not alt:
        raise InputError("the support game needs at least one alternative statement", field="alternatives")
    if members is None:
        P = U[:, [statement] + list(alt)]
    else:
        P = np.stack([U[np.asarray(r, dtype=int)][:, [statement] + list(alt)].sum(axis=0) for r in members])

    def lead(tot: np.ndarray) -> np.ndarray:
        return np.maximum(tot[:, 0] - tot[:, 1:].max(axis=1), 0.0)

    def v(S: np.ndarray) -> np.ndarray:
        return lead(S.astype(float) @ P)

    def prefixes(order: np.ndarray) -> np.ndarray:
        return lead(np.vstack([np.zeros((1, P.shape[1])), np.cumsum(P[order], axis=0)]))

    v.prefixes = prefixes  # type: ignore[attr-defined]
    return v


def sentence_game(sentences: Sequence[str], rate: Callable[[str], float], joiner: str = " ") -> ValueFunction:
    """The game over an opinion's sentences: v(S) = rate(the sentences in S, in their order, joined).

    ``rate`` is e.g. an LLM's predicted rating of a statement for that text, at temperature 0
    behind the cache (one call per coalition; v(∅) rates the empty text).
    """
    sentences = list(sentences)
    memo: dict[tuple[int, ...], float] = {}

    def v(S: np.ndarray) -> np.ndarray:
        out = np.empty(len(S))
        for r, row in enumerate(S):
            key = tuple(np.flatnonzero(row).tolist())
            if key not in memo:
                memo[key] = float(rate(joiner.join(sentences[i] for i in key)))
            out[r] = memo[key]
        return out

    return v


def explain_statement(U: np.ndarray, statement: int, *, groups: Sequence[Any] | None = None,
                      alternatives: Sequence[int] | None = None, exact_limit: int = 12,
                      permutations: int = 200, seed: int = 0, owen: bool = False) -> ShapleyValues:
    """Who gave ``statement`` its support: Shapley values of :func:`support_game` over participants,
    or over groups (one label per participant; None: in no group) — exact up to ``exact_limit``
    players, else permutation sampling. With ``owen=True`` and ``groups``: Owen values of the
    participants for that coalition structure (participants in no group form one more group)."""
    if owen:
        if groups is None:
            raise InputError("Owen values need groups", field="groups")
        names = list(dict.fromkeys(groups))
        parts = [[i for i, g in enumerate(groups) if g == q] for q in names]
        n = len(groups)
        v = support_game(U, statement, None, alternatives)
        if n <= exact_limit:
            return owen_exact(v, n, parts)
        return owen_permutation(v, n, parts, permutations=permutations, seed=seed)
    if groups is not None:
        names = list(dict.fromkeys(g for g in groups if g is not None))
        labels = np.array([None if g is None else names.index(g) for g in groups], dtype=object)
        members = [np.flatnonzero(labels == q) for q in range(len(names))]
        players = [str(x) for x in names]
    else:
        members, players = None, [str(i) for i in range(np.shape(U)[0])]
    v = support_game(U, statement, members, alternatives)
    n = len(players)
    if n <= exact_limit:
        return shapley_exact(v, n, players)
    return shapley_permutation(v, n, players, permutations=permutations, seed=seed)
