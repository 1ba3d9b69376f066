"""The rounds and audit at scale, each shortcut checked against the plain per-column computation on small data
with mass ties (utilities on a coarse grid and clipped at the top of the scale, as predictions are): the GSC
round's candidate ties decided from sums over the kept rows instead of forming each tied column's group, the
selection among rows kept above a sampled threshold, the near-ties of the audit, the binned bound of the BJR
sweep, the extractive generator's counts over row blocks and the audit's reductions."""

from __future__ import annotations

import numpy as np
import pytest

import pnyx.axioms.balanced as balanced
import pnyx.blocks
import pnyx.queries.extractive as extractive
import pnyx.rules.gsc as gsc
from pnyx.audit import _informative, _predicted, _sources
from pnyx.data import Judgment, Participant, Profile, Statement
from pnyx.rules import compute
from pnyx.rules.base import Tie
from pnyx.rules.gsc import _top, distinctive_support, gsc_round, near_ties, round_sizes, transposed


def tied_utilities(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """Low-rank utilities on a grid of 0.5, clipped at 4: many columns share the top score and many rows the cut."""
    U = np.clip(np.round((2.5 + rng.normal(size=(n, 2)) @ rng.normal(size=(2, m))) * 2) / 2, 0, 4)
    return U.astype(np.float32) if rng.random() < 0.5 else U


def reference_round(U, unmatched, r, *, tolerance=0.0, tiebreak="least-served", repeated=None, served=None,
                    seen=None, pool=None):
    """One GSC round the plain way: every column scored over the unmatched rows, every near-tie's group formed
    with :func:`_top` (participants at the cut by their place in the order of fewest alternatives, then row),
    and its distinctive support and served mean taken over that group."""
    n, m = U.shape
    rows = np.flatnonzero(unmatched)
    scores = np.partition(U[rows], rows.size - r, axis=0)[rows.size - r].astype(float)
    if pool is not None:
        scores[np.setdiff1d(np.arange(m), pool)] = -np.inf
    best = scores.max()
    near = np.flatnonzero(scores >= best - tolerance - 1e-9 * (1 + abs(best)))
    columns = pool if pool is not None else np.arange(m)
    means = U[:, columns].sum(axis=1, dtype=np.float64) / columns.size
    place = np.empty(n, dtype=np.int64)
    place[np.lexsort((np.arange(n), means))] = np.arange(n)
    groups = {int(c): _top(U[rows, c], rows, r, place.__getitem__) for c in near}
    by_content = tiebreak != "lowest" and near.size > 1
    first_seen = by_content and tiebreak == "seen-first" and served is None
    distinct = {c: distinctive_support(U, g, c) for c, (g, _) in groups.items()} if by_content else {}
    value = np.zeros(n) if served is None else np.asarray(served, float)
    least = ({c: float(value[g].mean()) for c, (g, _) in groups.items()}
             if by_content and tiebreak in ("least-served", "seen-first") and not first_seen else {})
    most = {c: float(seen[c]) for c in groups} if first_seen else {}
    fresh = np.ones(m, bool) if repeated is None else ~np.asarray(repeated, bool)
    c = (max(groups, key=lambda j: (bool(fresh[j]), most.get(j, 0.0), -round(least.get(j, 0.0), 9),
                                    round(distinct[j], 9), -j)) if by_content else int(near[0]))
    return c, scores, groups[c], near.tolist(), distinct, least


@pytest.mark.parametrize("tiebreak", ["least-served", "distinctive", "seen-first", "lowest"])
def test_round_from_kept_rows_equals_the_per_column_groups(tiebreak):
    """Candidate and participant ties everywhere: the same column, matched rows (in order), tie records and scores
    as forming every tied column's group; the criteria values equal up to float rounding."""
    rng = np.random.default_rng(len(tiebreak))
    for trial in range(60):
        n, m = int(rng.integers(5, 300)), int(rng.integers(1, 9))
        U = tied_utilities(rng, n, m)
        unmatched = rng.random(n) < rng.uniform(0.3, 1.0)
        unmatched[rng.integers(n)] = True
        r = int(rng.integers(1, unmatched.sum() + 1))
        slate = rng.choice(m, int(rng.integers(0, m)), replace=False)
        served = U[:, slate].max(axis=1) if slate.size else None
        repeated = np.isin(np.arange(m), slate) if trial % 3 == 0 else None
        seen = rng.integers(0, 4, m).astype(float)
        tolerance = (0.0, 0.0, 0.5)[trial % 3]
        step = gsc_round(U, unmatched, r, tolerance=tolerance, tiebreak=tiebreak, repeated=repeated, served=served,
                         seen=seen)
        c, scores, (group, at_cut), near, distinct, least = reference_round(
            U, unmatched, r, tolerance=tolerance, tiebreak=tiebreak, repeated=repeated, served=served, seen=seen)
        assert step.candidate == c, trial
        np.testing.assert_array_equal(step.scores, scores)
        assert step.matched.tolist() == group.tolist(), trial
        assert sorted(step.distinctive) == sorted(distinct) and sorted(step.served) == sorted(least), trial
        for j in distinct:
            assert step.distinctive[j] == pytest.approx(distinct[j], abs=1e-5), trial
        for j in least:
            assert step.served[j] == pytest.approx(least[j], abs=1e-9), trial
        candidates = [x for x in step.ties if x.kind == "candidates"]
        participants = [x for x in step.ties if x.kind == "participants"]
        assert [x.tied for x in candidates] == ([near] if len(near) > 1 else []), trial
        assert [(x.tied, x.chosen, x.value) for x in participants] == (
            [(at_cut.tied, at_cut.chosen, at_cut.value)] if at_cut else []), trial


def test_rows_at_the_cut_are_ranked_over_the_rounds_pool():
    """With columns off the pool, the order of fewest alternatives averages over the pool only (as before)."""
    rng = np.random.default_rng(3)
    for trial in range(40):
        n, m = int(rng.integers(10, 120)), int(rng.integers(3, 8))
        U = tied_utilities(rng, n, m)
        unmatched = np.ones(n, bool)
        pool = np.sort(rng.choice(m, int(rng.integers(2, m + 1)), replace=False))
        r = int(rng.integers(1, n + 1))
        scores = np.full(m, -np.inf)
        tops = gsc._Tops(U, transposed(U), unmatched)
        scores[pool] = tops.scores(pool, r)[0]
        step = gsc._decide(tops, r, scores, 0.0, "least-served", None, served=U[:, :1].max(axis=1), pool=pool)
        c, _, (group, _), _, _, _ = reference_round(U, unmatched, r, served=U[:, :1].max(axis=1), pool=pool)
        assert (step.candidate, step.matched.tolist()) == (c, group.tolist()), trial


@pytest.mark.parametrize("sample, spare", [(1, 0.0), (3, 0.0), (20, 0.5), (20, 3.0), (10_000, 1.0)])
def test_scores_among_rows_kept_above_a_guessed_threshold_are_exact(monkeypatch, sample, spare):
    """Whatever the sample the thresholds come from, however many participants are matched since the rows were
    kept: the r-th largest utility among the unmatched, or (below a floor) an upper bound on it."""
    monkeypatch.setattr(gsc, "_SAMPLE", sample)
    rng = np.random.default_rng(sample)
    n, m = 600, 6
    U = tied_utilities(rng, n, m)
    unmatched = np.ones(n, bool)
    tops = gsc._Tops(U, transposed(U), unmatched, spare=spare)
    for r in (50, 50, 40, 40, 3, 3):
        live = np.flatnonzero(unmatched)
        truth = -np.sort(-U[live], axis=0)[r - 1]
        floor = float(np.median(truth))
        got, exact = tops.scores(np.arange(m), r, floor)
        np.testing.assert_array_equal(got[exact], truth[exact])
        assert (got[~exact] >= truth[~exact]).all() and (got[~exact] < floor).all()
        unmatched[rng.choice(live, live.size // 4, replace=False)] = False


def test_lazy_rule_with_sampled_thresholds_and_spare_rows_equals_round_by_round(monkeypatch):
    """The rule keeps rows between rounds and skips re-reading columns bounded below the best: the same slate,
    scores, matching and tie records as k plain rounds, whatever the sample size and spare."""
    rng = np.random.default_rng(11)
    for trial in range(12):
        n, m = int(rng.integers(200, 900)), int(rng.integers(4, 10))
        U = tied_utilities(rng, n, m)
        k = int(rng.integers(2, m + 1))
        plain = []
        unmatched, available, served = np.ones(n, bool), np.arange(m), None
        for t, r in enumerate(round_sizes(n, k)):
            c, _, (group, _), _, _, _ = reference_round(U[:, available], unmatched, r, served=served)
            plain.append(int(available[c]))
            unmatched[group] = False
            served = U[:, plain].max(axis=1)
            available = available[available != available[c]]
        for sample, spare in ((25, 0.0), (25, 2.0), (5000, 1.0)):
            monkeypatch.setattr(gsc, "_SAMPLE", sample)
            monkeypatch.setattr(gsc, "_SPARE", spare)
            assert compute("gsc", U, k).slate == plain, (trial, sample, spare)


@pytest.mark.parametrize("chunk", [1, 3, 8])
def test_columns_only_counted_are_never_near_ties(monkeypatch, chunk):
    """The rule scores a few columns, then only counts each other column's unmatched rows reaching the near-tie
    range (:func:`gsc._reaching`) and scores those with at least r: the same slate, scores, matching and tie
    records as rounds that score every column, in float32 and float64, with mass ties or none, exact or with a
    tolerance, however few columns come before the count, and in passes over many blocks of rows."""
    monkeypatch.setattr(gsc, "_CHUNK", chunk)
    if chunk == 3:
        monkeypatch.setattr(pnyx.blocks, "BLOCK_ENTRIES", 1000)
    rng = np.random.default_rng(29)
    for trial in range(8):
        n, m = int(rng.integers(150, 500)), int(rng.integers(12, 40))
        U = tied_utilities(rng, n, m) if trial % 2 else (rng.random((n, m)) * 4).astype(np.float32)
        k, tolerance = int(rng.integers(3, 10)), (0.0, 0.3)[trial % 3 == 2]
        result = compute("gsc", U, k, tolerance=tolerance)
        unmatched, available, served = np.ones(n, bool), np.arange(m), None
        for t, r in enumerate(round_sizes(n, k)):
            step = gsc_round(U[:, available], unmatched, r, tolerance=tolerance, served=served)
            assert result.slate[t] == available[step.candidate] and result.scores[t] == step.score, (trial, t)
            assert (result.info["assignment"][step.matched] == t).all()
            mine = [x for x in result.ties if x.round == t]
            assert [(x.kind, x.value) for x in mine] == [(y.kind, y.value) for y in step.ties]
            for x, y in zip(mine, step.ties):
                if x.kind == "candidates":
                    assert x.tied == available[y.tied].tolist() and x.criteria.keys() == y.criteria.keys()
            unmatched[step.matched] = False
            served = U[:, result.slate[:t + 1]].max(axis=1)
            available = available[available != available[step.candidate]]


def test_counts_at_a_floor_float32_cannot_hold_miss_no_row():
    """A floor between two float32 values is compared in float32: every row at or above it is counted, in the
    column asked about and no other."""
    U = np.array([[1.1, 1.2, 0.5, 1.1], [0.0, 4.0, 4.0, 4.0]], dtype=np.float32).T
    everyone, scratch = np.ones(4, bool), np.empty((4, 2), bool)
    for value in U[:, 0].tolist():
        for floor in (np.nextafter(value, -np.inf), value, np.nextafter(value, np.inf)):
            count = gsc._reaching(U, np.array([0]), everyone, floor, scratch)[0]
            assert count >= np.count_nonzero(U[:, 0].astype(float) >= floor)
    below = float(np.nextafter(np.float32(1.1), np.float32(0)))
    assert gsc._reaching(U, np.array([0]), everyone, below, scratch)[0] == 3
    assert gsc._reaching(U, np.array([1, 0]), np.array([True, False, True, False]), 1.0, scratch).tolist() == [1, 1]


def test_the_rule_reads_only_the_columns_it_scores(monkeypatch):
    """The rule over a fixed pool copies a column of U only when it scores it (no copy of U.T is made): on the
    scale benchmark's kind of profile, most columns are only counted, never read, and the slate is that of rounds
    given U.T whole."""
    rng = np.random.default_rng(37)
    X, Y = rng.normal(size=(10000, 3)).astype(np.float32), rng.normal(size=(200, 3)).astype(np.float32)
    U = np.clip(2 + 0.5 * X @ Y.T, 0, 4)
    made: list[gsc._Tops] = []
    Tops = gsc._Tops
    monkeypatch.setattr(gsc, "_Tops", lambda *a, **kw: made.append(Tops(*a, **kw)) or made[-1])
    result = compute("gsc", U, 10)
    assert len(made) == 1
    assert 0 < (made[0].slot >= 0).sum() < U.shape[1] // 2
    unmatched, available, served = np.ones(U.shape[0], bool), np.arange(U.shape[1]), None
    W = gsc.transposed(U)
    for t, r in enumerate(round_sizes(U.shape[0], 10)):
        step = gsc_round(U, unmatched, r, served=served, columns=W, pool=available)
        assert result.slate[t] == available[step.candidate]
        unmatched[step.matched] = False
        served = U[:, result.slate[:t + 1]].max(axis=1)
        available = available[available != available[step.candidate]]


def test_rows_are_ranked_alike_before_and_after_every_row_is_summed():
    """The order of fewest alternatives sums only the rows asked about until a quarter of the rows have been, then
    every row once: the places are the same either way, and those of the definition (mean over the pool, then row)."""
    rng = np.random.default_rng(31)
    U = tied_utilities(rng, 400, 9)
    pool = np.array([0, 2, 3, 5, 8])
    few = rng.choice(400, 30, replace=False)
    mean = U[:, pool].astype(float).mean(axis=1)
    expected = np.argsort(np.lexsort((few, mean[few])))
    rank = gsc._fewest_alternatives(U, pool)
    before = rank(few)
    rank(np.arange(400))  # now every row's sum is kept
    np.testing.assert_array_equal(before, rank(few))
    np.testing.assert_array_equal(before, expected)
    across = gsc._RowSums()  # the rule's rounds: sums over all columns once, minus the columns off the pool
    for _ in range(2):
        rank = gsc._fewest_alternatives(U, pool, across)
        np.testing.assert_array_equal(rank(few), expected)
        rank(np.arange(400))
    assert across.sums is not None


def test_rule_records_the_same_ties_as_its_rounds():
    rng = np.random.default_rng(4)
    U = tied_utilities(rng, 400, 8)
    result = compute("gsc", U, 5)
    unmatched, available, served = np.ones(400, bool), np.arange(8), None
    for t, r in enumerate(round_sizes(400, 5)):
        step = gsc_round(U[:, available], unmatched, r, served=served)
        mine = [x for x in result.ties if x.round == t]
        assert [x.kind for x in mine] == [x.kind for x in step.ties]
        for x, y in zip(mine, step.ties):
            if x.kind == "candidates":
                assert x.tied == [int(available[j]) for j in y.tied] and x.chosen == int(available[y.chosen])
            else:
                assert (x.tied, x.chosen, x.value) == (y.tied, y.chosen, y.value)
        unmatched[step.matched] = False
        served = U[:, result.slate[:t + 1]].max(axis=1)
        available = available[available != available[step.candidate]]


def test_near_ties_read_each_column_at_its_score():
    """The audit's near-ties: the distinctive support of each column within the band, as from its group; scores
    off the true ones (a bound, an estimate) only change which columns count as near."""
    rng = np.random.default_rng(8)
    for trial in range(50):
        n, m = int(rng.integers(5, 200)), int(rng.integers(2, 8))
        U = tied_utilities(rng, n, m)
        unmatched = rng.random(n) < 0.7
        unmatched[0] = True
        r = int(rng.integers(1, unmatched.sum() + 1))
        rows = np.flatnonzero(unmatched)
        truth = np.partition(U[rows], rows.size - r, axis=0)[rows.size - r].astype(float)
        scores = truth + (rng.normal(0, 0.3, m) if trial % 2 else 0.0)
        pool = np.sort(rng.choice(m, int(rng.integers(1, m + 1)), replace=False))
        band = float(rng.uniform(0, 1.5))
        full = np.full(m, -np.inf)
        full[pool] = scores[pool]
        near = np.flatnonzero(full >= full.max() - band - 1e-9 * (1 + abs(full.max())))
        got = near_ties(U, unmatched, r, scores, band, pool)
        assert sorted(got) == (near.tolist() if near.size > 1 else []), trial
        place = np.arange(n)
        for c in got:
            group, _ = _top(U[rows, c], rows, r, place.__getitem__)
            assert got[c] == pytest.approx(distinctive_support(U, group, c), abs=1e-5), trial


def test_columns_given_or_made_give_the_same_round():
    rng = np.random.default_rng(2)
    U = tied_utilities(rng, 300, 6)
    unmatched = rng.random(300) < 0.8
    a = gsc_round(U, unmatched, 40, served=U[:, 0])
    b = gsc_round(U, unmatched, 40, served=U[:, 0], columns=transposed(U))
    assert (a.candidate, a.matched.tolist(), a.ties) == (b.candidate, b.matched.tolist(), b.ties)
    with pytest.raises(Exception, match="columns"):
        gsc_round(U, unmatched, 40, columns=np.ascontiguousarray(U))


def test_binned_bound_is_at_least_every_columns_largest_blocking_coalition():
    rng = np.random.default_rng(6)
    for trial in range(120):
        n, m = int(rng.integers(1, 300)), int(rng.integers(1, 6))
        U = tied_utilities(rng, n, m) if trial % 2 else (rng.random((n, m)) * 4).astype(np.float32)
        if trial % 5 == 0:
            U[rng.random((n, m)) < 0.2] = np.nan
        assigned = U[np.arange(n), rng.integers(0, m, n)].astype(float)
        d = (0.0, 0.3, 1.0)[trial % 3]
        sizes, _ = balanced.blocking_coalitions(U, assigned, d)
        bound = balanced._overlap_bounds(U, assigned + d)
        assert (bound >= sizes).all(), trial
        if trial % 5:
            assert (bound <= (assigned[:, None] + d < U).sum(axis=0)).all(), trial  # never looser than the count


def test_observed_r_support_over_row_blocks(monkeypatch):
    """Blocks of rows smaller than the profile and than the 255-row groups the counts are added in: the same
    r-support as the selection over the rows × columns copy."""
    monkeypatch.setattr(pnyx.blocks, "BLOCK_ENTRIES", 600)
    rng = np.random.default_rng(1)
    n, m = 700, 5
    values = rng.integers(-1, 2, (n, m))
    seen = rng.random((n, m)) < 0.5
    profile = Profile.from_judgments(
        [Participant(f"p{i}") for i in range(n)], [Statement(f"s{j}", f"statement {j}") for j in range(m)],
        [Judgment(f"p{i}", f"s{j}", int(values[i, j])) for i in range(n) for j in range(m) if seen[i, j]], "vote")
    for cols in (np.arange(m), np.array([4, 1, 2])):
        rows = np.sort(rng.choice(n, 500, replace=False))
        grid = np.ix_(rows, cols)
        U = np.where(profile.observed[grid], profile.utilities[grid], np.nan)
        for r in (1, 30, 500):
            support, means = extractive.observed_r_support(profile, rows, cols, r)
            np.testing.assert_allclose(support, extractive.r_support(U, r))
            np.testing.assert_allclose(means, extractive.column_means(U, -np.inf))
    support, means = extractive.observed_r_support(profile, np.arange(n), np.array([], dtype=int), 3)
    assert support.shape == means.shape == (0,)  # no column within the word budget


def test_audit_reductions_equal_the_copies_they_replace():
    rng = np.random.default_rng(9)
    for trial in range(30):
        n, m = int(rng.integers(1, 40)), int(rng.integers(1, 6))
        V = rng.integers(0, 5, (n, m)).astype(float)
        V[rng.random((n, m)) < (0.0, 0.3, 1.0)[trial % 3]] = np.nan
        if trial % 4 == 0:
            V[~np.isnan(V)] = 2.0
        finite = V[np.isfinite(V)]
        assert _informative(V) == bool(finite.size and np.ptp(finite) > 0), trial
        profile = Profile.from_judgments(
            [Participant(f"p{i}") for i in range(n)], [Statement(f"s{j}", f"s {j}") for j in range(m)],
            [Judgment(f"p{i}", f"s{j}", float(V[i, j])) for i in range(n) for j in range(m) if not np.isnan(V[i, j])],
            "rating")
        predicted = (rng.random((n, m)) < 0.3) & ~profile.observed
        profile.utilities[predicted] = 1.0
        profile.provenance[predicted] = len(profile.provenance_labels)
        profile.provenance_labels.append("cf")
        cols = sorted(rng.choice(m, int(rng.integers(1, m + 1)), replace=False).tolist())
        assert _predicted(profile) == int((~profile.observed & ~np.isnan(profile.utilities)).sum())
        assert _sources(profile, cols) == sorted({profile.provenance_labels[c] for c in
                                                  np.unique(profile.provenance[:, cols]) if c >= 0})


def test_tie_records_are_plain_data():
    """What the rounds record stays JSON-ready lists and floats (no numpy scalars from the kept-row arrays)."""
    rng = np.random.default_rng(5)
    U = tied_utilities(rng, 200, 5).astype(np.float32)
    step = gsc_round(U, np.ones(200, bool), 40)
    for x in step.ties:
        assert isinstance(x, Tie)
        assert all(type(v) is int for v in (x.tied if isinstance(x.tied, list) else []))
        if x.kind == "participants":
            assert all(type(v) is int for v in x.chosen)


def test_a_round_over_a_pool_equals_the_round_over_its_columns():
    """gsc_round(U, …, pool=P) decides as gsc_round(U[:, P], …) — the same choice, matching, scores and tie
    records in pool positions — and the columns outside the pool may be unknown."""
    rng = np.random.default_rng(21)
    for trial in range(40):
        n, m = int(rng.integers(10, 150)), int(rng.integers(3, 9))
        U = tied_utilities(rng, n, m)
        pool = np.sort(rng.choice(m, int(rng.integers(1, m + 1)), replace=False))
        unmatched = rng.random(n) < 0.8
        unmatched[rng.integers(n)] = True
        r = int(rng.integers(1, unmatched.sum() + 1))
        repeated = rng.random(pool.size) < 0.3
        served = U[:, pool[0]].copy()
        tiebreak = ["least-served", "distinctive", "seen-first", "lowest"][trial % 4]
        seen = rng.integers(0, 5, pool.size).astype(float) if tiebreak == "seen-first" else None
        options = dict(tolerance=float(rng.choice([0.0, 0.3])), tiebreak=tiebreak, repeated=repeated,
                       served=None if trial % 3 == 0 else served, seen=seen)
        plain = gsc_round(U[:, pool], unmatched, r, **options)
        holed = U.copy()
        holed[:, np.setdiff1d(np.arange(m), pool)] = np.nan
        pooled = gsc_round(holed, unmatched, r, pool=pool, **options)
        assert (pooled.candidate, pooled.score, pooled.matched.tolist()) == (
            plain.candidate, plain.score, plain.matched.tolist()), trial
        np.testing.assert_array_equal(pooled.scores, plain.scores)
        assert [(t.kind, t.tied, t.chosen, t.criteria) for t in pooled.ties] == [
            (t.kind, t.tied, t.chosen, t.criteria) for t in plain.ties], trial
        assert (pooled.distinctive, pooled.served, pooled.seen) == (plain.distinctive, plain.served, plain.seen)
