"""Does a slate portray the population? Held-out measures of slates chosen on vote data.

The protocol (issue 8; ``benchmarks/portrayal.py``, ``benchmarks/process.py``): hold out a seeded
share of the participants (:func:`split_participants`), choose a slate of k statements from the
other participants' votes, and measure on the held-out people's *observed* votes:

* :func:`coverage` — the share who agree with at least one slate statement, among those who voted
  (agree, pass or disagree) on at least one slate statement;
* :func:`jr_gap` — the largest group of held-out people who all agree with one statement left off
  the slate and with no slate statement, as a multiple of n_held_out / k (the justified
  representation of Aziz, Brill, Conitzer, Elkind, Freeman & Walsh, "Justified representation in
  approval-based committee voting", 2017, on observed agree votes: ≥ 1 would be a failure);
* :func:`portrayal` — how much the slate tells about the rest of a person's opinions: the person's
  votes on the slate statements select their nearest training participants, whose majority predicts
  the person's agree/disagree votes on every other statement; the gain is that accuracy minus the
  per-statement majority's on the same votes. A slate everyone agrees with selects no one in
  particular and scores about 0; a slate that separates opinion groups scores higher.

Baseline slates on the training votes: :func:`top_by_agree_count`, :func:`top_by_agree_rate` and
Polis-style :func:`group_representatives`.

Votes are in the data's own coding (Polis exports): 1 agree, 0 pass, −1 disagree, NaN not seen —
``profile.observed_values()`` of a vote profile. ``pool`` (where a function takes one) lists the
columns that count as statements (e.g. all but the meta statements); default all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pnyx.data import InputError
from pnyx.validation import check_k, check_slate

NEIGHBOURS = 20
"""Nearest training participants whose majority predicts a held-out person's votes."""


def _votes(votes: object, name: str = "votes") -> np.ndarray:
    V = np.asarray(votes, dtype=float)
    if V.ndim != 2:
        raise InputError(f"{name} must be a 2-D participants × statements matrix, got shape {V.shape}", field=name)
    bad = ~np.isnan(V) & ~np.isin(V, (-1.0, 0.0, 1.0))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputError(f"vote of participant {i} on statement {j} is {V[i, j]:g}; votes are 1 agree, 0 pass, "
                         "-1 disagree (NaN not seen)", field=name)
    return V


def _pool(pool: Sequence[int] | None, m: int) -> np.ndarray:
    return np.arange(m) if pool is None else check_slate(pool, m, unique=True, name="pool")


def split_participants(n: int, *, fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices, each sorted: the first round(fraction·n) rows of a permutation seeded
    with ``seed`` are held out (``numpy.random.default_rng(seed).permutation(n)``).

    >>> split_participants(5, fraction=0.4, seed=1)[1].size
    2
    """
    if not 0 < fraction < 1:
        raise InputError(f"the held-out fraction must be between 0 and 1, got {fraction!r}", field="fraction")
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(fraction * n))
    return np.sort(order[cut:]), np.sort(order[:cut])


# -- baseline slates from (training) votes ---------------------------------------------------------------------

def top_by_agree_count(votes: np.ndarray, k: int, *, pool: Sequence[int] | None = None) -> list[int]:
    """The k statements of ``pool`` with the most agree votes (ties: lowest column)."""
    V = _votes(votes)
    cols = _pool(pool, V.shape[1])
    k = check_k(k, m=cols.size)
    agrees = (V[:, cols] == 1).sum(axis=0)
    return cols[np.argsort(-agrees, kind="stable")[:k]].tolist()


def top_by_agree_rate(votes: np.ndarray, k: int, *, min_votes: int = 10, pool: Sequence[int] | None = None) -> list[int]:
    """The k statements with the largest agree share among the votes cast (passes count as cast);
    statements with fewer than ``min_votes`` votes rank last (ties: lowest column)."""
    V = _votes(votes)
    cols = _pool(pool, V.shape[1])
    k = check_k(k, m=cols.size)
    cast = (~np.isnan(V[:, cols])).sum(axis=0)
    rate = np.where(cast >= min_votes, (V[:, cols] == 1).sum(axis=0) / np.maximum(cast, 1), -1.0)
    return cols[np.argsort(-rate, kind="stable")[:k]].tolist()


GROUP_SCORES = ("difference", "repness")
SEATS = ("round-robin", "proportional")


def group_representatives(votes: np.ndarray, groups: Sequence[object], k: int, *, score: str = "difference",
                          seats: str = "round-robin", pool: Sequence[int] | None = None) -> list[int]:
    """Polis-style representative statements of each opinion group, as a slate of k.

    Per group g, with add-one smoothed agree rates pa = (agrees in g + 1) / (votes in g + 2) and
    pa_out, the same over everyone outside g (participants with group ``None`` are outside every
    group), statements are ranked by

    * ``score="difference"``: pa − pa_out (how much more the group agrees than the rest);
    * ``score="repness"``: Polis's agree representativeness pa · (pa / pa_out), statements with
      pa ≤ ½ last (Small, Bjorkegren, Erkkilä, Shaw & Megill, "Polis: scaling deliberation by mapping
      high-dimensional opinion spaces", 2021; ``repness`` in Polis's math).

    Places: ``seats="round-robin"`` — groups by decreasing size (then name) take turns, each taking
    its best statement not yet on the slate; ``seats="proportional"`` — seats in proportion to group
    size (largest remainder), each group's top statements taken group after group (by name).

    Parameters
    ----------
    votes
        n × m votes (1, 0, −1, NaN).
    groups
        One group label (e.g. Polis's ``group-id``) or ``None`` per row.
    k
        Slate size.

    Returns
    -------
    list of int
        Columns of the slate, k of them.

    Raises
    ------
    InputError
        Malformed votes, groups of the wrong length, no group at all, or an unknown ``score``/``seats``.
    """
    V = _votes(votes)
    cols = _pool(pool, V.shape[1])
    k = check_k(k, m=cols.size)
    if score not in GROUP_SCORES or seats not in SEATS:
        raise InputError(f"score must be one of {GROUP_SCORES} and seats one of {SEATS}", field="score")
    labels = np.array(["" if g is None else str(g) for g in groups], dtype=object)
    if labels.shape != (V.shape[0],):
        raise InputError(f"need one group per participant ({V.shape[0]}), got {labels.size}", field="groups")
    names = sorted({g for g in labels if g})
    if not names:
        raise InputError("no participant has a group", field="groups")
    agree = (V[:, cols] == 1).astype(float)
    cast = (~np.isnan(V[:, cols])).astype(float)
    sizes = np.array([(labels == g).sum() for g in names])
    ranked: dict[str, list[int]] = {}
    for g in names:
        inside = labels == g
        pa = (agree[inside].sum(0) + 1) / (cast[inside].sum(0) + 2)
        pa_out = (agree[~inside].sum(0) + 1) / (cast[~inside].sum(0) + 2)
        rep = pa - pa_out if score == "difference" else np.where(pa > 0.5, pa * pa / pa_out, -np.inf)
        ranked[g] = cols[np.argsort(-rep, kind="stable")].tolist()
    slate: list[int] = []
    if seats == "round-robin":
        turns = [names[i] for i in np.lexsort((np.arange(len(names)), -sizes))]
        while len(slate) < k:
            for g in turns:
                while ranked[g] and ranked[g][0] in slate:
                    ranked[g].pop(0)
                if ranked[g] and len(slate) < k:
                    slate.append(ranked[g].pop(0))
        return slate
    quota = k * sizes / sizes.sum()
    share = np.floor(quota).astype(int)
    share[np.argsort(-(quota - share), kind="stable")[: k - share.sum()]] += 1
    for g, want in zip(names, share):
        for j in ranked[g]:
            if want == 0:
                break
            if j not in slate:
                slate.append(j)
                want -= 1
    return slate


# -- held-out measures ----------------------------------------------------------------------------------------

def coverage(votes: np.ndarray, slate: Sequence[int]) -> tuple[float, int]:
    """(share, evaluated): the share of the participants who voted on at least one slate statement that
    agree with at least one; NaN if nobody voted on one."""
    V = _votes(votes)
    S = check_slate(slate, V.shape[1], unique=True)
    voted = ~np.isnan(V[:, S]).all(axis=1)
    covered = (V[:, S] == 1).any(axis=1)
    return (float(covered[voted].mean()) if voted.any() else float("nan")), int(voted.sum())


def jr_gap(votes: np.ndarray, slate: Sequence[int], k: int | None = None, *,
           pool: Sequence[int] | None = None) -> tuple[int, float]:
    """(size, gap): the largest number of participants who all agree with one statement of ``pool`` off
    the slate and with no slate statement, and that size as a multiple of n / k (k defaults to the
    slate's length). A gap ≥ 1 is a justified-representation failure on the observed votes."""
    V = _votes(votes)
    S = check_slate(slate, V.shape[1], unique=True)
    k = S.size if k is None else check_k(k)
    agree = V == 1
    uncovered = ~agree[:, S].any(axis=1)
    off = np.setdiff1d(_pool(pool, V.shape[1]), S)
    largest = int(agree[np.ix_(uncovered, off)].sum(axis=0).max()) if off.size and uncovered.any() else 0
    return largest, largest / (V.shape[0] / k)


@dataclass
class Portrayal:
    """How well a slate's votes predict the held-out people's other votes (see :func:`portrayal`)."""

    accuracy: float
    """Share of the held-out agree/disagree votes off the slate that the neighbours' majority predicts."""
    baseline_accuracy: float
    """The same for the per-statement majority of all training participants."""
    votes: int
    """Held-out votes predicted."""
    people: int
    """Held-out participants evaluated (a vote on a slate statement, an agree/disagree vote on another)."""
    neighbours: int

    @property
    def gain(self) -> float:
        return self.accuracy - self.baseline_accuracy


def _majority(tally: np.ndarray, fallback: np.ndarray | float) -> np.ndarray:
    """+1/−1 by the sign of a tally of agree (+1) and disagree (−1) votes; ``fallback`` where it is 0."""
    return np.where(tally > 0, 1, np.where(tally < 0, -1, fallback))


def portrayal(train: np.ndarray, test: np.ndarray, slate: Sequence[int], *, neighbours: int = NEIGHBOURS,
              pool: Sequence[int] | None = None) -> Portrayal:
    """Portrayal of the held-out people ``test`` by a slate chosen on ``train`` (both n × m votes, same columns).

    For each held-out person h who voted on at least one slate statement:

    1. similarity to each training participant t = Σ over slate statements of v_h · v_t, votes coded
       +1 agree, −1 disagree, 0 pass or not seen (agreements minus disagreements on the slate);
    2. h's neighbours: the ``neighbours`` most similar training participants, everyone tied with the
       last of them included (all of them if there are fewer);
    3. for every other statement of ``pool`` that h voted agree or disagree on, the prediction is the
       neighbours' majority of agree/disagree votes on it; where they are tied or silent, the
       per-statement majority.

    The baseline predicts every such vote by the per-statement majority of all training participants'
    agree/disagree votes (ties and unvoted statements: the majority over all their agree/disagree
    votes, agree if tied). Votes are pooled over people (micro-average).

    Returns
    -------
    Portrayal
        Both accuracies on the same votes; ``gain`` is their difference. NaN accuracies if no vote is
        left to predict.

    Examples
    --------
    Two opinion groups: the slate's first statement separates them, the second everyone agrees with.

    >>> T = np.array([[1, 1, 1], [1, 1, 1], [-1, 1, -1]], float)
    >>> H = np.array([[-1, 1, -1]], float)
    >>> p = portrayal(T, H, [0, 1], neighbours=1)
    >>> p.accuracy, p.baseline_accuracy
    (1.0, 0.0)
    """
    T, H = _votes(train, "train"), _votes(test, "test")
    if T.shape[1] != H.shape[1]:
        raise InputError(f"train and test must have the same statements, got {T.shape[1]} and {H.shape[1]} columns",
                         field="test")
    S = check_slate(slate, T.shape[1], unique=True)
    if isinstance(neighbours, bool) or not isinstance(neighbours, (int, np.integer)) or neighbours < 1:
        raise InputError(f"neighbours must be a positive integer, got {neighbours!r}", field="neighbours")
    others = np.setdiff1d(_pool(pool, T.shape[1]), S)
    decisive_t = np.nan_to_num(T, nan=0.0)  # passes are already 0
    decisive_h = np.nan_to_num(H, nan=0.0)
    voted = ~np.isnan(H[:, S]).all(axis=1)
    hs = np.flatnonzero(voted)
    targets = decisive_h[np.ix_(hs, others)]
    asked = targets != 0
    if not asked.any() or T.shape[0] == 0:
        return Portrayal(float("nan"), float("nan"), 0, 0, int(neighbours))
    overall = 1.0 if decisive_t[:, others].sum() >= 0 else -1.0
    column_majority = _majority(decisive_t[:, others].sum(axis=0), overall)
    similarity = decisive_h[np.ix_(hs, S)] @ decisive_t[:, S].T
    if neighbours >= T.shape[0]:
        chosen = np.ones_like(similarity, dtype=bool)
    else:
        cut = -np.partition(-similarity, neighbours - 1, axis=1)[:, neighbours - 1]
        chosen = similarity >= cut[:, None]
    predicted = _majority(chosen.astype(float) @ decisive_t[:, others], column_majority[None, :])
    hit = (predicted == targets)[asked]
    base = (np.broadcast_to(column_majority, targets.shape) == targets)[asked]
    return Portrayal(float(hit.mean()), float(base.mean()), int(asked.sum()), int(asked.any(axis=1).sum()),
                     int(neighbours))


@dataclass
class HeldOut:
    """The held-out measures of one slate (:func:`held_out`)."""

    coverage: float
    evaluated: int
    """Held-out people who voted on at least one slate statement (coverage's denominator)."""
    largest_uncovered: int
    jr_gap: float
    portrayal: Portrayal


def held_out(train: np.ndarray, test: np.ndarray, slate: Sequence[int], k: int | None = None, *,
             neighbours: int = NEIGHBOURS, pool: Sequence[int] | None = None) -> HeldOut:
    """:func:`coverage`, :func:`jr_gap` and :func:`portrayal` of ``slate`` on the held-out votes ``test``."""
    share, evaluated = coverage(test, slate)
    largest, gap = jr_gap(test, slate, k, pool=pool)
    return HeldOut(share, evaluated, largest, gap, portrayal(train, test, slate, neighbours=neighbours, pool=pool))
