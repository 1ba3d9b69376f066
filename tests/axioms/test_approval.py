"""Approval axioms: verdicts agree with abcvoting's property checks, and every witness is a real violation."""

from __future__ import annotations


import numpy as np
import pytest
from abcvoting import properties
from abcvoting.output import WARNING, output
from abcvoting.preferences import Profile as AbcProfile
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.axioms import AXIOMS, check
from pnyx.axioms.base import approvals
from pnyx.data import InputError

output.set_verbosity(WARNING)

APPROVAL_AXIOMS = ["jr", "pjr", "ejr", "ejr+", "core"]


def verify_witness(axiom: str, U: np.ndarray, slate: list[int], w, threshold: float = 3.0) -> None:
    """Re-check a witness against the definition, independently of the code that found it."""
    A = approvals(U, threshold)
    n, k = A.shape[0], len(slate)
    S = np.asarray(w.coalition)
    assert S.size > 0 and np.unique(S).size == S.size
    sat = A[np.ix_(S, slate)].sum(axis=1)
    if axiom == "core":
        T = w.statements
        assert len(T) * n <= S.size * k
        assert (A[np.ix_(S, T)].sum(axis=1) > sat).all()
        return
    ell = int(w.threshold)
    assert 1 <= ell <= k and S.size * k >= ell * n  # |S| ≥ ℓ·n/k
    common = w.statements
    assert A[np.ix_(S, common)].all()
    if axiom in ("jr", "ejr+"):
        assert ell == 1 or axiom == "ejr+"
        assert common == [w.statement]
        if axiom == "ejr+":
            assert w.statement not in slate
        assert (sat < ell).all()
    elif axiom == "ejr":
        assert len(common) >= ell and (sat < ell).all()
    elif axiom == "pjr":
        assert len(common) >= ell
        assert A[np.ix_(S, slate)].any(axis=0).sum() < ell


def abc_verdict(axiom: str, A: np.ndarray, slate: list[int]) -> bool:
    profile = AbcProfile(A.shape[1])
    profile.add_voters([np.flatnonzero(row).tolist() for row in A])
    algorithm = {} if axiom in ("jr", "ejr+") else {"algorithm": "brute-force"}
    return properties.check(axiom, profile, slate, **algorithm)


@st.composite
def small_elections(draw):
    """Two parties with noisy ballots; half the time the slate is the least-approved columns, so that
    violations are common (about one in four) rather than rare."""
    n = draw(st.integers(2, 8))
    m = draw(st.integers(2, 5))
    k = draw(st.integers(1, min(m, 3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    party = rng.integers(0, 2, n)
    A = (rng.random((2, m)) < 0.5)[party] ^ (rng.random((n, m)) < 0.15)
    U = np.where(A, rng.choice([3.0, 4.0], (n, m)), rng.choice([0.0, 1.0, 2.0], (n, m)))
    if draw(st.booleans()):
        slate = np.argsort(A.sum(axis=0) + rng.random(m))[:k]
    else:
        slate = rng.choice(m, size=k, replace=False)
    return U, sorted(slate.tolist())


@pytest.mark.parametrize("axiom", APPROVAL_AXIOMS)
@settings(max_examples=80, derandomize=True, deadline=None)
@given(election=small_elections())
def test_agrees_with_abcvoting(axiom, election):
    U, slate = election
    result = check(axiom, U, slate)
    assert result.satisfied == abc_verdict(axiom, approvals(U), slate)
    assert (result.witness is None) == result.satisfied
    if result.witness is not None:
        verify_witness(axiom, U, slate, result.witness)


def test_violations_are_found_and_witnessed():
    """A profile where the majority bloc takes the whole slate: every axiom fails, for the minority."""
    # 6 participants love 0..2, 4 love 3..4; slate {0, 1, 2}: the 4 (≥ 1·10/3 and ≥ 1 seat) get nothing.
    U = np.zeros((10, 5))
    U[:6, :3] = 4
    U[6:, 3:] = 4
    slate = [0, 1, 2]
    for axiom in APPROVAL_AXIOMS:
        r = check(axiom, U, slate)
        assert not r.satisfied, axiom
        verify_witness(axiom, U, slate, r.witness)
        assert set(r.witness.coalition) <= set(range(6, 10))
    assert check("ejr", U, slate).witness.threshold == 1  # 4 < 2·10/3: the minority deserves one seat
    assert set(check("ejr", U, slate).witness.statements) <= {3, 4}
    assert all(check(a, U, [0, 1, 3]).satisfied for a in APPROVAL_AXIOMS)


def test_ejr_needs_two_common_candidates_pjr_counts_the_union():
    """EJR fails but PJR holds: the group's union covers ℓ slate members, no member has ℓ alone."""
    # n = 4, k = 2: the 4 participants share candidates {2, 3} (2-cohesive, 4 ≥ 2·4/2);
    # participants 0,1 approve slate member 0, participants 2,3 approve slate member 1.
    A = np.zeros((4, 4), dtype=bool)
    A[:, 2:] = True
    A[:2, 0] = A[2:, 1] = True
    U = np.where(A, 4.0, 0.0)
    assert not check("ejr", U, [0, 1]).satisfied
    assert check("pjr", U, [0, 1]).satisfied
    assert check("ejr", U, [0, 1]).witness.threshold == 2


def test_threshold_and_nan_define_approvals():
    U = np.array([[2.0, 3.0], [2.0, 3.0], [2.0, 3.5]])
    assert approvals(U).tolist() == [[False, True]] * 3
    # k = 1, n/k = 3: all three approve column 1 and nobody approves the slate {0}.
    assert not check("jr", U, [0]).satisfied
    assert check("jr", U, [0], threshold=2.0).satisfied  # now everyone approves the slate
    U[2, 1] = np.nan  # unknown is not an approval: only two left
    assert check("jr", U, [0]).satisfied


def test_registry_and_input_errors():
    assert set(AXIOMS) == {"jr", "pjr", "ejr", "ejr+", "core", "bjr", "cbjr"}
    U = np.zeros((3, 3))
    with pytest.raises(InputError, match="unknown axiom"):
        check("fjr", U, [0])
    with pytest.raises(InputError, match="out of range"):
        check("jr", U, [3])
    with pytest.raises(InputError, match="repeats"):
        check("jr", U, [1, 1])
    with pytest.raises(InputError, match="empty"):
        check("jr", U, [])


def test_ejr_exact_at_scale_finds_a_planted_violation():
    """A planted 2-cohesive bloc hidden in noise at n = 600: JR holds (the bloc has slate member 0), so only
    the integer program for ℓ = 2 can find it."""
    rng = np.random.default_rng(7)
    n, m, k = 600, 30, 6
    A = rng.random((n, m)) < 0.08
    bloc = rng.choice(n, size=220, replace=False)  # ≥ 2·n/k = 200
    A[bloc] = False
    A[np.ix_(bloc, [0, 20, 21])] = True
    slate = list(range(k))
    U = np.where(A, 4.0, 0.0)
    assert check("jr", U, slate).satisfied
    for axiom in ("ejr", "pjr"):
        r = check(axiom, U, slate)
        assert not r.satisfied and r.witness.threshold == 2 and r.info["integer_programs"] >= 1
        verify_witness(axiom, U, slate, r.witness)
        assert set(r.witness.coalition) <= set(bloc.tolist())
    assert not check("ejr+", U, slate).satisfied
    assert check("ejr", U, [0, 1, 2, 3, 20, 21]).satisfied


def test_time_limit_turns_a_search_into_an_error():
    """A resampling profile (central ballot of 10, φ = 0.5) whose core program needs seconds of branching."""
    rng = np.random.default_rng(0)
    central = np.zeros(50, dtype=bool)
    central[rng.choice(50, 10, replace=False)] = True
    A = np.where(rng.random((1000, 50)) < 0.5, rng.random((1000, 50)) < 0.2, central[None, :])
    slate = np.random.default_rng(1).choice(50, 10, replace=False).tolist()
    with pytest.raises(RuntimeError, match="undecided"):
        check("core", np.where(A, 4.0, 0.0), slate, time_limit=0.01)
